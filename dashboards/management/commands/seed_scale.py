"""Realistic volumes for benchmarks and demos: `seed_scale --deployments N`.

Creates deploying organisations across the NHS England regions, suppliers with products and
versions, and N deployments at varied stages with their stage history, sites and permissions;
evidence with revisions and reviews across the framework's requirements (from the deploying
organisation and, per product version, from the supplier); hazard logs with scored hazards and
decisions on transferred supplier hazards; sign-offs (current and superseded) and go-live
authorisations; and the weekly snapshots behind the go-live trend.

Rows are written with bulk_create, bypassing the services (and so the audit trail, which records
people's actions, not generated data); the rows are those the services would make, and the
dashboards' summary rows of the new deployments are refreshed once at the end. Each run adds
new organisations and deployments. Refuses to run with DEBUG off, like seed_demo.
"""

import json
import math
import random
from collections import defaultdict
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from dashboards.services import week_start_of, weekly_snapshot_record
from dashboards.summary import summaries_refresh
from nir_portal.accounts.models import CSOProfile, Membership, Organisation, Role
from onboarding.management.commands.load_framework import DEFAULT_FILE as FRAMEWORK_FILE
from onboarding.models import (
    Deployment,
    DeploymentSite,
    DeploymentStageChange,
    Evidence,
    EvidenceLink,
    EvidenceRevision,
    Product,
    ProductVersion,
    Requirement,
    Review,
)
from onboarding.models.deployments import STAGE_ORDER
from onboarding.services.evidence import expiry_date_for, review_by_for
from onboarding.services.framework import framework_current, framework_load
from safety.models import ClinicalRiskManagementPlan, DeploymentHazard, GoLiveAuthorisation, SignOff, SupplierHazard
from safety.services import safety_reference_data_load
from safety.snapshots import snapshot_build, snapshot_sha256

BATCH = 2000
PLACES = [
    "Ashford",
    "Barnsley",
    "Bedford",
    "Blackpool",
    "Bolton",
    "Bradford",
    "Brighton",
    "Bristol",
    "Burnley",
    "Cambridge",
    "Carlisle",
    "Chester",
    "Colchester",
    "Coventry",
    "Croydon",
    "Derby",
    "Doncaster",
    "Dorset",
    "Durham",
    "Exeter",
    "Gateshead",
    "Gloucester",
    "Harrogate",
    "Hereford",
    "Hull",
    "Ipswich",
    "Kendal",
    "Kettering",
    "Lancaster",
    "Leeds",
    "Leicester",
    "Lincoln",
    "Luton",
    "Maidstone",
    "Milton Keynes",
    "Newcastle",
    "Northampton",
    "Norwich",
    "Nottingham",
    "Oldham",
    "Oxford",
    "Plymouth",
    "Portsmouth",
    "Preston",
    "Reading",
    "Salisbury",
    "Sheffield",
    "Shrewsbury",
    "Southampton",
    "Stockport",
    "Sunderland",
    "Swindon",
    "Taunton",
    "Torbay",
    "Truro",
    "Wakefield",
    "Walsall",
    "Warrington",
    "Wigan",
    "Winchester",
    "Wolverhampton",
    "Worcester",
    "Yeovil",
    "York",
]
TRUST_STYLES = [
    "{} Hospitals NHS Trust",
    "{} Teaching Hospitals NHS Foundation Trust",
    "{} University Hospitals NHS Foundation Trust",
    "{} and District NHS Foundation Trust",
]
SUPPLIER_NAMES = [
    "Acumen Imaging",
    "Beacon Radiology Systems",
    "Clearview PACS",
    "Delta Diagnostics",
    "Evergreen Health IT",
    "Fulcrum Imaging",
    "Granite Medical Software",
    "Horizon Viewer",
    "Iris Clinical Systems",
    "Juniper RIS",
    "Keystone Imaging",
    "Lumina Health",
]
PRODUCT_KINDS = ["PACS NIR Connector", "RIS NIR Gateway", "Viewer NIR Bridge"]
STAGE_WEIGHTS = {
    Deployment.Stage.SETUP: 10,
    Deployment.Stage.GOVERNANCE: 20,
    Deployment.Stage.TECHNICAL: 24,
    Deployment.Stage.SAFETY_SIGN_OFF: 18,
    Deployment.Stage.GO_LIVE_AUTHORISED: 8,
    Deployment.Stage.LIVE: 14,
    Deployment.Stage.SUSPENDED: 4,
    Deployment.Stage.DECOMMISSIONED: 2,
}
SEVERITIES = ["minor", "significant", "considerable", "major", "catastrophic"]
LIKELIHOODS = ["very_low", "low", "medium", "high", "very_high"]
SNAPSHOT_WEEKS = 26


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


