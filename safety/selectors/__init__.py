"""Reads for clinical safety. Every read starts from a `..._visible_to(user)` queryset, so an object
the person may not see is simply not found (a 404 in the views). The hazard log page's own reads
are in `safety.selectors.hazard_log_page`; callers import them from there."""

from dataclasses import dataclass, field
from typing import Any, cast

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Count, Field, Prefetch, Q, QuerySet

from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts.models import Role
from onboarding.models import Deployment, EvidenceLink, EvidenceRevision, ProductVersion
from safety import permissions as safety_permissions
from safety.models import (
    DeploymentHazard,
    HazardAction,
    HazardChange,
    HazardControl,
    IncidentJournalEntry,
    ReReviewRequest,
    RiskMatrix,
    SafetyIncident,
    SignOff,
    SupplierHazard,
)

NOT_ASSESSED = "none"  # the rating filter's value for hazards without a residual assessment


def _member_organisation_ids(user, roles: set[str] | None = None) -> set[int]:
    return {m.organisation_id for m in account_permissions.memberships_of(user) if roles is None or m.role in roles}


# --- hazard logs ------------------------------------------------------------------------------------


def deployments_with_hazard_log_visible_to(user) -> QuerySet[Deployment]:
    """Deployments whose hazard log the person may read: their own organisation's, or every one
    for the national team. Suppliers see their own hazards elsewhere, never a trust's log."""
    rule = safety_permissions.VIEW_HAZARD_LOG
    if rule.held_nationally(user):
        queryset = Deployment.objects.all()
    else:
        queryset = Deployment.objects.filter(organisation__in=rule.organisations_of(user))
    # The matrix's scales and table are not needed to name it; they are loaded where ratings are.
    return (
        queryset.select_related("organisation", "product_version__product__supplier", "risk_plan__risk_matrix")
        .defer(*(f"risk_plan__risk_matrix__{f}" for f in ("severities", "likelihoods", "ratings", "acceptability")))
        .order_by(*(Deployment._meta.ordering or ()))
    )


def hazards_visible_to(user) -> QuerySet[DeploymentHazard]:
    return DeploymentHazard.objects.filter(
        deployment__in=deployments_with_hazard_log_visible_to(user).values("pk")
    ).select_related(
        "deployment__organisation",
        "deployment__product_version__product__supplier",
        "risk_matrix",
        "supplier_hazard",
        "library_hazard",
        "updated_by",
    )


def _controls_prefetch() -> Prefetch:
    revisions = EvidenceRevision.objects.select_related("evidence").order_by("evidence__title", "number")
    return Prefetch(
        "controls",
        queryset=HazardControl.objects.select_related("owner").prefetch_related(
            Prefetch("evidence_revisions", queryset=revisions)
        ),
    )


def _actions_prefetch() -> Prefetch:
    return Prefetch("actions", queryset=HazardAction.objects.select_related("owner"))


def hazard_log(
    *, user, deployment: Deployment, rating: str | int | None = None, status: str | None = None
) -> QuerySet[DeploymentHazard]:
    """A deployment's hazards with controls (owner, evidence revisions) and actions prefetched: a
    fixed number of queries whatever the size of the log. `rating` is a residual rating (1-5) or
    NOT_ASSESSED."""
    queryset = _log_filtered(hazards_visible_to(user).filter(deployment=deployment), rating=rating, status=status)
    return queryset.prefetch_related(_controls_prefetch(), _actions_prefetch()).order_by("number")


def _log_filtered(
    queryset: QuerySet[DeploymentHazard], *, rating: str | int | None, status: str | None
) -> QuerySet[DeploymentHazard]:
    if rating == NOT_ASSESSED:
        queryset = queryset.filter(residual_rating__isnull=True)
    elif rating not in (None, ""):
        queryset = queryset.filter(residual_rating=int(rating))
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def hazard_detail(*, user, pk: int) -> QuerySet[DeploymentHazard]:
    return (
        hazards_visible_to(user).filter(pk=pk).prefetch_related(_controls_prefetch(), _actions_prefetch(), "incidents")
    )


@dataclass
class FieldChange:
    field: str
    before: str
    after: str


@dataclass
class HistoryEntry:
    change: HazardChange
    fields: list[FieldChange]


def _display(value: Any, labels: dict[str, str]) -> str:
    if value is None or value == "":
        return "(blank)"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return labels.get(str(value), str(value))


def _field_label(name: str) -> str:
    try:
        label = str(cast(Field, DeploymentHazard._meta.get_field(name)).verbose_name)
    except FieldDoesNotExist:  # a change to a control or an action: "evidence", "due_on"...
        label = name.replace("_", " ")
    return label[:1].upper() + label[1:]


