"""`make bench` finds every module in benchmarks/; each must import and offer run()."""

import importlib
import pkgutil

import benchmarks


def test_every_benchmark_module_imports_and_has_a_run_function():
    names = [m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_")]

    assert {"upload", "hazard_log", "cscr", "dashboard", "audit_writes", "body_limits", "navigation"} <= set(names)
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        assert callable(getattr(module, "run", None)), name
