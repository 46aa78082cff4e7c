"""A supplier's new product version and the upgrade of a deployment's case to it.

The supplier publishes the version with its change summary, the onboarding requirements the
change invalidates and its DCB0129 delta; every live or in-progress deployment of the earlier
version is flagged. The deployment lead then starts the upgrade, which opens the next version of
the same deployment's case: the hazard log carries forward, every hazard the delta touches (and
NIR-14, version change not re-assessed) is marked for re-review, and the CSO's new sign-off and
a new go-live authorisation are needed before the new version is recorded live."""

import json

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from nir_portal import events
from nir_portal.accounts.models import Role
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from onboarding.models import CaseVersion, Deployment, DeploymentNotice, ProductVersion, Requirement
from onboarding.services.cases import case_version_current
from onboarding.services.upgrades import evidence_links_for_upgrade
from safety import permissions
from safety.events import SafetyCaseChanged
from safety.lifecycle import permissions as lifecycle_permissions
from safety.lifecycle.mail import notice_queue, people_of
from safety.lifecycle.models import HazardReReview, SupplierHazardDelta
from safety.models import DeploymentHazard, HazardChange, SignOff, SupplierHazard
from safety.services.hazards import hazard_next_number, supplier_hazard_copy_to_log

VERSION_CHANGE_HAZARD = "NIR-14"  # the library's "supplier version change not re-assessed"


def _codes(values: list[str]) -> list[str]:
    return sorted({v.strip().upper() for v in values if v and v.strip()})


@transaction.atomic
def product_version_publish(
    *,
    actor,
    product_version: ProductVersion,
    change_summary: str,
    added: list[str],
    changed: list[str],
    closed: list[str],
    changed_requirement_codes: list[str] | None = None,
) -> list[int]:
    """Publish a new version with its DCB0129 delta and flag every live or in-progress deployment
    of the version it follows. Returns the flagged deployments' ids."""
    supplier = product_version.product.supplier
    if not lifecycle_permissions.can_publish_version(actor, product_version):
        raise PermissionDenied("Only the supplier's CSO or assurance lead publishes a product version.")
    # Row lock: publishing twice at once must not flag deployments twice.
    version = (
        ProductVersion.objects.select_for_update(of=("self",))
        .select_related("previous_version")
        .get(pk=product_version.pk)
    )
    if version.published_at is not None:
        raise ValidationError(f"{version} was published on {version.published_at:%d %B %Y}.", code="already_published")
    previous = version.previous_version
    if previous is None:
        raise ValidationError("Name the version this one follows before publishing it.", code="no_previous_version")
    if not change_summary.strip():
        raise refused("change_summary", "Summarise what changed since the previous version.", "summary_required")
    new_hazards = {h.code: h for h in SupplierHazard.objects.filter(product_version=version)}
    old_hazards = {h.code: h for h in SupplierHazard.objects.filter(product_version=previous)}
    added, changed, closed = _codes(added), _codes(changed), _codes(closed)
    problems = [f"{c} is not a hazard of {version}" for c in added + changed if c not in new_hazards]
    problems += [f"{c} is not a hazard of {previous}" for c in changed + closed if c not in old_hazards]
    problems += [f"{c} was already a hazard of {previous}" for c in added if c in old_hazards]
    if len(set(added) | set(changed) | set(closed)) != len(added) + len(changed) + len(closed):
        problems.append("Each hazard appears once in the delta")
    if problems:
        raise refused("added", "; ".join(problems) + ".", "delta_invalid")
    requirement_codes = _codes(changed_requirement_codes or [])
    known = set(Requirement.objects.filter(code__in=requirement_codes).values_list("code", flat=True))
    if set(requirement_codes) - known:
        unknown = ", ".join(sorted(set(requirement_codes) - known))
        raise refused("changed_requirement_codes", f"No onboarding requirement has the code {unknown}.", "unknown")
    rows = [(c, new_hazards[c].name, SupplierHazardDelta.Change.ADDED) for c in added]
    rows += [(c, new_hazards[c].name, SupplierHazardDelta.Change.CHANGED) for c in changed]
    rows += [(c, old_hazards[c].name, SupplierHazardDelta.Change.CLOSED) for c in closed]
    SupplierHazardDelta.objects.bulk_create(
        [SupplierHazardDelta(product_version=version, code=c, name=n, change=k) for c, n, k in rows]
    )
    version.change_summary = change_summary.strip()
    version.changed_requirement_codes = requirement_codes
    version.published_at = timezone.now()
    version.save(update_fields=["change_summary", "changed_requirement_codes", "published_at", "updated_at"])
    flagged = []
    for deployment in (
        Deployment.objects.select_for_update(of=("self",))
        .filter(product_version=previous)
        .exclude(stage=Deployment.Stage.DECOMMISSIONED)
        .select_related("organisation")
        .order_by("pk")
    ):
        deployment.upgrade_available = version
        deployment.save(update_fields=["upgrade_available", "updated_at"])
        DeploymentNotice.objects.create(
            deployment=deployment,
            kind=DeploymentNotice.Kind.VERSION_PUBLISHED,
            title=f"{version} is available",
            body=f"{version} replaces {previous.version}. {version.change_summary}",
        )
        notice_queue(
            subject=f"{version} is available for {deployment.name}",
            body=(
                f"{supplier.name} has published {version}, which replaces {previous.version}.\n\n"
                f"{version.change_summary}\n\nThe deployment lead starts the upgrade of the safety case; the CSO "
                "re-reviews the hazards the change touches and signs off again before it is used."
            ),
            recipients=people_of(deployment, (Role.CSO, Role.DEPLOYMENT_LEAD)),
        )
        flagged.append(deployment.pk)
    audit_event_record(
        action="product_version.publish",
        actor=actor,
        organisation=supplier,
        target=version,
        changes={
            "delta": {"added": added, "changed": changed, "closed": closed},
            "changed_requirements": requirement_codes,
            "deployments_flagged": flagged,
        },
    )
    return flagged


