"""The CSO's sign-off of a hazard log: what blocks it, recording it, and superseding it. Every change to
covered content calls `sign_off_refresh` in its own transaction, so a sign-off is superseded the
moment what it covered changes."""

import json

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.utils import timezone

from nir_portal import events
from nir_portal.accounts import reauth
from nir_portal.accounts.models import CSOProfile
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from nir_portal.mail import messages as mail
from onboarding.models import Deployment, EvidenceLink, EvidenceRevision
from onboarding.services.cases import case_version_current
from safety import permissions
from safety.events import SafetyCaseChanged
from safety.lifecycle.duties import registration_check_refusal
from safety.lifecycle.supersession import case_out_of_date_mark
from safety.models import (
    DeploymentHazard,
    HazardAction,
    HazardControl,
    ReReviewRequest,
    SignOff,
)
from safety.services.reference import BLOCKING_RATING, JUSTIFY_RATING
from safety.snapshots import snapshot_build, snapshot_changes, snapshot_sha256


def sign_off_refresh(*, deployment: Deployment, reason: str = "") -> SignOff | None:
    """Supersede the current sign-off if what it covered has changed. Returns it when superseded."""
    current = SignOff.objects.select_for_update().filter(deployment=deployment, status=SignOff.Status.CURRENT).first()
    if current is None:
        return None
    snapshot = snapshot_build(deployment)
    if snapshot_sha256(snapshot) == current.snapshot_sha256:
        return None
    current.status = SignOff.Status.SUPERSEDED
    current.superseded_at = timezone.now()
    current.superseded_changes = snapshot_changes(current.snapshot, snapshot) or [reason or "Content changed"]
    current.save(update_fields=["status", "superseded_at", "superseded_changes"])
    events.publish(SafetyCaseChanged(deployment_id=deployment.pk))
    audit_event_record(
        action="sign_off.superseded",
        organisation=deployment.organisation,
        target=current,
        changes={"changes": current.superseded_changes[:50]},
    )
    mail.sign_off_superseded(sign_off=current)
    case_out_of_date_mark(sign_off=current)
    return current


def sign_offs_refresh_for_evidence(*, evidence_id: int) -> None:
    """A new revision of evidence relied on by a control supersedes the sign-offs that cited it."""
    # Row lock on every deployment relying on the evidence, whether or not it is signed off now: a
    # sign-off being recorded at this moment holds that lock, so it commits first and is superseded
    # here, or waits and builds its snapshot with the new revision.
    deployment_ids = HazardControl.objects.filter(evidence_revisions__evidence_id=evidence_id).values(
        "hazard__deployment_id"
    )
    deployments = Deployment.objects.select_for_update(of=("self",)).filter(pk__in=deployment_ids).order_by("pk")
    for deployment in deployments:
        sign_off_refresh(deployment=deployment, reason="New evidence revision")


def _check_verifying_evidence(
    deployment: Deployment,
    revisions: list[EvidenceRevision],
    *,
    accepted: set[int] | None = None,
    cites_certificate_register: bool = False,
) -> None:
    if not revisions and not cites_certificate_register:
        raise refused(
            "evidence_revisions",
            "A control cited as verified must link to accepted evidence or cite the certificate register.",
            "verified_needs_evidence",
        )
    today = timezone.localdate()
    accepted = (
        accepted
        if accepted is not None
        else set(
            EvidenceLink.objects.filter(
                deployment=deployment,
                status=EvidenceLink.Status.ACCEPTED,
                evidence__in=[r.evidence_id for r in revisions],
            ).values_list("evidence_id", flat=True)
        )
    )
    for revision in revisions:
        if revision.evidence_id not in accepted:
            raise refused(
                "evidence_revisions",
                f"'{revision.evidence.title}' is not accepted for this deployment.",
                "evidence_not_accepted",
            )
        if revision.expiry_date and revision.expiry_date < today:
            raise refused(
                "evidence_revisions",
                f"'{revision.evidence.title}' revision {revision.number} expired on {revision.expiry_date:%d %B %Y}.",
                "evidence_expired",
            )


def sign_off_blockers(deployment: Deployment) -> list[str]:
    """Why the hazard log cannot be signed off yet; empty when it can."""
    blockers = []
    for hazard in DeploymentHazard.objects.filter(deployment=deployment, is_applicable=True).order_by("number"):
        if hazard.residual_rating is None:
            blockers.append(f"{hazard.reference} {hazard.name} has no residual risk assessment.")
        elif hazard.residual_rating >= BLOCKING_RATING:
            blockers.append(
                f"{hazard.reference} {hazard.name} has a residual rating of {hazard.residual_rating}: "
                "it must be reduced before sign-off."
            )
        elif hazard.residual_rating == JUSTIFY_RATING and not hazard.residual_justification.strip():
            blockers.append(f"{hazard.reference} has a residual rating of 3 without a justification.")
        if hazard.transfer_decision == DeploymentHazard.TransferDecision.PENDING:
            blockers.append(
                f"{hazard.reference} {hazard.name} was transferred by the supplier and needs your decision."
            )
        if hazard.needs_re_review:
            blockers.append(f"{hazard.reference} {hazard.name} needs re-review: {hazard.re_review_reason}")
    controls = (
        HazardControl.objects.filter(
            hazard__deployment=deployment, is_verified=True, is_withdrawn=False, hazard__is_applicable=True
        )
        .select_related("hazard")
        .prefetch_related(Prefetch("evidence_revisions", queryset=EvidenceRevision.objects.select_related("evidence")))
    )
    accepted = set(
        EvidenceLink.objects.filter(deployment=deployment, status=EvidenceLink.Status.ACCEPTED).values_list(
            "evidence_id", flat=True
        )
    )
    for control in controls:
        try:
            _check_verifying_evidence(
                deployment,
                list(control.evidence_revisions.all()),
                accepted=accepted,
                cites_certificate_register=control.cites_certificate_register,
            )
        except ValidationError as error:
            blockers.append(f"{control.hazard.reference}: {' '.join(error.messages)}")
    return blockers


