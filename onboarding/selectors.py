from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from nir_portal.accounts import permissions as account_permissions
from onboarding import permissions
from onboarding.models import Area, Deployment, Evidence, EvidenceFile, EvidenceLink, Requirement, Review
from onboarding.models.deployments import STAGE_ORDER


def deployments_visible_to(user) -> QuerySet[Deployment]:
    """The national team sees every deployment; a deploying organisation its own; a supplier the
    deployments of its products."""
    if account_permissions.is_national(user):
        queryset = Deployment.objects.all()
    else:
        queryset = permissions.deployments_of_member(user)
    # Explicit order: Meta.ordering is dropped from GROUP BY queries, which the Count makes this.
    return (
        queryset.select_related("organisation", "product_version__product__supplier")
        .annotate(site_count=Count("sites", distinct=True))
        .order_by(*(Deployment._meta.ordering or []))
    )


def deployment_detail(*, user, pk: int) -> QuerySet[Deployment]:
    return deployments_visible_to(user).filter(pk=pk).prefetch_related("sites", "stage_changes__changed_by")


# --- evidence ------------------------------------------------------------------------------------

STATUS_RANK = {
    EvidenceLink.Status.ACCEPTED: 5,
    EvidenceLink.Status.SUBMITTED: 4,
    EvidenceLink.Status.CHANGES_REQUESTED: 3,
    EvidenceLink.Status.EXPIRED: 2,
    EvidenceLink.Status.DRAFT: 1,
}
EXPIRING_WITHIN_DAYS = 30
PARTLY_ACCEPTED = "partly_accepted"
EXTRA_STATUS_LABELS = {"not_started": "Not started", PARTLY_ACCEPTED: "Accepted from one party; waiting for the other"}


def _member_organisation_ids(user) -> set[int]:
    return {m.organisation_id for m in account_permissions.memberships_of(user)}


def evidence_links_visible_to(user) -> QuerySet[EvidenceLink]:
    """Links on deployments the person can see. Drafts only to the owning organisation; a
    supplier sees only its own evidence, never a trust's."""
    own = _member_organisation_ids(user)
    deployments = deployments_visible_to(user).values("pk")
    queryset = EvidenceLink.objects.filter(deployment__in=deployments)
    if account_permissions.is_national(user):
        visible = Q(evidence__owner__in=own) | ~Q(status=EvidenceLink.Status.DRAFT)
    else:
        visible = Q(evidence__owner__in=own) | (
            ~Q(status=EvidenceLink.Status.DRAFT) & Q(deployment__organisation__in=own)
        )
    return queryset.filter(visible).select_related("evidence__owner", "deployment__organisation", "revision")


def evidence_visible_to(user) -> QuerySet[Evidence]:
    own = _member_organisation_ids(user)
    return Evidence.objects.filter(
        Q(owner__in=own) | Q(pk__in=evidence_links_visible_to(user).values("evidence"))
    ).select_related("owner", "deployment__organisation", "product_version__product")


def evidence_files_visible_to(user) -> QuerySet[EvidenceFile]:
    return EvidenceFile.objects.filter(revision__evidence__in=evidence_visible_to(user).values("pk")).select_related(
        "revision__evidence"
    )


@dataclass
class RequirementStatus:
    requirement: Requirement
    status: str
    links: list
    overdue: bool
    expiring: bool

    @property
    def status_label(self) -> str:
        return EXTRA_STATUS_LABELS.get(self.status) or EvidenceLink.Status(self.status).label


@dataclass
class AreaStatus:
    area: Area
    requirements: list[RequirementStatus]

    @property
    def mandatory_total(self) -> int:
        return sum(1 for r in self.requirements if r.requirement.mandatory)

    @property
    def mandatory_accepted(self) -> int:
        return sum(1 for r in self.requirements if r.requirement.mandatory and r.status == EvidenceLink.Status.ACCEPTED)


@dataclass
class Checklist:
    deployment: Deployment
    areas: list[AreaStatus]

    @property
    def mandatory_total(self) -> int:
        return sum(a.mandatory_total for a in self.areas)

    @property
    def mandatory_accepted(self) -> int:
        return sum(a.mandatory_accepted for a in self.areas)

    def _all(self):
        return [r for a in self.areas for r in a.requirements]

    @property
    def overdue(self) -> list[RequirementStatus]:
        return [r for r in self._all() if r.overdue]

    @property
    def expiring(self) -> list[RequirementStatus]:
        return [r for r in self._all() if r.expiring]

    @property
    def waiting_for_review(self) -> list[RequirementStatus]:
        return [r for r in self._all() if r.status == EvidenceLink.Status.SUBMITTED]

    def unaccepted_mandatory_for_stage(self, stage: str) -> list[Requirement]:
        return [
            r.requirement
            for r in self._all()
            if r.requirement.stage == stage and r.requirement.mandatory and r.status != EvidenceLink.Status.ACCEPTED
        ]

    def unaccepted_mandatory(self) -> list[Requirement]:
        """Every mandatory requirement, of any stage, without accepted evidence today (one accepted
        when its stage was left may since have expired or been sent back)."""
        return [
            r.requirement for r in self._all() if r.requirement.mandatory and r.status != EvidenceLink.Status.ACCEPTED
        ]


