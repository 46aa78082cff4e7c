"""Realistic volumes for benchmarks and demos, written in bulk (the `seed_scale` command).

Creates deploying organisations across the NHS England regions, suppliers with products and
versions, and N deployments at varied stages with their stage history, sites and permissions;
evidence with revisions and reviews across the framework's requirements (`evidence.py`); hazard
logs with scored hazards, decisions on transferred supplier hazards, sign-offs (current and
superseded) and go-live authorisations (`safety.py`); and the weekly snapshots behind the go-live
trend. Organisations, people, CSO profiles and product versions come from the builders that
`seed_demo` shares (`onboarding.seeding`).

Rows are written with bulk_create, bypassing the services (and so the audit trail, which records
people's actions, not generated data); the rows are those the services would make, and the
dashboards' summary rows of the new deployments are refreshed once at the end.
"""

import math
import random
from collections import defaultdict
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from dashboards.seeding.evidence import EvidenceSeeding
from dashboards.seeding.names import PLACES, PRODUCT_KINDS, SNAPSHOT_WEEKS, STAGE_WEIGHTS, SUPPLIER_NAMES, TRUST_STYLES
from dashboards.seeding.safety import SafetySeeding
from dashboards.services import week_start_of, weekly_snapshot_record
from dashboards.summary import summaries_refresh
from nir_portal.accounts.models import CSOProfile, Membership, Organisation, Role
from onboarding import seeding
from onboarding.models import (
    Deployment,
    DeploymentSite,
    DeploymentStageChange,
    Product,
    ProductVersion,
    Requirement,
)
from onboarding.models.deployments import STAGE_ORDER
from safety.services import safety_reference_data_load

DOMAIN = "scale.example.nhs.uk"


