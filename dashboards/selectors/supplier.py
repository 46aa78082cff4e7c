"""The supplier's dashboard: each deployment of its products, its own evidence there and the
decisions on its transferred hazards. Nothing of the trust's own log or evidence."""

from django.db.models import (
    Count,
    OuterRef,
    Q,
    QuerySet,
    TextChoices,
)

from dashboards.selectors.listing import DEFAULT_SORT, SORT_COLUMNS, _reversed, filter_deployments
from dashboards.selectors.measures import DashboardFilters, _count, _stage_position
from nir_portal.accounts.models import Organisation
from onboarding.models import Deployment, EvidenceLink
from safety.models import DeploymentHazard

# --- the supplier's dashboard -------------------------------------------------------------------


class DecisionMeasure(TextChoices):
    ACCEPTED = "accepted", "Accepted (as is or adapted)"
    REJECTED = "rejected", "Rejected"
    PENDING = "pending", "Not decided"


def _decision_q(decision: str) -> Q:
    if decision == DecisionMeasure.ACCEPTED:
        return Q(transfer_decision__in=["accepted", "adapted"])
    if decision == DecisionMeasure.REJECTED:
        return Q(transfer_decision="rejected")
    return Q(transfer_decision__in=["pending", ""])


SUPPLIER_SORTS = ("deployment", "organisation", "stage", "in_stage")


def supplier_filters(filters: DashboardFilters) -> DashboardFilters:
    """The filters a supplier may use: nothing that would reveal a trust's hazards or sign-off."""
    return DashboardFilters(
        q=filters.q, stage=filters.stage, product=filters.product, deployment=filters.deployment, sort=filters.sort
    )


def supplier_deployments(*, scope: QuerySet[Deployment], supplier: Organisation, filters: DashboardFilters):
    """The supplier's view of each deployment of its products: its own evidence there by status,
    and the decisions on its transferred hazards. Nothing of the trust's own log or evidence."""

    own = {"deployment": OuterRef("pk")}
    links = EvidenceLink.objects.filter(evidence__owner=supplier, **own)
    transferred = DeploymentHazard.objects.filter(
        source=DeploymentHazard.Source.SUPPLIER, supplier_hazard__product_version__product__supplier=supplier, **own
    )
    deployments = filter_deployments(
        scope.select_related("organisation", "product_version__product").annotate(
            stage_position=_stage_position(),
            evidence_accepted=_count(links.filter(status=EvidenceLink.Status.ACCEPTED)),
            evidence_changes_requested=_count(links.filter(status=EvidenceLink.Status.CHANGES_REQUESTED)),
            evidence_submitted=_count(links.filter(status=EvidenceLink.Status.SUBMITTED)),
            **{f"hazards_{d}": _count(transferred.filter(_decision_q(d))) for d in DecisionMeasure.values},
        ),
        supplier_filters(filters),
    )
    key, descending = filters.sort.lstrip("-"), filters.sort.startswith("-")
    column = SORT_COLUMNS[key if key in SUPPLIER_SORTS else DEFAULT_SORT]
    expressions = [_reversed(e) for e in column.orm] if descending and key == column.key else list(column.orm)
    return deployments.order_by(*expressions, "pk")


def supplier_totals(deployments: QuerySet[Deployment], *, supplier: Organisation) -> dict[str, int]:
    """The supplier's evidence by status and its transferred hazards by decision, over the
    filtered deployments: two grouped queries."""

    ids = deployments.order_by().values("pk")
    totals = {"evidence_accepted": 0, "evidence_changes_requested": 0, "evidence_submitted": 0}
    rows = (
        EvidenceLink.objects.filter(evidence__owner=supplier, deployment__in=ids)
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        if f"evidence_{row['status']}" in totals:
            totals[f"evidence_{row['status']}"] = row["n"]
    decisions = {
        "accepted": "accepted",
        "adapted": "accepted",
        "rejected": "rejected",
        "pending": "pending",
        "": "pending",
    }
    totals.update({f"hazards_{d}": 0 for d in DecisionMeasure.values})
    rows = (
        DeploymentHazard.objects.filter(
            deployment__in=ids,
            source=DeploymentHazard.Source.SUPPLIER,
            supplier_hazard__product_version__product__supplier=supplier,
        )
        .order_by()
        .values("transfer_decision")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        totals[f"hazards_{decisions[row['transfer_decision']]}"] += row["n"]
    totals["deployments"] = deployments.count()
    return totals


def supplier_hazard_decisions(*, deployments: QuerySet[Deployment], supplier: Organisation, decision: str = ""):
    """Each deployment's decision on the supplier's transferred hazards: the decision columns
    only, so nothing else of a trust's hazard log reaches the supplier."""

    rows = DeploymentHazard.objects.filter(
        deployment__in=deployments.order_by().values("pk"),
        source=DeploymentHazard.Source.SUPPLIER,
        supplier_hazard__product_version__product__supplier=supplier,
    )
    if decision:
        rows = rows.filter(_decision_q(decision))
    return rows.order_by("deployment__organisation__name", "deployment__name", "supplier_hazard__code", "pk").values(
        "pk",
        "deployment_id",
        "deployment__name",
        "deployment__organisation__name",
        "deployment__organisation__ods_code",
        "supplier_hazard__code",
        "supplier_hazard__name",
        "supplier_hazard__product_version__version",
        "transfer_decision",
        "transfer_justification",
    )