def _mark(hazard: DeploymentHazard, actor, reason: str, **fields) -> None:
    before = {"needs_re_review": hazard.needs_re_review, **{k: getattr(hazard, k + "_id", None) for k in fields}}
    DeploymentHazard.objects.filter(pk=hazard.pk).update(
        needs_re_review=True, re_review_reason=reason, version=F("version") + 1, **fields
    )
    HazardChange.objects.create(
        hazard=hazard,
        changed_by=actor,
        summary="Flagged for re-review",
        changes=json.loads(
            json.dumps({"needs_re_review": [before["needs_re_review"], True], "reason": [None, reason]})
        ),
    )


def _carry_hazard_log(*, actor, deployment: Deployment, version: ProductVersion) -> dict[str, list[str]]:
    delta = {d.code: d for d in SupplierHazardDelta.objects.filter(product_version=version)}
    new_hazards = {h.code: h for h in SupplierHazard.objects.filter(product_version=version)}
    log = list(
        DeploymentHazard.objects.select_for_update(of=("self",))
        .filter(deployment=deployment)
        .select_related("supplier_hazard", "library_hazard")
        .order_by("number")
    )
    marked: list[str] = []
    in_log = set()
    for hazard in log:
        code = hazard.supplier_hazard.code if hazard.supplier_hazard else None
        if code:
            in_log.add(code)
        entry = delta.get(code) if code else None
        successor = new_hazards.get(code) if code else None
        fields = {"supplier_hazard": successor} if successor is not None else {}
        if entry is not None:
            verb = "closed" if entry.change == SupplierHazardDelta.Change.CLOSED else entry.change
            _mark(hazard, actor, f"{entry.code} {verb} by the supplier in {version}.", **fields)
            marked.append(hazard.reference)
        elif hazard.library_hazard and hazard.library_hazard.code == VERSION_CHANGE_HAZARD:
            _mark(hazard, actor, f"Version change to {version}: re-assess before use.")
            marked.append(hazard.reference)
        elif fields:
            # Unchanged by the delta: the log now refers to the new version's DCB0129 hazard.
            DeploymentHazard.objects.filter(pk=hazard.pk).update(**fields)

    matrix = deployment.risk_plan.risk_matrix
    for code, supplier_hazard in sorted(new_hazards.items()):
        if supplier_hazard.is_transferred and code not in in_log:
            hazard = supplier_hazard_copy_to_log(deployment, supplier_hazard, matrix, hazard_next_number(deployment))
            hazard.needs_re_review = True
            hazard.re_review_reason = f"{code} transferred by the supplier in {version}."
            hazard.save()
            HazardChange.objects.create(
                hazard=hazard,
                changed_by=actor,
                summary=f"Transferred in {version}",
                changes={"name": [None, hazard.name]},
            )
            marked.append(hazard.reference)
    return {"marked": marked}


