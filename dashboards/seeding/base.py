"""What every part of the scale seeder shares: the run's random generator and clock, the rows
written so far that later parts build on, and bulk writing with a count per kind of row."""

import random
from datetime import date, datetime

from onboarding.models import Deployment, Requirement
from onboarding.models.deployments import STAGE_ORDER

BATCH = 2000


class SeedingState:
    rng: random.Random
    now: datetime
    today: date
    counts: dict[str, int]
    national: object
    reviewer: object
    people: dict  # {(organisation id, role): user}
    versions: list
    deployments: list[Deployment]
    paths: dict[int, list[str]]  # {deployment id: the stages it went through}
    requirements: list[Requirement]
    matrix: object
    library: object

    def _bulk(self, model, objects: list, label: str | None = None) -> list:
        created = model.objects.bulk_create(objects, batch_size=BATCH)
        if label:
            self.counts[label] = self.counts.get(label, 0) + len(created)
        return created

    def _progress(self, deployment: Deployment) -> int:
        """How far the deployment got: the index in STAGE_ORDER of the furthest stage reached."""
        return max(STAGE_ORDER.index(s) for s in self.paths[deployment.pk] if s in STAGE_ORDER)
