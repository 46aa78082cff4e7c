"""The messages the portal sends, one function each. A service calls one of these, in one line,
inside its own transaction; each works out the recipients and the plain-data context its
templates (templates/mail/NAME.txt and NAME.html) need, and queues the message."""

from collections.abc import Iterable
from typing import Any

from allauth.account.forms import default_token_generator
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from nir_portal.accounts import enrolment
from nir_portal.accounts.models import LEAD_ROLES, NATIONAL_ROLES, EnrolmentLink, Membership, Organisation, Role
from nir_portal.mail.models import OutgoingMail
from nir_portal.mail.services import SEND_TIME_CONTEXT, mail_queue


def _url(name: str, *args: Any) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, args=args)


def _emails(*, organisations: Iterable[Organisation | int], roles: Iterable[str]) -> list[str]:
    return list(
        Membership.objects.filter(organisation__in=list(organisations), role__in=list(roles), user__is_active=True)
        .values_list("user__email", flat=True)
        .distinct()
    )


def _national_team_emails() -> list[str]:
    return _emails(organisations=Organisation.objects.filter(kind=Organisation.Kind.NATIONAL), roles=NATIONAL_ROLES)


def _date(value) -> str:
    return f"{value:%-d %B %Y}" if value else ""


# --- people and organisations --------------------------------------------------------------------


def _invitation_links(context: dict[str, Any]) -> dict[str, Any]:
    user = get_user_model().objects.filter(pk=context["user_id"], is_active=True).first()
    if user is None or user.has_usable_password():
        return {"set_password_url": ""}
    path = reverse(
        "account_reset_password_from_key",
        kwargs={"uidb36": user_pk_to_url_str(user), "key": default_token_generator.make_token(user)},
    )
    return {"set_password_url": settings.SITE_URL.rstrip("/") + path}


SEND_TIME_CONTEXT["invitation"] = _invitation_links


def invitation(*, membership: Membership, invited_by) -> list[OutgoingMail]:
    """To the person invited. A new account's set-password link is made when the message is sent."""
    organisation = membership.organisation
    return mail_queue(
        template="invitation",
        to=[membership.user.email],
        subject=f"You have been added to {organisation.name} on the NIR onboarding portal",
        context={
            "organisation": organisation.name,
            "role": membership.get_role_display(),
            "invited_by": str(invited_by) if invited_by else "The NIR onboarding team",
            "user_id": membership.user_id,
        },
        organisation=organisation,
        target=membership,
    )


def _enrolment_link_url(context: dict[str, Any]) -> dict[str, Any]:
    link = EnrolmentLink.objects.filter(pk=context["link_id"]).first()
    return {"enrolment_url": enrolment.link_url(link) if link else ""}


SEND_TIME_CONTEXT["enrolment_link"] = _enrolment_link_url


def enrolment_link(*, link: EnrolmentLink, to: str) -> list[OutgoingMail]:
    """To the account's verified address: a link to set up a first authenticator. The link is signed
    when the message is sent, never stored."""
    return mail_queue(
        template="enrolment_link",
        to=[to],
        subject="Set up your authenticator app for the NIR onboarding portal",
        context={
            "link_id": link.pk,
            "reset": link.reason == EnrolmentLink.Reason.RESET,
            "expires_at": f"{timezone.localtime(link.expires_at):%-d %B %Y %H:%M}",
        },
        target=link,
    )


# --- evidence ----------------------------------------------------------------------------------------


def evidence_reviewed(*, review) -> list[OutgoingMail]:
    """To whoever uploaded the revision: accepted, or returned with the reviewer's comment."""
    link, revision = review.link, review.revision
    accepted = review.decision == review.Decision.ACCEPT
    title = link.evidence.title
    return mail_queue(
        template="evidence_accepted" if accepted else "evidence_changes_requested",
        to=[revision.uploaded_by.email],
        subject=f"{'Accepted' if accepted else 'Changes requested'}: {title} for {link.deployment.name}"[:200],
        context={
            "title": title,
            "deployment": link.deployment.name,
            "revision": revision.number,
            "reviewer": str(review.reviewer),
            "reviewer_organisation": review.reviewer_organisation.name,
            "comment": review.comment,
            "evidence_url": _url("onboarding:evidence-detail", link.evidence_id),
        },
        organisation=link.evidence.owner,
        target=review,
    )


