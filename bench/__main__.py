"""`python -m bench [NAME ...]` runs the named benchmarks (default: all) and updates docs/PERFORMANCE.md.

A benchmark is a module of this package with `run(rounds: int)` that writes its own section through
`bench.report.write_section`; add its name to BENCHMARKS.
"""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = (
    "memory",
    "engine",
    "layers",
    "api",
    "hostile",
    "v3_wait",
    "loudness",
    "budget",
    "scale",
    "size720",
    "freeplan",
    "library",
    "reframe",
    "probe",
    "matrix",
    "captions",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds per comparison")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)} (choose from {', '.join(BENCHMARKS)})")
    for name in args.names or BENCHMARKS:
        importlib.import_module(f"bench.{name}").run(rounds=args.rounds)


if __name__ == "__main__":
    main()