def sign_off_create(
    *, actor, deployment: Deployment, statement: str, conditions: list[dict], mfa_verified_at: float | None
) -> SignOff:
    """The deploying CSO signs off the hazard log as it stands, bound to its snapshot's hash.
    `mfa_verified_at` is when the CSO last completed MFA in this session (epoch seconds)."""
    # The refusal is audited outside the sign-off's transaction: raising inside it would roll the
    # denial's audit row back. Who may sign depends only on the deployment's organisation.
    if not permissions.can_sign_off(actor, deployment):
        audit_event_record(action="sign_off.create", actor=actor, target=deployment, outcome=AuditEvent.Outcome.DENIED)
        raise PermissionDenied("Only the deploying organisation's CSO can sign off its hazard log.")
    return _sign_off_record(
        actor=actor, deployment=deployment, statement=statement, conditions=conditions, mfa_verified_at=mfa_verified_at
    )


@transaction.atomic
def _sign_off_record(
    *, actor, deployment: Deployment, statement: str, conditions: list[dict], mfa_verified_at: float | None
) -> SignOff:
    reauth.require_recent_mfa(mfa_verified_at=mfa_verified_at, action="sign off the hazard log")
    profile = CSOProfile.objects.filter(user=actor).first()
    if profile is None:
        raise ValidationError("Record your professional registration before signing off.", code="no_registration")
    registration_check_refusal(profile)
    if not statement.strip():
        raise refused("statement", "Write your summary safety statement.", "statement_required")
    # Row lock: concurrent sign-offs of one deployment queue here; the first wins, the rest see it.
    # Only the deployment row: locking the organisation too would block every insert referencing the
    # trust (its audit rows among them) and deadlock with a writer holding the audit chain lock.
    deployment = Deployment.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=deployment.pk)
    blockers = sign_off_blockers(deployment)
    if blockers:
        raise ValidationError([ValidationError(blocker, code="sign_off_blocked") for blocker in blockers])
    snapshot = snapshot_build(deployment)
    digest = snapshot_sha256(snapshot)
    current = SignOff.objects.filter(deployment=deployment, status=SignOff.Status.CURRENT).first()
    if current is not None and current.snapshot_sha256 == digest and not current.needs_re_review:
        signed = timezone.localtime(current.signed_at)
        raise ValidationError(
            f"The hazard log is already signed off, by {current.cso_name} at {signed:%H:%M on %d %B %Y}, "
            "and nothing has changed since.",
            code="already_signed_off",
        )
    open_requests = list(ReReviewRequest.objects.filter(deployment=deployment, resolved_by__isnull=True))
    if current is not None and sign_off_refresh(deployment=deployment) is None:
        # Unchanged but flagged: the CSO's new sign-off is the re-review, and says what prompted it.
        current.status = SignOff.Status.SUPERSEDED
        current.superseded_at = timezone.now()
        current.superseded_changes = [
            f"Re-reviewed by the CSO: {r.reason}" for r in open_requests if r.sign_off_id == current.pk
        ] or ["Re-reviewed by the CSO after a safety incident"]
        current.save(update_fields=["status", "superseded_at", "superseded_changes"])
    for condition in conditions:
        if not condition.get("description", "").strip() or not condition.get("due_on"):
            raise refused("conditions", "Each condition needs a description and a due date.", "condition_incomplete")
    sign_off = SignOff(
        deployment=deployment,
        case_version=case_version_current(deployment),
        cso=actor,
        cso_name=actor.full_name or actor.email,
        professional_body=profile.professional_body,
        registration_number=profile.registration_number,
        registration_checked_on=profile.registration_checked_on,
        statement=statement.strip(),
        conditions=json.loads(json.dumps(conditions, default=str)),
        snapshot=snapshot,
        snapshot_sha256=digest,
    )
    try:
        with transaction.atomic():
            sign_off.save()
    except IntegrityError:
        raise ValidationError(
            "Another sign-off of this hazard log was recorded at the same moment.", code="concurrent_sign_off"
        ) from None
    ReReviewRequest.objects.filter(pk__in=[r.pk for r in open_requests]).update(
        resolved_by=sign_off, resolved_at=sign_off.signed_at
    )
    for condition in conditions:
        HazardAction.objects.create(
            deployment=deployment,
            description=condition["description"].strip(),
            owner=deployment.organisation,
            due_on=condition["due_on"],
            sign_off=sign_off,
        )
    events.publish(SafetyCaseChanged(deployment_id=deployment.pk))
    audit_event_record(
        action="sign_off.create",
        actor=actor,
        organisation=deployment.organisation,
        target=sign_off,
        changes={"snapshot_sha256": digest, "conditions": len(conditions)},
    )
    return sign_off
