"""`python -m bench [NAME ...]` runs the named benchmarks (default: all) and updates docs/PERFORMANCE.md."""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = ("memory", "engine", "api")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", choices=[*BENCHMARKS, []], help="benchmarks to run (default: all)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds per comparison")
    args = parser.parse_args()
    for name in args.names or BENCHMARKS:
        importlib.import_module(f"bench.{name}").run(rounds=args.rounds)


if __name__ == "__main__":
    main()