def deployment_checklist(*, user, deployment: Deployment, today=None) -> Checklist:
    """Each area's requirements with the best status of their evidence. The counts are the same
    for everyone who can see the deployment; links to evidence are only those the person may open.
    A requirement provided by both parties is accepted only when each party's evidence is.
    Three queries whatever the number of requirements and revisions."""
    today = today or timezone.localdate()
    framework = deployment.framework
    if framework is None:
        return Checklist(deployment=deployment, areas=[])
    own = _member_organisation_ids(user)
    sees_all = account_permissions.is_national(user) or deployment.organisation_id in own
    requirements = list(Requirement.objects.filter(framework=framework).select_related("area"))
    links = list(
        EvidenceLink.objects.filter(deployment=deployment)
        .filter(~Q(status=EvidenceLink.Status.DRAFT) | Q(evidence__owner__in=own))
        .select_related("evidence__owner", "revision")
    )
    by_code: dict[str, list] = defaultdict(list)
    for link in links:
        for code in link.evidence.requirement_codes:
            by_code[code].append(link)
    stage_index = STAGE_ORDER.index(deployment.stage) if deployment.stage in STAGE_ORDER else len(STAGE_ORDER)
    areas: dict[int, AreaStatus] = {}
    for requirement in requirements:
        found = sorted(by_code.get(requirement.code, []), key=lambda link: -STATUS_RANK[link.status])
        accepted = [link for link in found if link.status == EvidenceLink.Status.ACCEPTED]
        status = found[0].status if found else "not_started"
        if requirement.provided_by == Requirement.ProvidedBy.BOTH and status == EvidenceLink.Status.ACCEPTED:
            parties = {link.evidence.owner.is_supplier for link in accepted}
            if len(parties) < 2:
                status = PARTLY_ACCEPTED
                accepted = []
        expiring = any(
            link.revision
            and link.revision.expiry_date
            and (link.revision.expiry_date - today).days <= EXPIRING_WITHIN_DAYS
            for link in accepted
        )
        requirement_stage = STAGE_ORDER.index(requirement.stage)
        overdue = requirement.mandatory and not accepted and requirement_stage < stage_index
        visible = [link for link in found if sees_all or link.evidence.owner_id in own]
        area = areas.setdefault(requirement.area_id, AreaStatus(area=requirement.area, requirements=[]))
        area.requirements.append(RequirementStatus(requirement, status, visible, overdue, expiring))
    ordered = sorted(areas.values(), key=lambda a: (a.area.order, a.area.code))
    return Checklist(deployment=deployment, areas=ordered)


def evidence_files_awaiting_rescan(*, waiting_since) -> QuerySet[EvidenceFile]:
    """Files the periodic rescan takes up: recorded as a scanner error (their scan's retries are
    spent), or still waiting for their first scan since before `waiting_since` (it was lost)."""
    return EvidenceFile.objects.filter(
        Q(scan_status=EvidenceFile.ScanStatus.ERROR)
        | Q(scan_status=EvidenceFile.ScanStatus.PENDING, created_at__lt=waiting_since)
    ).order_by("pk")


FILES_NOT_CLEARED = "This revision has files that have not passed the malware scan, so it cannot be accepted yet."


@dataclass(frozen=True)
class ScanHold:
    """Why a revision cannot be accepted yet: its files that have not passed the malware scan
    (waiting for it, waiting because the scanner did not answer, or refused: malware found, or
    beyond the scanner's limits). Empty, and false, when every file is clean."""

    files: list[EvidenceFile]

    def __bool__(self) -> bool:
        return bool(self.files)

    @property
    def states(self) -> set[str]:
        return {file.scan_status for file in self.files}


def revision_scan_hold(revision) -> ScanHold:
    """The files of the revision that keep it from being accepted (see ScanHold)."""
    if revision is None:
        return ScanHold(files=[])
    return ScanHold(
        files=list(revision.files.exclude(scan_status=EvidenceFile.ScanStatus.CLEAN).order_by("original_name", "pk"))
    )


def revision_files_cleared(revision) -> bool:
    """Whether every file of the revision has passed the malware scan (a revision without files
    has). The one rule for acceptance: the review service refuses Accept, and the review form
    does not offer it, unless this holds."""
    return not revision_scan_hold(revision)


def evidence_links_with_reviews(links) -> list[EvidenceLink]:
    """The links, each with `latest_review` (the newest decision, or None) and `reviewer_text`
    (who will review it), in two queries whatever their number."""
    links = list(links)
    latest: dict[int, Review] = {}
    for review in Review.objects.filter(link__in=[link.pk for link in links]).select_related(
        "reviewer", "reviewer_organisation", "revision"
    ):
        latest.setdefault(review.link_id, review)  # newest first (Review.Meta.ordering)
    for link in links:
        link.latest_review = latest.get(link.pk)
        link.reviewer_text = permissions.reviewer_text(link)
    return links


