"""Settings for the dashboard benchmark's second server: the dashboards' cached content switched
off, so every request computes everything (the module's name starts with "_", so `python -m
benchmarks` does not take it for a benchmark)."""

from tests.settings import *  # noqa: F403

DASHBOARD_CACHE_SECONDS = 0
