"""Sending mail. Each task is keyed on one OutgoingMail row and is safe to run twice."""

from celery import shared_task

from nir_portal.mail import services
from nir_portal.mail.models import OutgoingMail
from nir_portal.periodic import periodic_task


@shared_task(bind=True, name="nir_portal.mail.tasks.mail_send", acks_late=True, max_retries=None)
def mail_send(self, mail_id: int) -> str:
    """Send one message; a refused or unreachable server is retried with backoff until the row's
    attempts reach MAIL_MAX_ATTEMPTS (the row, not Celery, counts them: a lost retry is swept up)."""
    outcome = services.mail_deliver(mail_id=mail_id)
    if outcome == services.RETRY:
        attempts = OutgoingMail.objects.filter(pk=mail_id).values_list("attempts", flat=True).first() or 1
        raise self.retry(countdown=services.retry_delay_seconds(attempts))
    return outcome


@periodic_task(name="nir_portal.mail.tasks.mail_send_stalled")
def mail_send_stalled() -> int:
    """Queue again every message whose attempt is long overdue."""
    stalled = services.mail_stalled_ids()
    for mail_id in stalled:
        services.mail_enqueue(mail_id)
    return len(stalled)
