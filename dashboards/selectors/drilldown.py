"""The lists behind the dashboards' numbers: evidence links and open hazards of the filtered
deployments, as the person may see them. A fixed number of queries."""

from datetime import datetime

from django.db.models import F, QuerySet
from django.utils import timezone

from dashboards.selectors.measures import (
    DSPT_REQUIREMENT,
    UNRATED,
    EvidenceMeasure,
    _expiring_links,
    _overdue_links,
)
from nir_portal.accounts.models import Organisation
from onboarding.models import Deployment, EvidenceLink, Requirement
from onboarding.selectors import evidence_links_visible_to
from safety.selectors import hazards_visible_to


def drilldown_evidence(
    *,
    user,
    deployments: QuerySet[Deployment],
    measure: str = "",
    area: str = "",
    owner: Organisation | None = None,
    now: datetime | None = None,
) -> QuerySet[EvidenceLink]:
    """Evidence links behind an evidence number: of the filtered deployments, visible to the
    person, narrowed to a measure and an area. A fixed number of queries."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    links = evidence_links_visible_to(user).filter(deployment__in=deployments.order_by().values("pk"))
    if owner is not None:
        links = links.filter(evidence__owner=owner)
    if measure == EvidenceMeasure.EXPIRING:
        links = links.filter(pk__in=_expiring_links(today).values("pk"))
    elif measure == EvidenceMeasure.OVERDUE:
        links = links.filter(pk__in=_overdue_links(now).values("pk"))
    elif measure == EvidenceMeasure.DSPT:
        links = links.filter(evidence__requirement_codes__contains=[DSPT_REQUIREMENT])
    elif measure in (EvidenceMeasure.ACCEPTED, EvidenceMeasure.CHANGES_REQUESTED, EvidenceMeasure.SUBMITTED):
        links = links.filter(status=measure)
    if area:
        codes = Requirement.objects.filter(area__code=area).values_list("code", flat=True).distinct()
        links = links.filter(evidence__requirement_codes__overlap=list(codes))
    return links.select_related(
        "evidence__owner", "deployment__organisation", "deployment__product_version__product", "revision"
    ).order_by("deployment__organisation__name", "deployment__name", "evidence__title", "pk")


def drilldown_hazards(*, user, deployments: QuerySet[Deployment], rating: str = ""):
    """Open hazards behind a hazard number, of the filtered deployments, as the person may see them."""

    hazards = (
        hazards_visible_to(user)
        .filter(deployment__in=deployments.order_by().values("pk"), is_applicable=True)
        .exclude(status="closed")
    )
    if rating == UNRATED:
        hazards = hazards.filter(residual_rating__isnull=True)
    elif rating:
        hazards = hazards.filter(residual_rating=int(rating))
    return hazards.order_by(
        F("residual_rating").desc(nulls_last=True), "deployment__organisation__name", "deployment__name", "number"
    )