def review_queue_for(user) -> QuerySet[EvidenceLink]:
    """What waits for this person's review, oldest first: the links whose routing names a role
    the person holds (`permissions.REVIEW_RULES`). Never their own organisation's evidence."""
    own = _member_organisation_ids(user)
    condition = Q(pk__in=[])
    for review_by, rule in permissions.REVIEW_RULES.items():
        if rule.held_nationally(user):
            condition |= Q(review_by=review_by)
        elif organisations := rule.organisations_of(user):
            condition |= Q(review_by=review_by, deployment__organisation__in=organisations)
    return (
        EvidenceLink.objects.filter(condition, status=EvidenceLink.Status.SUBMITTED)
        .exclude(evidence__owner__in=own)
        .select_related("evidence__owner", "deployment__organisation", "revision")
        .order_by("submitted_at", "pk")
    )


@dataclass
class QueueSource:
    """One kind of evidence that reaches a person's review queue, and for which organisations."""

    review_by: str
    label: str
    organisations: list[str]  # empty: every deploying organisation (the national team's queue)


def review_queue_sources(user) -> list[QueueSource]:
    """What reaches the person's queue, from the same rules as `review_queue_for`."""
    names = {m.organisation_id: m.organisation.name for m in account_permissions.memberships_of(user)}
    sources = []
    for review_by, rule in permissions.REVIEW_RULES.items():
        label = EvidenceLink.ReviewBy(review_by).label
        if rule.held_nationally(user):
            sources.append(QueueSource(review_by, label, []))
        elif organisations := rule.organisations_of(user):
            sources.append(QueueSource(review_by, label, sorted(names[pk] for pk in organisations)))
    return sources


def product_version_evidence(*, user, product_version) -> QuerySet[Evidence]:
    """The supplier's page: its evidence for a version, each with every deployment's status."""
    return (
        evidence_visible_to(user)
        .filter(product_version=product_version)
        .prefetch_related(Prefetch("links", queryset=EvidenceLink.objects.select_related("deployment__organisation")))
        .annotate(revision_count=Count("revisions", distinct=True))
        .order_by("title")
    )


def evidence_reviewers_described(evidence: Evidence) -> list[str]:
    """Who reviews this evidence once submitted, in words, one phrase per kind of reviewer (the
    links' review routes; onboarding.permissions.REVIEWER_ROLES says who may act on each)."""
    links = evidence.links.filter(status=EvidenceLink.Status.SUBMITTED).select_related("deployment__organisation")
    by_route: dict[str, list[str]] = defaultdict(list)
    for link in links.order_by("deployment__organisation__name"):
        by_route[link.review_by].append(link.deployment.organisation.name)
    phrases = []
    for route, names in sorted(by_route.items()):
        where = names[0] if len(set(names)) == 1 else f"each of the {len(set(names))} deploying organisations"
        if route == EvidenceLink.ReviewBy.NATIONAL:
            phrases.append("the national assurance team at NHS England")
        elif route == EvidenceLink.ReviewBy.DEPLOYING_CSO:
            phrases.append(f"the Clinical Safety Officer at {where}")
        else:
            phrases.append(f"the deployment lead or Clinical Safety Officer at {where}")
    return phrases


# Stages from which go-live can be authorised: the last onboarding stage, a go-live authorised
# again for a newer sign-off before the deployment went live, and a live deployment's upgrade.
GO_LIVE_FROM_STAGES = (
    Deployment.Stage.SAFETY_SIGN_OFF,
    Deployment.Stage.GO_LIVE_AUTHORISED,
    Deployment.Stage.LIVE,
)


def go_live_blockers(*, user, deployment: Deployment) -> list[str]:
    """What, on the onboarding side, stands between this deployment and a go-live authorisation,
    each as a sentence for the executive approver; empty when nothing does. The deployment must
    have reached the clinical safety sign-off stage (each stage is left only with its mandatory
    requirements accepted), and every mandatory requirement must still be accepted now. A live
    deployment authorised again for a new case version is not held back by its checklist: its
    expiring evidence is chased on its own, and a safety re-authorisation must not wait for it."""
    if deployment.stage not in GO_LIVE_FROM_STAGES:
        return [
            f"The deployment is at {deployment.get_stage_display().lower()}. Go-live can be authorised once "
            f"it has reached {Deployment.Stage.SAFETY_SIGN_OFF.label.lower()}, each stage's mandatory "
            "requirements accepted."
        ]
    if deployment.stage == Deployment.Stage.LIVE:
        return []
    missing = deployment_checklist(user=user, deployment=deployment).unaccepted_mandatory()
    if not missing:
        return []
    return [
        f"{len(missing)} mandatory requirement(s) have no accepted evidence: "
        f"{', '.join(requirement.code for requirement in missing)}."
    ]
