"""Generated data at scale for benchmarks and demos: `ScaleSeeder` (scale.py), run by `seed_scale`."""