def expiry_reminder(*, owner_id: int, roles: Iterable[str], links: list, today) -> list[OutgoingMail]:
    """To the people in `roles` of the organisation that owns evidence expiring soon or just expired."""
    items = [
        {
            "title": link.evidence.title,
            "deployment": link.deployment.name,
            "expired": link.status == link.Status.EXPIRED,
            "expiry_date": _date(link.revision.expiry_date if link.revision else None),
            "url": _url("onboarding:evidence-detail", link.evidence_id),
        }
        for link in links
    ]
    return mail_queue(
        template="expiry_reminder",
        to=_emails(organisations=[owner_id], roles=roles),
        subject="Evidence expiring on the NIR onboarding portal",
        context={"items": items, "today": _date(today)},
        organisation=Organisation(pk=owner_id),
    )


def reviewer_digest(*, user, links: list) -> list[OutgoingMail]:
    """To one reviewer: what waits in their review queue, oldest first."""
    items = [
        {
            "title": link.evidence.title,
            "owner": link.evidence.owner.name,
            "deployment": link.deployment.name,
            "submitted": _date(link.submitted_at),
            "url": _url("onboarding:evidence-review", link.pk),
        }
        for link in links
    ]
    count = len(items)
    return mail_queue(
        template="reviewer_digest",
        to=[user.email],
        subject=f"{count} evidence item{'s' if count != 1 else ''} wait{'' if count != 1 else 's'} for your review",
        context={"name": user.get_short_name(), "items": items, "queue_url": _url("onboarding:review-queue")},
        target=user,
    )


# --- clinical safety ---------------------------------------------------------------------------------


def sign_off_superseded(*, sign_off) -> list[OutgoingMail]:
    """To the CSO who signed, and the organisation's CSOs now: the sign-off no longer holds, and why."""
    deployment = sign_off.deployment
    return mail_queue(
        template="sign_off_superseded",
        to=[sign_off.cso.email, *_emails(organisations=[deployment.organisation_id], roles=[Role.CSO])],
        subject=f"Your sign-off of the hazard log of {deployment.name} has been superseded"[:200],
        context={
            "deployment": deployment.name,
            "signed_at": _date(sign_off.signed_at),
            "changes": [str(change) for change in sign_off.superseded_changes[:50]],
            "more_changes": max(len(sign_off.superseded_changes) - 50, 0),
            "sign_off_url": _url("safety:sign-off-detail", sign_off.pk),
            "sign_off_page_url": _url("safety:sign-off", deployment.pk),
        },
        organisation=deployment.organisation,
        target=sign_off,
    )


def go_live_authorised(*, authorisation) -> list[OutgoingMail]:
    """To the deploying organisation's deployment leads and the national team."""
    deployment = authorisation.deployment
    leads = _emails(organisations=[deployment.organisation_id], roles=LEAD_ROLES)
    return mail_queue(
        template="go_live_authorised",
        to=[*leads, *_national_team_emails()],
        subject=f"Go-live authorised: {deployment.name} ({deployment.organisation.name})"[:200],
        context={
            "deployment": deployment.name,
            "organisation": deployment.organisation.name,
            "approver": str(authorisation.approver),
            "statement": authorisation.statement,
            "snapshot_sha256": authorisation.snapshot_sha256,
            "deployment_url": _url("onboarding:deployment-detail", deployment.pk),
        },
        organisation=deployment.organisation,
        target=authorisation,
    )