class ScaleSeeder:
    def __init__(self, deployments: int, rng: random.Random):
        self.n = deployments
        self.rng = rng
        self.now = timezone.now()
        self.today = timezone.localdate(self.now)
        self.counts: dict[str, int] = {}

    # --- helpers --------------------------------------------------------------------------------

    def _bulk(self, model, objects: list, label: str | None = None) -> list:
        created = model.objects.bulk_create(objects, batch_size=BATCH)
        if label:
            self.counts[label] = self.counts.get(label, 0) + len(created)
        return created

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

        self.framework = (
            framework_current()
            or framework_load(actor=None, data=json.loads(FRAMEWORK_FILE.read_text(encoding="utf-8")), publish=True)[0]
        )
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
            national = Organisation.objects.create(
                ods_code=self._ods_codes("X", 1)[0],
                name="NHS England NIR onboarding team",
                kind=Organisation.Kind.NATIONAL,
            )
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
            deploying.append(Organisation(ods_code=code, name=name, kind=kind, region=self.rng.choice(regions)))
        suppliers = [
            Organisation(
                ods_code=code, name=f"{SUPPLIER_NAMES[i % len(SUPPLIER_NAMES)]} Ltd", kind=Organisation.Kind.SUPPLIER
            )
            for i, code in enumerate(self._ods_codes("V", n_suppliers))
        ]
        self.deploying = self._bulk(Organisation, deploying, "deploying organisations")
        self.suppliers = self._bulk(Organisation, suppliers, "suppliers")

    def _people(self) -> None:
        """A few people per organisation, in their role groups as membership_grant would put them."""
        User = get_user_model()
        unusable = make_password(None)
        seats = []
        for organisation in self.deploying:
            seats += [
                (organisation, Role.DEPLOYMENT_LEAD),
                (organisation, Role.CSO),
                (organisation, Role.EXECUTIVE_APPROVER),
            ]
        for organisation in self.suppliers:
            seats += [(organisation, Role.SUPPLIER_ASSURANCE_LEAD), (organisation, Role.SUPPLIER_CSO)]
        reviewer_email = f"scale.reviewer@{self.national.ods_code.lower()}.scale.example.nhs.uk"
        reviewer = User.objects.filter(email=reviewer_email).first()
        if reviewer is None:
            reviewer = User.objects.create(email=reviewer_email, full_name="Scale national reviewer", password=unusable)
            seats_national = [(self.national, Role.NATIONAL_REVIEWER, reviewer)]
        else:
            seats_national = []
        users = self._bulk(
            User,
            [
                User(
                    email=f"{role.replace('_', '.')}@{organisation.ods_code.lower()}.scale.example.nhs.uk",
                    full_name=f"{Role(role).label} of {organisation.name}"[:150],
                    password=unusable,
                )
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
                CSOProfile(
                    user=u,
                    professional_body=CSOProfile.ProfessionalBody.HCPC,
                    registration_number=f"RA{u.pk:06d}",
                    registration_checked_on=self.today - timedelta(days=60),
                )
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
                ProductVersion(
                    product=p,
                    version="1.0",
                    status=ProductVersion.Status.ASSURED,
                    released_on=self.today - timedelta(days=400),
                    dcb0129_reference=f"CSCR-{p.pk}-1.0",
                )
                for p in products
            ],
        )
        second = self._bulk(
            ProductVersion,
            [
                ProductVersion(
                    product=v.product,
                    version="2.0",
                    previous_version=v,
                    released_on=self.today - timedelta(days=120),
                    dcb0129_reference=f"CSCR-{v.product_id}-2.0",
                )
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

    # --- hazard logs ----------------------------------------------------------------------------

    def _progress(self, deployment: Deployment) -> int:
        """How far the deployment got: the index in STAGE_ORDER of the furthest stage reached."""
        return max(STAGE_ORDER.index(s) for s in self.paths[deployment.pk] if s in STAGE_ORDER)

    def _hazards(self) -> None:

        self._bulk(
            ClinicalRiskManagementPlan,
            [ClinicalRiskManagementPlan(deployment=d, risk_matrix=self.matrix) for d in self.deployments],
        )
        supplier_hazards = []
        for version in self.versions:
            supplier_id = version.product.supplier_id
            for n in range(self.rng.randint(3, 5)):
                transferred = self.rng.random() < 0.6
                supplier_hazards.append(
                    SupplierHazard(
                        product_version=version,
                        code=f"SH-{n + 1:02d}",
                        name=self.rng.choice(SUPPLIER_HAZARDS),
                        description="Identified in the supplier's DCB0129 hazard log.",
                        clinical_impact="Delayed or wrong care.",
                        causes="Integration fault.",
                        supplier_controls="Design and test controls in the product.",
                        is_transferred=transferred,
                        transfer_note="Train staff and validate the workflow locally." if transferred else "",
                        created_by=self.people[(supplier_id, Role.SUPPLIER_CSO)],
                    )
                )
        supplier_hazards = self._bulk(SupplierHazard, supplier_hazards, "supplier hazards")
        transferred = defaultdict(list)
        for hazard in supplier_hazards:
            if hazard.is_transferred:
                transferred[hazard.product_version_id].append(hazard)
        library = list(self.library.hazards.all())
        hazards = []
        for deployment in self.deployments:
            progress = self._progress(deployment)
            signed = progress >= STAGE_ORDER.index(Deployment.Stage.GO_LIVE_AUTHORISED)
            scored_share = {0: 0.0, 1: 0.2, 2: 0.5, 3: 0.9}.get(progress, 1.0)
            sources = [("library", h) for h in library] + [
                ("supplier", h) for h in transferred[deployment.product_version_id]
            ]
            for number, (source, item) in enumerate(sources, start=1):
                hazard = DeploymentHazard(
                    deployment=deployment,
                    number=number,
                    source=source,
                    name=item.name,
                    description=item.description,
                    clinical_impact=item.clinical_impact,
                    causes=item.causes,
                    risk_matrix=self.matrix,
                )
                if source == "library":
                    hazard.library_hazard = item
                else:
                    hazard.supplier_hazard = item
                    hazard.existing_controls = item.supplier_controls
                    hazard.status = DeploymentHazard.Status.TRANSFERRED
                    decided = signed or self.rng.random() < scored_share
                    decision = (
                        self.rng.choices(["accepted", "adapted", "rejected"], [7, 2, 1])[0] if decided else "pending"
                    )
                    hazard.transfer_decision = decision
                    if decision != "pending":
                        hazard.transfer_justification = "Reviewed against our local workflow."
                    if decision == "rejected":
                        hazard.is_applicable = False
                        hazard.applicability_justification = "The feature is not used at our sites."
                if source == "library" and self.rng.random() < 0.05:
                    hazard.is_applicable = False
                    hazard.applicability_justification = "Not applicable to our configuration."
                if signed or self.rng.random() < scored_share:
                    self._score(hazard, signed=signed)
                if signed and hazard.residual_rating and hazard.residual_rating <= 2 and self.rng.random() < 0.3:
                    hazard.status = DeploymentHazard.Status.CLOSED
                hazards.append(hazard)
        self._bulk(DeploymentHazard, hazards, "hazards")

    def _score(self, hazard, *, signed: bool) -> None:
        severity = self.rng.choice(SEVERITIES[1:])
        likelihood = self.rng.choice(LIKELIHOODS[1:])
        hazard.initial_severity, hazard.initial_likelihood = severity, likelihood
        hazard.initial_rating = self.matrix.rating(severity, likelihood)
        residual_likelihood = LIKELIHOODS[max(0, LIKELIHOODS.index(likelihood) - self.rng.randint(1, 3))]
        residual_severity = severity if self.rng.random() < 0.7 else SEVERITIES[SEVERITIES.index(severity) - 1]
        rating = self.matrix.rating(residual_severity, residual_likelihood)
        if signed and rating > 3:
            residual_severity, residual_likelihood = "minor", "low"
            rating = self.matrix.rating(residual_severity, residual_likelihood)
        hazard.residual_severity, hazard.residual_likelihood, hazard.residual_rating = (
            residual_severity,
            residual_likelihood,
            rating,
        )
        if rating == 3:
            hazard.residual_justification = "Further reduction is impractical; the operating limits hold."

    # --- evidence -------------------------------------------------------------------------------

    def _plan_status(self, requirement: Requirement, progress: int) -> str | None:
        """A link status for a requirement, given how far the deployment got (None: no evidence)."""
        stage = Requirement.Stage.values.index(requirement.stage)
        r = self.rng.random()
        if stage < progress:
            return "accepted" if r < 0.9 else ("submitted" if r < 0.96 else "changes_requested")
        if stage == progress:
            return (
                "accepted"
                if r < 0.35
                else "submitted"
                if r < 0.65
                else "changes_requested"
                if r < 0.8
                else "draft"
                if r < 0.9
                else None
            )
        return "submitted" if r < 0.08 else ("draft" if r < 0.15 else None)

    def _effective(self, requirement: Requirement, status: str) -> date:
        """An effective date: mostly recent; for expiring requirements, some expiring soon or lapsed."""
        if requirement.expiry_rule == Requirement.ExpiryRule.DSPT_YEAR:
            lapsed = status == "accepted" and self.rng.random() < 0.1
            return (
                date(2025, 9, 1) + timedelta(days=self.rng.randint(0, 200))
                if lapsed
                else (
                    date(self.today.year if self.today.month > 6 else self.today.year - 1, 7, 1)
                    + timedelta(days=self.rng.randint(0, 100))
                )
            )
        if requirement.expiry_rule == Requirement.ExpiryRule.MONTHS and status == "accepted":
            roll = self.rng.random()
            months = requirement.expiry_months or 12
            if roll < 0.08:  # expires within the next 30 days
                return self._months_before(self.today + timedelta(days=self.rng.randint(0, 29)), months)
            if roll < 0.12:  # already past its date: the daily job has marked it expired
                return self._months_before(self.today - timedelta(days=self.rng.randint(5, 60)), months)
        return self.today - timedelta(days=self.rng.randint(10, 200))

    @staticmethod
    def _months_before(day: date, months: int) -> date:
        index = day.year * 12 + day.month - 1 - months
        return date(index // 12, index % 12 + 1, min(day.day, 28))

    def _evidence(self) -> None:
        mandatory_first = sorted(self.requirements, key=lambda r: r.code)
        trust_reqs = [r for r in mandatory_first if r.provided_by in ("deploying", "both")]
        supplier_reqs = [r for r in mandatory_first if r.provided_by in ("supplier", "both")]
        items = []  # (evidence, requirement, [(deployment, status)], reviewer organisation kind)
        by_version = defaultdict(list)
        for deployment in self.deployments:
            by_version[deployment.product_version_id].append(deployment)
        for deployment in self.deployments:
            progress = self._progress(deployment)
            lead = self.people[(deployment.organisation_id, Role.DEPLOYMENT_LEAD)]
            for requirement in trust_reqs:
                status = self._plan_status(requirement, progress)
                if status is None:
                    continue
                evidence = Evidence(
                    owner=deployment.organisation,
                    deployment=deployment,
                    title=f"{requirement.title[:150]} ({requirement.code})",
                    requirement_codes=[requirement.code],
                    created_by=lead,
                )
                items.append((evidence, requirement, [(deployment, status)], lead))
        for version in self.versions:
            deployments = by_version.get(version.pk, [])
            if not deployments:
                continue
            author = self.people[(version.product.supplier_id, Role.SUPPLIER_ASSURANCE_LEAD)]
            for requirement in supplier_reqs:
                statuses = [(d, self._plan_status(requirement, self._progress(d))) for d in deployments]
                if all(s is None for _d, s in statuses):
                    continue
                # The supplier submits once for every deployment; each reviews it on its own.
                statuses = [(d, "submitted" if s in (None, "draft") else s) for d, s in statuses]
                evidence = Evidence(
                    owner=version.product.supplier,
                    product_version=version,
                    title=f"{requirement.title[:150]} ({requirement.code}, version {version.version})",
                    requirement_codes=[requirement.code],
                    created_by=author,
                )
                items.append((evidence, requirement, statuses, author))
        evidence_rows = self._bulk(Evidence, [item[0] for item in items], "evidence")
        revisions, plans = [], []
        for evidence, (_e, requirement, statuses, author) in zip(evidence_rows, items, strict=True):
            sent_back_first = (any(s == "submitted" for _d, s in statuses) and self.rng.random() < 0.3) or (
                any(s == "accepted" for _d, s in statuses) and self.rng.random() < 0.25
            )
            effective = self._effective(requirement, statuses[0][1])
            numbers = [1, 2] if sent_back_first else [1]
            made = []
            for number in numbers:
                day = effective - timedelta(days=30) if number < numbers[-1] else effective
                revisions.append(
                    EvidenceRevision(
                        evidence=evidence,
                        number=number,
                        statement="Described in the attached procedure and signed off.",
                        effective_date=day,
                        expiry_date=expiry_date_for([requirement], day),
                        uploaded_by=author,
                    )
                )
                made.append(len(revisions) - 1)
            plans.append((evidence, requirement, statuses, made))
        revisions = self._bulk(EvidenceRevision, revisions, "evidence revisions")
        links, reviews_plan = [], []
        for evidence, requirement, statuses, made in plans:
            latest = revisions[made[-1]]
            review_by = review_by_for([requirement], evidence.owner)
            for deployment, status in statuses:
                if status == "accepted" and latest.expiry_date and latest.expiry_date < self.today:
                    status = "expired"
                submitted = None
                if status != "draft":
                    if status == "submitted" and self.rng.random() < 0.3:
                        submitted = self.now - timedelta(days=self.rng.randint(15, 45))  # overdue for review
                    else:
                        submitted = self.now - timedelta(days=self.rng.randint(1, 9))
                links.append(
                    EvidenceLink(
                        evidence=evidence,
                        deployment=deployment,
                        status=status,
                        review_by=review_by,
                        revision=latest,
                        submitted_at=submitted,
                    )
                )
                reviews_plan.append((deployment, status, [revisions[i] for i in made], review_by))
        links = self._bulk(EvidenceLink, links, "evidence links")
        reviews = []
        for link, (deployment, status, made, review_by) in zip(links, reviews_plan, strict=True):
            if review_by == EvidenceLink.ReviewBy.NATIONAL:
                reviewer, reviewer_org = self.reviewer, self.national.pk
            else:
                reviewer, reviewer_org = self.people[(deployment.organisation_id, Role.CSO)], deployment.organisation_id
            if len(made) > 1 and status in ("accepted", "expired", "submitted"):
                reviews.append(
                    Review(
                        link=link,
                        revision=made[0],
                        reviewer=reviewer,
                        reviewer_organisation_id=reviewer_org,
                        decision=Review.Decision.REQUEST_CHANGES,
                        comment="Please add the signed version.",
                    )
                )
            if status in ("accepted", "expired"):
                reviews.append(
                    Review(
                        link=link,
                        revision=made[-1],
                        reviewer=reviewer,
                        reviewer_organisation_id=reviewer_org,
                        decision=Review.Decision.ACCEPT,
                    )
                )
            elif status == "changes_requested":
                reviews.append(
                    Review(
                        link=link,
                        revision=made[-1],
                        reviewer=reviewer,
                        reviewer_organisation_id=reviewer_org,
                        decision=Review.Decision.REQUEST_CHANGES,
                        comment="The named owner is missing.",
                    )
                )
        self._bulk(Review, reviews, "reviews")

    # --- sign-offs and go-live ------------------------------------------------------------------

    def _sign_offs(self) -> None:

        current, superseded = [], []
        for deployment in self.deployments:
            progress = self._progress(deployment)
            authorised = progress >= STAGE_ORDER.index(Deployment.Stage.GO_LIVE_AUTHORISED)
            at_sign_off = deployment.stage == Deployment.Stage.SAFETY_SIGN_OFF
            roll = self.rng.random()
            if not authorised and not (at_sign_off and roll < 0.5):
                continue
            cso = self.people[(deployment.organisation_id, Role.CSO)]
            snapshot = snapshot_build(deployment)
            fields = {
                "deployment": deployment,
                "cso": cso,
                "cso_name": cso.full_name,
                "professional_body": "HCPC",
                "registration_number": f"RA{cso.pk:06d}",
                "registration_checked_on": self.today - timedelta(days=60),
                "statement": "The residual risks are acceptable within the stated operating limits.",
                "snapshot": snapshot,
                "snapshot_sha256": snapshot_sha256(snapshot),
            }
            if authorised or roll < 0.25:
                current.append(SignOff(**fields))
            if (authorised and self.rng.random() < 0.15) or (not authorised and roll >= 0.25):
                superseded.append(
                    SignOff(
                        **{**fields, "snapshot_sha256": "0" * 64},
                        status=SignOff.Status.SUPERSEDED,
                        superseded_at=self.now - timedelta(days=20),
                        superseded_changes=["A hazard's residual risk was reassessed."],
                    )
                )
        self._bulk(SignOff, superseded, "superseded sign-offs")
        current = self._bulk(SignOff, current, "current sign-offs")
        self._bulk(
            GoLiveAuthorisation,
            [
                GoLiveAuthorisation(
                    sign_off=s,
                    deployment=s.deployment,
                    snapshot_sha256=s.snapshot_sha256,
                    approver=self.people[(s.deployment.organisation_id, Role.EXECUTIVE_APPROVER)],
                    statement="I accept the residual risk on behalf of the organisation.",
                )
                for s in current
                if self._progress(s.deployment) >= STAGE_ORDER.index(Deployment.Stage.GO_LIVE_AUTHORISED)
            ],
            "go-live authorisations",
        )

    def _snapshots(self) -> None:
        this_week = week_start_of(self.today)
        for weeks_ago in range(SNAPSHOT_WEEKS, 0, -1):
            weekly_snapshot_record(week_start=this_week - timedelta(weeks=weeks_ago))
        self.counts["weekly snapshots"] = SNAPSHOT_WEEKS


SUPPLIER_HAZARDS = [
    "Study shown against the wrong patient after a merge",
    "Prior images not retrieved from the registry",
    "Report status not updated after an outage",
    "Duplicate registry entries for one examination",
    "Time-out not shown to the reporting radiologist",
    "Image sharing fails silently for large studies",
]
