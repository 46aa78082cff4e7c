"""Outgoing mail. A service that owes someone a message calls `mail_queue` inside its own
transaction: the message rows commit with the action or not at all, and a worker sends them once the
transaction has committed. Nothing here talks to a mail server inside a web request, so an SMTP
outage never undoes or fails a saved action; it only delays the message, which is retried with
backoff, swept up if its task was lost, and can be re-sent."""

import json
import logging
import smtplib
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMultiAlternatives
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Model
from django.template.loader import render_to_string
from django.utils import timezone

from nir_portal.accounts import permissions as account_permissions
from nir_portal.audit import context as request_context
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_event_record
from nir_portal.mail.models import OutgoingMail
from nir_portal.task_registry import registered_task

# The task that sends one message (nir_portal.mail.tasks), enqueued by name.
MAIL_SEND = "nir_portal.mail.tasks.mail_send"

logger = logging.getLogger(__name__)

# Per template: values worked out only when the message is sent, never stored (a password-set link
# is a credential, and a fresh one must go out when an invitation is re-sent).
SEND_TIME_CONTEXT: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}

SENT, RETRY, FAILED, SKIPPED = "sent", "retry", "failed", "skipped"


def retry_delay_seconds(attempts: int) -> int:
    """Backoff after the nth failed attempt: 1, 2, 4 ... minutes, at most an hour."""
    return int(min(3600, 60 * 2 ** max(attempts - 1, 0)))


def _plain(context: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(context, cls=DjangoJSONEncoder))


def mail_enqueue(mail_id: int) -> None:
    registered_task(MAIL_SEND).delay(mail_id)


@transaction.atomic
def mail_queue(
    *,
    template: str,
    to: Iterable[str],
    subject: str,
    context: dict[str, Any],
    organisation=None,
    target: Model | None = None,
) -> list[OutgoingMail]:
    """Owe each recipient one message; it is sent after the caller's transaction commits."""
    recipients = sorted({address.strip().lower() for address in to if address and address.strip()})
    plain = _plain({**context, "site_url": settings.SITE_URL.rstrip("/")})
    rows = OutgoingMail.objects.bulk_create(
        [
            OutgoingMail(
                template=template,
                to=address,
                subject=subject[:200],
                context=plain,
                organisation=organisation,
                object_type=target._meta.label_lower if target is not None else "",
                object_id=str(target.pk) if target is not None else "",
                request_id=request_context.current().request_id,
            )
            for address in recipients
        ]
    )
    for row in rows:
        # robust: a broker that is down at commit must not turn the saved action into an error;
        # the periodic sweep sends what was never queued.
        transaction.on_commit(partial(mail_enqueue, row.pk), robust=True)
    return rows


def mail_render(mail: OutgoingMail) -> EmailMultiAlternatives:
    context = {**mail.context, **SEND_TIME_CONTEXT.get(mail.template, lambda c: {})(mail.context)}
    text = render_to_string(f"mail/{mail.template}.txt", context)
    html = render_to_string(f"mail/{mail.template}.html", {**context, "subject": mail.subject})
    message = EmailMultiAlternatives(subject=mail.subject, body=text, to=[mail.to])
    message.attach_alternative(html, "text/html")
    return message


def mail_deliver(*, mail_id: int) -> str:
    """Send one message unless it has been sent. The row stays locked while the server is spoken to,
    so a second delivery of the same task waits and then finds it sent."""
    with transaction.atomic():
        mail = OutgoingMail.objects.select_for_update().filter(pk=mail_id).first()
        if mail is None or mail.status != OutgoingMail.Status.PENDING:
            return SKIPPED
        mail.attempts += 1
        try:
            message = mail_render(mail)
        except Exception as error:  # noqa: BLE001  a message that cannot be rendered never will be
            return _give_up(mail, f"Could not render the message: {error}")
        try:
            message.send()
        except (smtplib.SMTPException, OSError) as error:
            mail.last_error = f"{type(error).__name__}: {error}"[:1000]
            if mail.attempts >= settings.MAIL_MAX_ATTEMPTS:
                return _give_up(mail, mail.last_error)
            mail.next_attempt_at = timezone.now() + timedelta(seconds=retry_delay_seconds(mail.attempts))
            mail.save(update_fields=["attempts", "last_error", "next_attempt_at", "updated_at"])
            logger.warning("Mail %s to %s not sent (attempt %s): %s", mail.pk, mail.to, mail.attempts, error)
            return RETRY
        mail.status, mail.sent_at, mail.last_error = OutgoingMail.Status.SENT, timezone.now(), ""
        mail.save(update_fields=["status", "sent_at", "attempts", "last_error", "updated_at"])
        logger.info("Mail %s (%s) sent to %s", mail.pk, mail.template, mail.to)
        return SENT


def _give_up(mail: OutgoingMail, reason: str) -> str:
    mail.status, mail.last_error = OutgoingMail.Status.FAILED, reason[:1000]
    mail.save(update_fields=["status", "attempts", "last_error", "updated_at"])
    audit_event_record(
        action="mail.failed",
        organisation=mail.organisation,
        target=mail,
        outcome=AuditEvent.Outcome.FAILURE,
        changes={"template": mail.template, "to": mail.to, "attempts": mail.attempts, "reason": reason[:500]},
    )
    logger.error("Mail %s to %s failed after %s attempt(s): %s", mail.pk, mail.to, mail.attempts, reason)
    return FAILED


def mail_stalled_ids(*, grace: timedelta = timedelta(minutes=10)) -> list[int]:
    """Messages still waiting well after their attempt was due: their task was never queued (the
    broker was down at commit) or was lost."""
    due_before = timezone.now() - grace
    return list(
        OutgoingMail.objects.filter(status=OutgoingMail.Status.PENDING, next_attempt_at__lt=due_before)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )


def can_resend(user, mail: OutgoingMail) -> bool:
    if account_permissions.is_national_admin(user):
        return True
    return mail.organisation is not None and account_permissions.can_manage_members(user, mail.organisation)


@transaction.atomic
def mail_resend(*, actor, mail: OutgoingMail) -> OutgoingMail:
    """Send a message again as a new row (the original keeps its own history)."""
    if not can_resend(actor, mail):
        raise PermissionDenied("You cannot re-send this message.")
    copy = OutgoingMail.objects.create(
        template=mail.template,
        to=mail.to,
        subject=mail.subject,
        context=mail.context,
        organisation=mail.organisation,
        object_type=mail.object_type,
        object_id=mail.object_id,
        resent_from=mail,
        request_id=request_context.current().request_id,
    )
    audit_event_record(
        action="mail.resend",
        actor=actor,
        organisation=mail.organisation,
        target=copy,
        changes={"resent_from": mail.pk, "template": mail.template, "to": mail.to},
    )
    transaction.on_commit(partial(mail_enqueue, copy.pk), robust=True)
    return copy
