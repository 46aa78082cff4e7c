"""What the evidence services share: the rules on requirements, who provides and who reviews evidence
and when it expires, who may contribute or change it, the record of a stored upload, and telling
the apps above that a deployment's evidence changed."""

import calendar
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError

from nir_portal import events
from nir_portal.accounts.models import Organisation
from nir_portal.forms import refused
from onboarding import permissions
from onboarding.events import DeploymentEvidenceChanged
from onboarding.models import (
    Deployment,
    Evidence,
    EvidenceLink,
    ProductVersion,
    Requirement,
)
from onboarding.services.framework import framework_current

# Registered by onboarding.tasks under this name; enqueued by name (see nir_portal.task_registry).
EVIDENCE_FILE_SCAN = "onboarding.tasks.evidence_file_scan"

REVIEW_PRIORITY = [
    EvidenceLink.ReviewBy.NATIONAL,
    EvidenceLink.ReviewBy.DEPLOYING_CSO,
    EvidenceLink.ReviewBy.DEPLOYING_LEAD,
]


@dataclass(frozen=True)
class StoredUpload:
    """A file already inspected and written to evidence storage (see onboarding.uploads)."""

    original_name: str
    storage_name: str
    sha256: str
    size: int
    detected_type: str


def _evidence_changed(deployment_ids) -> None:
    """Tell the apps above (the dashboards' summaries) in this transaction; ids may repeat."""
    ids = tuple(sorted({int(pk) for pk in deployment_ids}))
    if ids:
        events.publish(DeploymentEvidenceChanged(deployment_ids=ids))


def _requirements_for(codes: list[str], framework) -> dict[str, Requirement]:
    if framework is None:
        raise ValidationError("No onboarding framework is published yet.", code="no_framework")
    found = {r.code: r for r in Requirement.objects.filter(framework=framework, code__in=codes)}
    missing = sorted(set(codes) - set(found))
    if missing:
        raise refused("requirement_codes", f"Unknown requirement: {', '.join(missing)}.", "unknown_requirement")
    return found


def _check_provider(requirements: dict[str, Requirement], owner: Organisation) -> None:
    wanted = Requirement.ProvidedBy.SUPPLIER if owner.is_supplier else Requirement.ProvidedBy.DEPLOYING
    allowed = (wanted, Requirement.ProvidedBy.BOTH)
    wrong = sorted(code for code, r in requirements.items() if r.provided_by not in allowed)
    if wrong:
        who = "suppliers" if wanted == Requirement.ProvidedBy.DEPLOYING else "deploying organisations"
        raise refused("requirement_codes", f"{', '.join(wrong)} must be evidenced by {who}.", "wrong_provider")


def review_by_for(requirements: list[Requirement], owner: Organisation) -> str:
    """Who reviews evidence for these requirements. Nobody reviews their own organisation's
    evidence, so evidence owned by the deploying organisation goes to the national team."""
    wanted = {r.reviewed_by for r in requirements}
    if owner.is_deploying:
        return EvidenceLink.ReviewBy.NATIONAL
    return next(kind for kind in REVIEW_PRIORITY if kind in wanted)


def _end_of_dspt_year(effective: date) -> date:
    # The DSPT year runs from 1 July to 30 June. A publication dated 30 June (the deadline) is for
    # the year that follows; otherwise it would expire on the day it takes effect.
    return date(effective.year + (1 if (effective.month, effective.day) >= (6, 30) else 0), 6, 30)


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expiry_date_for(requirements: list[Requirement], effective: date) -> date | None:
    """The earliest expiry any of the requirements imposes, or None when none expires."""
    dates = []
    for requirement in requirements:
        if requirement.expiry_rule == Requirement.ExpiryRule.MONTHS:
            if requirement.expiry_months is None:
                raise ValueError(f"{requirement.code} expires after a number of months but does not say how many.")
            dates.append(_add_months(effective, requirement.expiry_months))
        elif requirement.expiry_rule == Requirement.ExpiryRule.DSPT_YEAR:
            dates.append(_end_of_dspt_year(effective))
    return min(dates) if dates else None


def _check_can_contribute(
    actor, owner: Organisation, *, deployment: Deployment | None, product_version: ProductVersion | None
) -> None:
    if deployment is not None:
        permissions.CONTRIBUTE_EVIDENCE.require(actor, deployment)
        if not permissions.can_contribute_as(actor, owner, deployment):
            raise PermissionDenied("You cannot add evidence to this deployment for that organisation.")
    elif product_version is not None:
        permissions.CONTRIBUTE_VERSION_EVIDENCE.require(actor, product_version)
        if owner.pk != product_version.product.supplier_id:
            raise PermissionDenied("Only the product's supplier can add evidence for a product version.")
    else:
        raise ValueError("Evidence is scoped to exactly one deployment or one product version.")


def _check_owner_member(actor, evidence: Evidence) -> None:
    permissions.CHANGE_EVIDENCE.require(actor, evidence)


def _framework_of(evidence_deployment: Deployment | None):
    if evidence_deployment is not None and evidence_deployment.framework_id:
        return evidence_deployment.framework
    return framework_current()