class ScaleSeeder(EvidenceSeeding, SafetySeeding):
    """Writes `deployments` new deployments and everything around them, in bulk; `run()` returns
    how many rows of each kind it wrote."""

    def __init__(self, deployments: int, rng: random.Random):
        self.n = deployments
        self.rng = rng
        self.now = timezone.now()
        self.today = timezone.localdate(self.now)
        self.counts: dict[str, int] = {}

    # --- helpers --------------------------------------------------------------------------------

    def _ods_codes(self, prefix: str, count: int) -> list[str]:
        taken = set(Organisation.objects.filter(ods_code__startswith=prefix).values_list("ods_code", flat=True))
        codes, number = [], 1
        while len(codes) < count:
            code = f"{prefix}{number:05d}"
            if code not in taken:
                codes.append(code)
            number += 1
        return codes

    # --- the run --------------------------------------------------------------------------------

    def run(self) -> dict[str, int]:
        self.framework = seeding.seed_framework()
        self.matrix, self.library = safety_reference_data_load()
        self.requirements = list(Requirement.objects.filter(framework=self.framework).select_related("area"))
        self._organisations()
        self._people()
        self._products()
        self._deployments()
        self._hazards()
        self._evidence()
        self._sign_offs()
        self._snapshots()
        # The rows above bypass the services, so the events that keep the summaries in step.
        summaries_refresh(deployment_ids=[d.pk for d in self.deployments])
        return self.counts

    def _organisations(self) -> None:
        national = Organisation.objects.filter(kind=Organisation.Kind.NATIONAL).order_by("pk").first()
        if national is None:
            national = seeding.organisation(
                self._ods_codes("X", 1)[0], "NHS England NIR onboarding team", Organisation.Kind.NATIONAL
            )
            national.save()
        self.national = national
        n_orgs = max(2, math.ceil(self.n / 2.5))
        n_suppliers = max(3, min(len(SUPPLIER_NAMES), self.n // 40))
        regions = Organisation.Region.values
        deploying = []
        for index, code in enumerate(self._ods_codes("S", n_orgs)):
            place = PLACES[index % len(PLACES)]
            if self.rng.random() < 0.15:
                name, kind = f"{place} Imaging Network {code[-3:]}", Organisation.Kind.IMAGING_NETWORK
            else:
                name, kind = self.rng.choice(TRUST_STYLES).format(place), Organisation.Kind.TRUST
            deploying.append(seeding.organisation(code, name, kind, self.rng.choice(regions)))
        suppliers = [
            seeding.organisation(code, f"{SUPPLIER_NAMES[i % len(SUPPLIER_NAMES)]} Ltd", Organisation.Kind.SUPPLIER)
            for i, code in enumerate(self._ods_codes("V", n_suppliers))
        ]
        self.deploying = self._bulk(Organisation, deploying, "deploying organisations")
        self.suppliers = self._bulk(Organisation, suppliers, "suppliers")

    def _people(self) -> None:
        """A few people per organisation, in their role groups as membership_grant would put them."""
        User = get_user_model()
        unusable = make_password(None)  # hashed once for the whole batch
        seats = []
        for organisation in self.deploying:
            seats += [
                (organisation, Role.DEPLOYMENT_LEAD),
                (organisation, Role.CSO),
                (organisation, Role.EXECUTIVE_APPROVER),
            ]
        for organisation in self.suppliers:
            seats += [(organisation, Role.SUPPLIER_ASSURANCE_LEAD), (organisation, Role.SUPPLIER_CSO)]
        reviewer_email = seeding.seed_email("scale_reviewer", self.national.ods_code, DOMAIN)
        reviewer = User.objects.filter(email=reviewer_email).first()
        if reviewer is None:
            reviewer = seeding.person(reviewer_email, "Scale national reviewer", password_hash=unusable)
            reviewer.save()
            seats_national = [(self.national, Role.NATIONAL_REVIEWER, reviewer)]
        else:
            seats_national = []
        users = self._bulk(
            User,
            [
                seeding.person_in_role(role, organisation, DOMAIN, password_hash=unusable)
                for organisation, role in seats
            ],
            "people",
        )
        placed = [(organisation, role, user) for (organisation, role), user in zip(seats, users, strict=True)]
        placed += seats_national
        self._bulk(Membership, [Membership(user=u, organisation=o, role=r) for o, r, u in placed], "memberships")
        self._bulk(
            CSOProfile,
            [
                seeding.cso_profile(u, f"RA{u.pk:06d}", today=self.today)
                for _o, r, u in placed
                if r in (Role.CSO, Role.SUPPLIER_CSO)
            ],
        )
        self.people = {(o.pk, r): u for o, r, u in placed}
        self.reviewer = reviewer

    def _products(self) -> None:
        products = []
        for supplier in self.suppliers:
            for kind in self.rng.sample(PRODUCT_KINDS, 2):
                products.append(Product(supplier=supplier, name=f"{supplier.name.removesuffix(' Ltd')} {kind}"))
        products = self._bulk(Product, products, "products")
        first = self._bulk(
            ProductVersion,
            [
                seeding.product_version(
                    p, "1.0", released_on=self.today - timedelta(days=400), status=ProductVersion.Status.ASSURED
                )
                for p in products
            ],
        )
        second = self._bulk(
            ProductVersion,
            [
                seeding.product_version(v.product, "2.0", released_on=self.today - timedelta(days=120), previous=v)
                for v in first
            ],
        )
        self.versions = first + second
        self.counts["product versions"] = len(self.versions)

    def _stage_path(self, stage: str) -> list[str]:
        if stage in STAGE_ORDER:
            return STAGE_ORDER[: STAGE_ORDER.index(stage) + 1]
        paused_at = self.rng.choice([Deployment.Stage.TECHNICAL, Deployment.Stage.LIVE])
        return [*STAGE_ORDER[: STAGE_ORDER.index(paused_at) + 1], stage]

    def _deployments(self) -> None:
        stages, weights = list(STAGE_WEIGHTS), list(STAGE_WEIGHTS.values())
        used: dict[int, set[int]] = defaultdict(set)
        planned = []
        for index in range(self.n):
            organisation = self.deploying[index % len(self.deploying)]
            choices = [v for v in self.versions if v.pk not in used[organisation.pk]]
            version = self.rng.choice(choices)
            used[organisation.pk].add(version.pk)
            path = self._stage_path(self.rng.choices(stages, weights)[0])
            opened = self.now - timedelta(days=self.rng.randint(20 + 25 * len(path), 60 + 70 * len(path)))
            last = self.now - timedelta(days=self.rng.randint(1, 120), hours=self.rng.randint(0, 23))
            last = max(last, opened + timedelta(days=len(path)))
            step = (last - opened) / max(1, len(path) - 1)
            times = [opened + step * i for i in range(len(path))]
            planned.append((organisation, version, path, times))
        deployments = self._bulk(
            Deployment,
            [
                Deployment(
                    organisation=o,
                    product_version=v,
                    name=f"{o.name.split(' ')[0]} NIR {v.product.name}"[:200],
                    stage=path[-1],
                    stage_changed_at=times[-1],
                    framework=self.framework,
                    created_by=self.people[(o.pk, Role.DEPLOYMENT_LEAD)],
                )
                for o, v, path, times in planned
            ],
            "deployments",
        )
        changes, sites = [], []
        for deployment, (organisation, _v, path, times) in zip(deployments, planned, strict=True):
            lead = self.people[(organisation.pk, Role.DEPLOYMENT_LEAD)]
            previous = ""
            for stage, moment in zip(path, times, strict=True):
                reason = "Opened" if not previous else ("Paused by the trust" if stage == "suspended" else "")
                changes.append(
                    DeploymentStageChange(
                        deployment=deployment,
                        from_stage=previous,
                        to_stage=stage,
                        changed_by=lead,
                        changed_at=moment,
                        reason=reason,
                    )
                )
                previous = stage
            for n in range(self.rng.randint(1, 3)):
                sites.append(
                    DeploymentSite(deployment=deployment, name=f"{organisation.name.split(' ')[0]} site {n + 1}")
                )
        self._bulk(DeploymentStageChange, changes, "stage changes")
        self._bulk(DeploymentSite, sites, "sites")
        self.deployments = deployments
        self.paths = {d.pk: path for d, (_o, _v, path, _t) in zip(deployments, planned, strict=True)}

    def _snapshots(self) -> None:
        this_week = week_start_of(self.today)
        for weeks_ago in range(SNAPSHOT_WEEKS, 0, -1):
            weekly_snapshot_record(week_start=this_week - timedelta(weeks=weeks_ago))
        self.counts["weekly snapshots"] = SNAPSHOT_WEEKS
