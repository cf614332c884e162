"""Run every ``bench_*.py`` module (or the ones named) and print their reports."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import benchmarks


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    found = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    chosen = [
        n
        for n in found
        if not args.names or n.removeprefix("bench_") in args.names or n in args.names
    ]
    if not chosen:
        print(f"no benchmark matches {args.names}; have {found}", file=sys.stderr)
        return 2
    for name in chosen:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"# {name}: {module.__doc__.strip().splitlines()[0] if module.__doc__ else ''}")
        module.run(quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
