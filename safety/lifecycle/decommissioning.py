"""The use and decommissioning phases: the CSO's periodic review of a live deployment, and the
safety assessment of taking one out of use (DCB0160 7.4), authorised like a go-live."""

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from nir_portal import events
from nir_portal.accounts import reauth
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from onboarding.models import Deployment
from onboarding.services.cases import case_version_retire_all
from onboarding.services.deployments import deployment_stage_move
from safety import permissions
from safety.events import SafetyCaseChanged
from safety.lifecycle import permissions as lifecycle_permissions
from safety.lifecycle.duties import independent_acceptance_check
from safety.lifecycle.models import DecommissioningAuthorisation, DecommissioningPlan, PeriodicReview
from safety.models import DeploymentHazard, SignOff

IN_USE = (Deployment.Stage.LIVE, Deployment.Stage.SUSPENDED)


@transaction.atomic
def periodic_review_record(
    *, actor, deployment: Deployment, reviewed_on: date, findings: str, next_review_due: date, changes_since_last=""
) -> PeriodicReview:
    """The CSO records a planned review of the case of a deployment in use."""
    if not lifecycle_permissions.can_record_periodic_review(actor, deployment):
        raise PermissionDenied("Only the deploying organisation's CSO records a periodic review.")
    deployment = Deployment.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=deployment.pk)
    if deployment.stage not in IN_USE:
        raise ValidationError("A periodic review is of a deployment in use.", code="not_in_use")
    if not findings.strip():
        raise refused("findings", "Record what the review found.", "findings_required")
    if next_review_due <= reviewed_on:
        raise refused("next_review_due", "The next review must be after this one.", "next_review_not_after")
    review = PeriodicReview.objects.create(
        deployment=deployment,
        reviewed_on=reviewed_on,
        findings=findings.strip(),
        changes_since_last=changes_since_last.strip(),
        next_review_due=next_review_due,
        recorded_by=actor,
    )
    audit_event_record(
        action="periodic_review.record",
        actor=actor,
        organisation=deployment.organisation,
        target=review,
        changes={"reviewed_on": reviewed_on.isoformat(), "next_review_due": next_review_due.isoformat()},
    )
    return review


@transaction.atomic
def decommissioning_plan_save(
    *,
    actor,
    deployment: Deployment,
    planned_for: date,
    data_retention: str,
    access_to_priors: str,
    replacement: str,
    hazards_closed: list[DeploymentHazard],
    closure_note: str = "",
) -> DecommissioningPlan:
    """The CSO or deployment lead records the decommissioning assessment (DCB0160 7.4)."""
    if not permissions.can_plan_decommissioning(actor, deployment):
        raise PermissionDenied("Only the deploying organisation's CSO or deployment lead plans decommissioning.")
    deployment = Deployment.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=deployment.pk)
    if deployment.stage not in IN_USE:
        raise ValidationError("Only a deployment in use is decommissioned.", code="not_in_use")
    plan = DecommissioningPlan.objects.filter(deployment=deployment).first()
    if plan is not None and plan.status == DecommissioningPlan.Status.AUTHORISED:
        raise ValidationError("The decommissioning is already authorised.", code="already_authorised")
    errors = {
        name: ValidationError(message, code="required")
        for name, value, message in (
            ("data_retention", data_retention, "Say how long the data is kept and by whom."),
            ("access_to_priors", access_to_priors, "Say how clinicians reach prior imaging afterwards."),
            ("replacement", replacement, "Say what replaces the service, or why nothing does."),
        )
        if not value.strip()
    }
    if any(h.deployment_id != deployment.pk for h in hazards_closed):
        errors["hazards_closed"] = ValidationError("Choose hazards from this deployment's log.", code="other_log")
    if hazards_closed and not closure_note.strip():
        errors["closure_note"] = ValidationError("Say why decommissioning closes them.", code="required")
    if errors:
        raise ValidationError(errors)
    plan = plan or DecommissioningPlan(deployment=deployment, recorded_by=actor)
    plan.planned_for, plan.recorded_by = planned_for, actor
    plan.data_retention, plan.access_to_priors = data_retention.strip(), access_to_priors.strip()
    plan.replacement, plan.closure_note = replacement.strip(), closure_note.strip()
    plan.full_clean()
    plan.save()
    plan.hazards_closed.set(hazards_closed)
    audit_event_record(
        action="decommissioning.plan_save",
        actor=actor,
        organisation=deployment.organisation,
        target=plan,
        changes={"planned_for": planned_for.isoformat(), "hazards_closed": [h.reference for h in hazards_closed]},
    )
    return plan


@transaction.atomic
def decommissioning_authorise(
    *, actor, deployment: Deployment, statement: str, mfa_verified_at: float | None
) -> DecommissioningAuthorisation:
    """Top management authorises decommissioning against the CSO's current sign-off of the log;
    the approver must not be that CSO."""
    if not lifecycle_permissions.can_authorise_decommissioning(actor, deployment):
        raise PermissionDenied("Only the organisation's executive approver authorises decommissioning.")
    reauth.require_recent_mfa(mfa_verified_at=mfa_verified_at, action="authorise decommissioning")
    deployment = Deployment.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=deployment.pk)
    plan = DecommissioningPlan.objects.select_for_update().filter(deployment=deployment).first()
    if plan is None:
        raise ValidationError("Record the decommissioning plan first.", code="no_plan")
    if plan.status == DecommissioningPlan.Status.AUTHORISED:
        raise ValidationError("The decommissioning is already authorised.", code="already_authorised")
    current = SignOff.objects.filter(deployment=deployment, status=SignOff.Status.CURRENT).first()
    if current is None or current.needs_re_review:
        raise ValidationError(
            "Decommissioning needs a current sign-off of the hazard log by the CSO.", code="no_sign_off"
        )
    independent_acceptance_check(approver=actor, sign_off=current, act="authorise decommissioning")
    if not statement.strip():
        raise refused("statement", "State that you accept the risk of decommissioning.", "statement_required")
    authorisation = DecommissioningAuthorisation.objects.create(
        plan=plan,
        sign_off=current,
        approver=actor,
        statement=statement.strip(),
        snapshot_sha256=current.snapshot_sha256,
    )
    plan.status = DecommissioningPlan.Status.AUTHORISED
    plan.save(update_fields=["status"])
    deployment_stage_move(
        actor=actor,
        deployment=deployment,
        to_stage=Deployment.Stage.DECOMMISSIONED,
        reason="Decommissioning authorised",
    )
    case_version_retire_all(deployment=deployment)
    events.publish(SafetyCaseChanged(deployment_id=deployment.pk))
    audit_event_record(
        action="decommissioning.authorise",
        actor=actor,
        organisation=deployment.organisation,
        target=authorisation,
        changes={"snapshot_sha256": current.snapshot_sha256},
    )
    return authorisation