def hazard_history(hazard: DeploymentHazard) -> list[HistoryEntry]:
    """The hazard's changes, newest first, each split into fields with before and after shown
    the way the page shows them (scale labels, Yes/No)."""
    matrix: RiskMatrix = hazard.risk_matrix
    labels = {item["code"]: item["label"] for scale in (matrix.severities, matrix.likelihoods) for item in scale}
    labels.update({str(k): str(v) for k, v in DeploymentHazard.Status.choices})
    labels.update({str(k): str(v) for k, v in DeploymentHazard.TransferDecision.choices})
    labels.update({str(k): str(v) for k, v in HazardControl.Kind.choices})
    entries = []
    for change in hazard.history.select_related("changed_by"):
        fields = [
            FieldChange(_field_label(name), _display(values[0], labels), _display(values[1], labels))
            for name, values in sorted(change.changes.items())
        ]
        entries.append(HistoryEntry(change=change, fields=fields))
    return entries


# --- the CSO's queue ---------------------------------------------------------------------------------


@dataclass
class CSOReviewQueue:
    hazards: QuerySet[DeploymentHazard]
    sign_offs: QuerySet[SignOff]

    @property
    def is_empty(self) -> bool:
        return not self.hazards and not self.sign_offs


def cso_review_queue(user) -> CSOReviewQueue:
    """What needs the CSO's attention in their organisations' logs: applicable hazards without a
    residual assessment or with a pending transfer decision, and sign-offs that a safety incident
    flagged for re-review or that were superseded and not yet replaced."""
    organisations = _member_organisation_ids(user, {Role.CSO})
    deployments = deployments_with_hazard_log_visible_to(user).filter(organisation__in=organisations).values("pk")
    hazards = (
        hazards_visible_to(user)
        .filter(deployment__in=deployments, is_applicable=True)
        .filter(Q(residual_rating__isnull=True) | Q(transfer_decision=DeploymentHazard.TransferDecision.PENDING))
        .order_by("deployment__organisation__name", "deployment__name", "number")
    )
    signed = SignOff.objects.filter(status=SignOff.Status.CURRENT).values("deployment")
    sign_offs = (
        SignOff.objects.filter(deployment__in=deployments)
        .filter(
            Q(status=SignOff.Status.CURRENT, needs_re_review=True)
            | (Q(status=SignOff.Status.SUPERSEDED) & ~Q(deployment__in=signed))
        )
        .select_related("deployment__organisation")
        # The latest sign-off of each deployment is the one to act on.
        .order_by("deployment_id", "-signed_at", "-id")
        .distinct("deployment_id")
    )
    return CSOReviewQueue(hazards=hazards, sign_offs=sign_offs)


# --- supplier hazards --------------------------------------------------------------------------------


def product_versions_visible_to(user) -> QuerySet[ProductVersion]:
    """Product versions whose DCB0129 hazards the person may read: the supplier's members and
    the national team."""
    rule = safety_permissions.VIEW_SUPPLIER_HAZARDS
    if rule.held_nationally(user):
        queryset = ProductVersion.objects.all()
    else:
        queryset = ProductVersion.objects.filter(product__supplier__in=rule.organisations_of(user))
    return queryset.select_related("product__supplier")


def supplier_hazards_visible_to(user) -> QuerySet[SupplierHazard]:
    return SupplierHazard.objects.filter(
        product_version__in=product_versions_visible_to(user).values("pk")
    ).select_related("product_version__product__supplier")


@dataclass
class TransferDecisionRow:
    """What one deployment decided on a transferred hazard: decision fields only."""

    deployment_name: str
    organisation_name: str
    decision: str
    decision_label: str
    justification: str


@dataclass
class SupplierHazardAcceptance:
    hazard: SupplierHazard
    decisions: list[TransferDecisionRow] = field(default_factory=list)

    @property
    def accepted_count(self) -> int:
        accepted = {DeploymentHazard.TransferDecision.ACCEPTED, DeploymentHazard.TransferDecision.ADAPTED}
        return sum(1 for d in self.decisions if d.decision in accepted)


def supplier_hazard_acceptance(*, user, product_version: ProductVersion) -> list[SupplierHazardAcceptance]:
    """The supplier's hazards for a version, each transferred one with every deployment's
    decision. Only the decision columns are read, so nothing else of a trust's log leaves it."""
    hazards = list(supplier_hazards_visible_to(user).filter(product_version=product_version).order_by("code"))
    rows = {hazard.pk: SupplierHazardAcceptance(hazard=hazard) for hazard in hazards}
    labels = dict(DeploymentHazard.TransferDecision.choices)
    decisions = (
        DeploymentHazard.objects.filter(supplier_hazard__in=[h.pk for h in hazards if h.is_transferred])
        .order_by("deployment__organisation__name", "deployment__name")
        .values(
            "supplier_hazard_id",
            "deployment__name",
            "deployment__organisation__name",
            "transfer_decision",
            "transfer_justification",
        )
    )
    for decision in decisions:
        rows[decision["supplier_hazard_id"]].decisions.append(
            TransferDecisionRow(
                deployment_name=decision["deployment__name"],
                organisation_name=decision["deployment__organisation__name"],
                decision=decision["transfer_decision"],
                decision_label=str(labels.get(decision["transfer_decision"], "Not decided")),
                justification=decision["transfer_justification"],
            )
        )
    return list(rows.values())


