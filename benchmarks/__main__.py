"""Run every benchmark module (or those named) and print one report.

python -m benchmarks            # all modules
python -m benchmarks upload     # only benchmarks/upload.py
python -m benchmarks --strict   # exit 1 when a target is missed
"""

import argparse
import importlib
import os
import pkgutil
import sys
import time

import django


def _format(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("modules", nargs="*", help="module names in benchmarks/ (default: all)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    args = parser.parse_args(argv)

    # The test settings: no production secrets needed, fast password hashing for benchmarks that sign in.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()

    import benchmarks

    available = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_"))
    selected = args.modules or available
    unknown = sorted(set(selected) - set(available))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}")

    # A throwaway database (test_<name>), like the test suite's: benchmarks seed large volumes and
    # must never write into the database `make run` uses.
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        return _run(selected, strict=args.strict)
    finally:
        teardown_databases(databases, verbosity=0)


def _run(selected: list[str], *, strict: bool) -> int:
    missed = 0
    for name in selected:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"\n== {name}: {(module.__doc__ or '').strip().splitlines()[0]}", flush=True)
        started = time.perf_counter()
        measures = module.run()
        for m in measures:
            value = _format(m.value)
            print(f"  {m.name:<58} {value:>12} {m.unit:<6} {m.target:<14} {m.verdict}")
            missed += m.ok is False
        print(f"  ({time.perf_counter() - started:.1f} s)")
    print(f"\n{missed} target(s) missed" if missed else "\nall targets met")
    return 1 if strict and missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