@transaction.atomic
def case_upgrade_start(*, actor, deployment: Deployment) -> CaseVersion:
    """Open the next version of the deployment's case for the newer product version it was
    flagged with. A live deployment stays live on its current case until the new one is signed
    off and its go-live authorised."""
    if not permissions.can_upgrade(actor, deployment):
        raise PermissionDenied("Only the deployment lead starts an upgrade.")
    deployment = (
        Deployment.objects.select_for_update(of=("self",))
        .select_related("organisation", "product_version", "upgrade_available")
        .get(pk=deployment.pk)
    )
    version = deployment.upgrade_available
    if version is None:
        raise ValidationError("No newer product version is waiting for this deployment.", code="no_upgrade")
    current = case_version_current(deployment)
    if current is not None and current.status == CaseVersion.Status.IN_PREPARATION and current.number > 1:
        raise ValidationError("An upgrade of this deployment's case is already in progress.", code="upgrade_open")
    if Deployment.objects.filter(organisation=deployment.organisation, product_version=version).exists():
        raise ValidationError(
            f"{deployment.organisation.name} already has a deployment of {version}.", code="already_deployed"
        )
    previous_version = deployment.product_version
    now = timezone.now()
    signed = SignOff.objects.select_for_update().filter(deployment=deployment, status=SignOff.Status.CURRENT).first()
    if signed is not None:
        # Superseded as the record of the earlier version's case, not as a live case gone stale.
        signed.status, signed.superseded_at = SignOff.Status.SUPERSEDED, now
        signed.superseded_changes = [f"Upgrade to {version} started: a new case version needs its own sign-off"]
        signed.save(update_fields=["status", "superseded_at", "superseded_changes"])
    if current is not None and current.status == CaseVersion.Status.IN_PREPARATION:
        current.status, current.retired_at = CaseVersion.Status.RETIRED, now
        current.save(update_fields=["status", "retired_at", "updated_at"])
    case = CaseVersion.objects.create(
        deployment=deployment,
        number=(current.number if current else 0) + 1,
        product_version=version,
        previous=current,
        started_by=actor,
        change_summary=version.change_summary,
    )
    deployment.product_version, deployment.upgrade_available = version, None
    deployment.save(update_fields=["product_version", "upgrade_available", "updated_at"])
    carried = _carry_hazard_log(actor=actor, deployment=deployment, version=version)
    evidence = evidence_links_for_upgrade(deployment=deployment, from_version=previous_version, to_version=version)
    events.publish(SafetyCaseChanged(deployment_id=deployment.pk))
    audit_event_record(
        action="deployment.upgrade_start",
        actor=actor,
        organisation=deployment.organisation,
        target=deployment,
        changes={
            "product_version": [str(previous_version), str(version)],
            "case_version": case.number,
            "hazards_for_re_review": carried["marked"],
            "evidence": evidence,
        },
    )
    return case


@transaction.atomic
def hazard_re_review(*, actor, hazard: DeploymentHazard, expected_version: int, outcome: str) -> HazardReReview:
    """The CSO records the re-review of a hazard a version change or product fault touched."""
    if not lifecycle_permissions.can_re_review_hazard(actor, hazard.deployment):
        raise PermissionDenied("Only the deploying organisation's CSO re-reviews hazards.")
    Deployment.objects.select_for_update(of=("self",)).get(pk=hazard.deployment_id)
    hazard = DeploymentHazard.objects.select_for_update(of=("self",)).select_related("deployment").get(pk=hazard.pk)
    if hazard.version != expected_version:
        raise ValidationError(
            f"{hazard.reference} was changed by someone else after you opened it. Nothing was saved: reopen it.",
            code="stale_edit",
        )
    if not hazard.needs_re_review:
        raise ValidationError(f"{hazard.reference} does not need re-review.", code="no_re_review")
    if not outcome.strip():
        raise refused("outcome", "Say what you found and what you changed.", "outcome_required")
    review = HazardReReview.objects.create(
        hazard=hazard,
        case_version=case_version_current(hazard.deployment),
        reason=hazard.re_review_reason,
        outcome=outcome.strip(),
        reviewed_by=actor,
    )
    hazard.needs_re_review, hazard.version = False, hazard.version + 1
    hazard.updated_by = actor
    hazard.save(update_fields=["needs_re_review", "version", "updated_by", "updated_at"])
    HazardChange.objects.create(
        hazard=hazard,
        changed_by=actor,
        summary="Re-reviewed",
        changes={"needs_re_review": [True, False], "outcome": [None, review.outcome]},
    )
    audit_event_record(
        action="hazard.re_review",
        actor=actor,
        organisation=hazard.deployment.organisation,
        target=hazard,
        changes={"reason": review.reason, "outcome": review.outcome},
    )
    return review