# --- incidents and sign-offs -------------------------------------------------------------------------


def incidents_visible_to(user) -> QuerySet[SafetyIncident]:
    return SafetyIncident.objects.filter(
        deployment__in=deployments_with_hazard_log_visible_to(user).values("pk")
    ).select_related("deployment__organisation", "reporter")


def incidents_for_deployment(*, user, deployment: Deployment) -> QuerySet[SafetyIncident]:
    return (
        incidents_visible_to(user)
        .filter(deployment=deployment)
        .annotate(hazard_count=Count("hazards", distinct=True))
        .order_by(*(SafetyIncident._meta.ordering or ()))
    )


def incident_detail(*, user, pk: int) -> QuerySet[SafetyIncident]:
    return (
        incidents_visible_to(user)
        .filter(pk=pk)
        .prefetch_related(
            "hazards", Prefetch("journal", queryset=IncidentJournalEntry.objects.select_related("author"))
        )
    )


def sign_offs_visible_to(user) -> QuerySet[SignOff]:
    return SignOff.objects.filter(
        deployment__in=deployments_with_hazard_log_visible_to(user).values("pk")
    ).select_related("deployment__organisation", "deployment__product_version__product", "cso")


def latest_sign_off(*, user, deployment: Deployment) -> SignOff | None:
    # Who may see a deployment's sign-offs is decided from the person's memberships already in
    # memory, so the lookup is one indexed query. The snapshot can be large and the callers show
    # only the sign-off's status and hash.
    if not safety_permissions.can_view_hazard_log(user, deployment):
        return None
    return (
        SignOff.objects.filter(deployment=deployment)
        .select_related("go_live", "cso")
        .defer("snapshot")
        .order_by("-signed_at", "-id")
        .first()
    )


def accepted_evidence_revisions(*, deployment: Deployment) -> QuerySet[EvidenceRevision]:
    """Revisions of evidence accepted for this deployment: what a control may cite as verifying it."""
    accepted = EvidenceLink.objects.filter(deployment=deployment, status=EvidenceLink.Status.ACCEPTED).values(
        "evidence"
    )
    return (
        EvidenceRevision.objects.filter(evidence__in=accepted)
        .select_related("evidence")
        .order_by("evidence__title", "-number")
    )


def actions_visible_to(user) -> QuerySet[HazardAction]:
    return HazardAction.objects.filter(
        deployment__in=deployments_with_hazard_log_visible_to(user).values("pk")
    ).select_related("deployment__organisation", "hazard", "owner")


# --- the risk matrix -----------------------------------------------------------------------------------


@dataclass
class MatrixCell:
    rating: int
    acceptability: str


@dataclass
class MatrixRow:
    likelihood: dict
    cells: list[MatrixCell]


def scale_label(matrix: RiskMatrix, scale: str, code: str) -> str:
    """The label of a severity or likelihood code on a matrix ("" when not assessed)."""
    if not code:
        return ""
    try:
        return matrix.label(scale, code)
    except StopIteration:
        return code


def risk_matrix_default() -> RiskMatrix | None:
    return RiskMatrix.objects.filter(is_default=True).first()


def risk_matrix_table(matrix: RiskMatrix) -> list[MatrixRow]:
    """The rating table with the most likely row first, as NHS risk matrices are printed."""
    return [
        MatrixRow(
            likelihood=likelihood,
            cells=[
                MatrixCell(
                    rating=matrix.rating(severity["code"], likelihood["code"]),
                    acceptability=matrix.acceptability[str(matrix.rating(severity["code"], likelihood["code"]))],
                )
                for severity in matrix.severities
            ],
        )
        for likelihood in reversed(matrix.likelihoods)
    ]


def re_review_requests_open(*, deployment, hazard=None) -> list:
    """Why the CSO is asked to look again, from outside the hazard log, until a new sign-off."""
    requests = ReReviewRequest.objects.filter(deployment=deployment, resolved_by__isnull=True).select_related("hazard")
    if hazard is not None:
        requests = requests.filter(hazard=hazard)
    return list(requests.order_by("-raised_at", "-id"))
