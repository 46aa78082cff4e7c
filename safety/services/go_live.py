"""Go-live authorisation: top management accepts the residual risk of the current sign-off."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from nir_portal import events
from nir_portal.accounts import reauth
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from nir_portal.mail import messages as mail
from onboarding.models import Deployment
from onboarding.selectors import go_live_blockers
from onboarding.services.cases import case_version_mark_live
from onboarding.services.deployments import deployment_enter_go_live_authorised
from safety import permissions
from safety.events import SafetyCaseChanged
from safety.lifecycle.duties import independent_acceptance_check
from safety.lifecycle.supersession import case_out_of_date_clear
from safety.models import (
    GoLiveAuthorisation,
    SignOff,
)
from safety.services.sign_off import sign_off_blockers, sign_off_refresh


@transaction.atomic
def go_live_authorise(
    *, actor, deployment: Deployment, statement: str, mfa_verified_at: float | None
) -> GoLiveAuthorisation:
    """Top management authorises go-live, accepting the residual risk of the current sign-off. It
    binds the approver as a sign-off binds the CSO, so it needs a fresh authenticator check:
    `mfa_verified_at` is when the approver last completed one (epoch seconds)."""
    if not permissions.can_authorise_go_live(actor, deployment):
        raise PermissionDenied("Only the organisation's executive approver can authorise go-live.")
    reauth.require_recent_mfa(mfa_verified_at=mfa_verified_at, action="authorise go-live")
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    # The onboarding stages come first: a sign-off of the hazard log is not a finished onboarding.
    onboarding_blockers = go_live_blockers(user=actor, deployment=deployment)
    if onboarding_blockers:
        raise ValidationError(
            [ValidationError(blocker, code="onboarding_incomplete") for blocker in onboarding_blockers]
        )
    sign_off_refresh(deployment=deployment)
    current = SignOff.objects.filter(deployment=deployment, status=SignOff.Status.CURRENT).first()
    if current is None:
        raise ValidationError("Go-live needs a current sign-off of the hazard log by the CSO.", code="no_sign_off")
    if current.needs_re_review:
        raise ValidationError("A safety incident flagged the sign-off for re-review by the CSO.", code="re_review")
    # The snapshot is unchanged, but evidence it relied on may since have been sent back or expired.
    blockers = sign_off_blockers(deployment)
    if blockers:
        raise ValidationError(
            [
                ValidationError(f"The signed-off log no longer holds: {blocker}", code="sign_off_blocked")
                for blocker in blockers
            ]
        )
    independent_acceptance_check(approver=actor, sign_off=current, act="authorise go-live")
    if GoLiveAuthorisation.objects.filter(sign_off=current).exists():
        raise ValidationError("Go-live is already authorised for this sign-off.", code="already_authorised")
    if not statement.strip():
        raise refused("statement", "State that you accept the residual risk.", "statement_required")
    authorisation = GoLiveAuthorisation.objects.create(
        sign_off=current,
        deployment=deployment,
        approver=actor,
        statement=statement.strip(),
        snapshot_sha256=current.snapshot_sha256,
    )
    if deployment.stage == Deployment.Stage.LIVE:
        # A live deployment re-authorised (a new case version, or a case brought up to date) stays live.
        case_version_mark_live(deployment=deployment)
        case_out_of_date_clear(deployment=deployment)
    else:
        deployment_enter_go_live_authorised(
            actor=actor,
            deployment=deployment,
            authority={"go_live_authorisation": authorisation.pk, "sign_off": current.pk},
        )
    events.publish(SafetyCaseChanged(deployment_id=deployment.pk))
    audit_event_record(
        action="go_live.authorise",
        actor=actor,
        organisation=deployment.organisation,
        target=authorisation,
        changes={"snapshot_sha256": current.snapshot_sha256},
    )
    mail.go_live_authorised(authorisation=authorisation)
    return authorisation
