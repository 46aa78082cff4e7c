"""Realistic volumes for benchmarks and demos: `seed_scale --deployments N` (see
`dashboards.seeding.scale` for what it writes). Each run adds new organisations and deployments.
Refuses to run with DEBUG off, like seed_demo."""

import random

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from dashboards.seeding.scale import ScaleSeeder


class Command(BaseCommand):
    help = "Create realistic volumes of organisations, deployments, evidence and hazard logs (DEBUG only)."

    def add_arguments(self, parser):
        parser.add_argument("--deployments", type=int, default=500, help="how many deployments to create")
        parser.add_argument("--seed", type=int, default=2026, help="random seed (same seed, same shape of data)")

    def handle(self, *args, deployments: int, seed: int, **options):
        if not settings.DEBUG and not settings.TESTING:
            raise CommandError("seed_scale fills the database with generated data; it runs only with DEBUG=true.")
        if deployments < 1:
            raise CommandError("--deployments must be at least 1.")
        started = timezone.now()
        with transaction.atomic():
            counts = ScaleSeeder(deployments, random.Random(seed)).run()  # noqa: S311  test data, not a secret
        seconds = (timezone.now() - started).total_seconds()
        summary = ", ".join(f"{n} {name}" for name, n in counts.items())
        self.stdout.write(f"Created {summary} in {seconds:.1f} s.")