def incident_reported(*, incident, hazards: list) -> list[OutgoingMail]:
    """To the organisation's CSOs: an incident touches a signed-off hazard, so the sign-off needs re-review."""
    deployment = incident.deployment
    return mail_queue(
        template="incident_reported",
        to=_emails(organisations=[deployment.organisation_id], roles=[Role.CSO]),
        subject=f"Safety incident {incident.reference} affects a signed-off hazard of {deployment.name}"[:200],
        context={
            "reference": incident.reference,
            "reporter": str(incident.reporter),
            "reported_on": _date(incident.reported_on),
            "deployment": deployment.name,
            "hazards": [hazard.reference for hazard in hazards],
            "incident_url": _url("safety:incident-detail", incident.pk),
        },
        organisation=deployment.organisation,
        target=incident,
    )


def hazard_re_review_requested(*, request, flagged: bool) -> list[OutgoingMail]:
    """To the organisation's CSOs: something outside the hazard log (an expired live certificate)
    asks them to look at a hazard again; `flagged` when the current sign-off covered it."""
    deployment, hazard = request.deployment, request.hazard
    which = f"{hazard.reference} {hazard.name}" if hazard else "A hazard"
    return mail_queue(
        template="hazard_re_review",
        to=_emails(organisations=[deployment.organisation_id], roles=[Role.CSO]),
        subject=f"{request.get_source_display()}: {hazard.reference if hazard else 'a hazard'} of "
        f"{deployment.name} needs your re-review"[:200],
        context={
            "source": request.get_source_display(),
            "reason": request.reason,
            "hazard": which,
            "deployment": deployment.name,
            "flagged": flagged,
            "hazard_url": _url("safety:hazard-detail", hazard.pk) if hazard else "",
            "sign_off_page_url": _url("safety:sign-off", deployment.pk),
        },
        organisation=deployment.organisation,
        target=request,
    )


# --- the certificate register ------------------------------------------------------------------------


def certificate_expiry(*, entry, revision, threshold_days: int, to: Iterable[str]) -> list[OutgoingMail]:
    """To the certificate's owner and the leads and CSOs of every organisation relying on it (the
    register works out who): it expires within `threshold_days`, or has expired (0)."""
    expired = threshold_days == 0
    return mail_queue(
        template="certificate_expiry",
        to=to,
        subject=(
            f"Certificate {entry.name} has expired"
            if expired
            else f"Certificate {entry.name} expires within {threshold_days} days"
        )[:200],
        context={
            "name": entry.name,
            "expired": expired,
            "live": entry.environment == entry.Environment.LIVE,
            "environment": entry.get_environment_display().lower(),
            "expires_at": f"{timezone.localtime(revision.not_after):%-d %B %Y %H:%M}",
            "purpose": entry.get_purpose_display(),
            "held_by": str(entry.holder),
            "owner": str(entry.owner),
            "subject": revision.subject,
            "fingerprint": revision.fingerprint_sha256,
            "entry_url": settings.SITE_URL.rstrip("/") + entry.get_absolute_url(),
        },
        organisation=entry.organisation,
        target=entry,
    )


def cscr_bundle_ready(*, job) -> list[OutgoingMail]:
    """To whoever requested the bundle."""
    return _cscr_bundle(job, "cscr_bundle_ready", f"Safety case bundle ready: {job.deployment.name}")


def cscr_bundle_failed(*, job) -> list[OutgoingMail]:
    """To whoever requested the bundle, once the job has really failed (a complete job is left alone)."""
    # Read again: the caller's copy predates its own update, which leaves a complete job alone.
    job = type(job).objects.select_related("deployment__organisation", "requested_by").get(pk=job.pk)
    if job.status != job.Status.FAILED:
        return []
    return _cscr_bundle(job, "cscr_bundle_failed", f"Safety case bundle could not be built: {job.deployment.name}")


def _cscr_bundle(job, template: str, subject: str) -> list[OutgoingMail]:
    return mail_queue(
        template=template,
        to=[job.requested_by.email],
        subject=subject[:200],
        context={
            "deployment": job.deployment.name,
            "version": job.version,
            "phase": job.get_lifecycle_phase_display(),
            "bundle_sha256": job.bundle_sha256,
            "failure_reason": job.failure_reason,
            "job_url": _url("cscr:job-detail", job.pk),
        },
        organisation=job.deployment.organisation,
        target=job,
    )
