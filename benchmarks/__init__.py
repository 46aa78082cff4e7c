"""Benchmarks, run by `make bench` (`python -m benchmarks [module ...]`).

Each module in this package has `run() -> list[Measure]`; `benchmarks.__main__` finds the modules,
runs them and prints one report. Report ratios measured in the same run rather than absolute
times, which vary between machines and with load.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Measure:
    """One figure of a benchmark; `ok` is None for a figure reported without a target."""

    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "MISS")
