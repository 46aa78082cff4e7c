"""A live deployment whose signed-off case is superseded: it is marked "safety case out of date"
wherever it appears, its CSO, deployment lead and executive approver are told, and a person
decides whether it continues (with a justification) or is suspended. Nothing is suspended
automatically."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from nir_portal import events
from nir_portal.accounts import reauth
from nir_portal.accounts.models import Role
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from onboarding.models import Deployment, DeploymentNotice
from onboarding.services.deployments import deployment_stage_move
from safety import permissions
from safety.events import SafetyCaseChanged
from safety.lifecycle.mail import notice_queue, people_of
from safety.lifecycle.models import LiveCaseDecision
from safety.models import GoLiveAuthorisation, SignOff


def case_out_of_date_mark(*, sign_off: SignOff) -> bool:
    """Called in the transaction that superseded `sign_off`. Marks its deployment out of date
    when it is live; returns whether it did."""
    deployment = Deployment.objects.select_related("organisation").get(pk=sign_off.deployment_id)
    if deployment.stage != Deployment.Stage.LIVE or deployment.safety_case_out_of_date_since is not None:
        return False
    now = timezone.now()
    Deployment.objects.filter(pk=deployment.pk).update(safety_case_out_of_date_since=now, updated_at=now)
    changes = list(sign_off.superseded_changes or [])[:10]
    DeploymentNotice.objects.create(
        deployment=deployment,
        kind=DeploymentNotice.Kind.CASE_OUT_OF_DATE,
        title="Safety case out of date",
        body="The sign-off this deployment went live on has been superseded: " + "; ".join(changes),
    )
    audit_event_record(
        action="deployment.case_out_of_date",
        organisation=deployment.organisation,
        target=deployment,
        changes={"sign_off": sign_off.pk, "changes": changes},
    )
    recipients = people_of(deployment, (Role.CSO, Role.DEPLOYMENT_LEAD))
    approver = (
        GoLiveAuthorisation.objects.filter(deployment=deployment)
        .order_by("-authorised_at")
        .values_list("approver__email", flat=True)
        .first()
    )
    recipients = sorted(
        set(recipients) | ({approver} if approver else set(people_of(deployment, (Role.EXECUTIVE_APPROVER,))))
    )
    notice_queue(
        subject=f"Safety case out of date: {deployment.name}",
        body=(
            f"{deployment.name} is live, but the CSO's sign-off it went live on has been superseded:\n- "
            + "\n- ".join(changes or ["content changed"])
            + "\n\nNothing has been suspended. The CSO or the executive approver must decide whether it "
            "continues in use (with a justification) or is suspended, and the CSO must sign off again."
        ),
        recipients=recipients,
    )
    return True


def case_out_of_date_clear(*, deployment: Deployment) -> None:
    """A new go-live authorisation brings the live case up to date again."""
    now = timezone.now()
    Deployment.objects.filter(pk=deployment.pk).update(safety_case_out_of_date_since=None, updated_at=now)
    DeploymentNotice.objects.filter(
        deployment=deployment, kind=DeploymentNotice.Kind.CASE_OUT_OF_DATE, resolved_at__isnull=True
    ).update(resolved_at=now)


@transaction.atomic
def live_case_decide(
    *, actor, deployment: Deployment, decision: str, justification: str, mfa_verified_at: float | None
) -> LiveCaseDecision:
    """The CSO or the executive approver decides what happens to a live deployment whose case is
    out of date: continue with a justification, or suspend."""
    if not permissions.can_decide_live_case(actor, deployment):
        raise PermissionDenied("Only the organisation's CSO or executive approver decides this.")
    reauth.require_recent_mfa(mfa_verified_at=mfa_verified_at, action="record this decision")
    # Row lock: two people deciding at once must not both suspend or record crossing decisions.
    deployment = Deployment.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=deployment.pk)
    if deployment.safety_case_out_of_date_since is None:
        raise ValidationError("The deployment's safety case is not out of date.", code="not_out_of_date")
    if deployment.stage != Deployment.Stage.LIVE:
        raise ValidationError("Only a deployment in live use needs this decision.", code="not_live")
    if decision not in LiveCaseDecision.Decision.values:
        raise refused("decision", "Choose whether it continues in use or is suspended.", "invalid_decision")
    if not justification.strip():
        raise refused("justification", "Give the reason for your decision.", "justification_required")
    superseded = (
        SignOff.objects.filter(deployment=deployment, status=SignOff.Status.SUPERSEDED)
        .order_by("-superseded_at", "-id")
        .first()
    )
    record = LiveCaseDecision.objects.create(
        deployment=deployment,
        sign_off=superseded,
        decision=decision,
        justification=justification.strip(),
        decided_by=actor,
    )
    if decision == LiveCaseDecision.Decision.SUSPEND:
        deployment_stage_move(
            actor=actor,
            deployment=deployment,
            to_stage=Deployment.Stage.SUSPENDED,
            reason=f"Safety case out of date: {justification.strip()}"[:500],
        )
    events.publish(SafetyCaseChanged(deployment_id=deployment.pk))
    audit_event_record(
        action="deployment.live_case_decision",
        actor=actor,
        organisation=deployment.organisation,
        target=deployment,
        changes={"decision": decision, "justification": record.justification, "sign_off": superseded.pk},
    )
    return record
