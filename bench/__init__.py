"""Benchmarks: each compares against a baseline run side by side in the same run and writes docs/."""
