"""Benchmarks, run by `make bench` (`python -m benchmarks [module ...]`).

Each module in this package has `run() -> list[Measure]`; `benchmarks.__main__` finds the modules,
runs them and prints one report. Report ratios measured in the same run rather than absolute
times, which vary between machines and with load.
"""

import threading
from dataclasses import dataclass

import psutil


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


class PeakRss:
    """Samples this process's RSS in a thread; `growth` is the peak above the level at start."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.start_rss = self.peak_rss = 0

    def __enter__(self) -> "PeakRss":
        self.start_rss = self.peak_rss = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak_rss - self.start_rss
