"""Mail about the safety case's life: who is told, and a Celery task queued once the transaction
that caused it has committed."""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from nir_portal.accounts.models import Membership, Role
from nir_portal.task_registry import registered_task
from onboarding.models import Deployment

LIFECYCLE_NOTICE_SEND = "safety.tasks.lifecycle_notice_send"


def people_of(deployment: Deployment, roles: tuple[str, ...]) -> list[str]:
    return sorted(
        set(
            Membership.objects.filter(organisation_id=deployment.organisation_id, role__in=roles).values_list(
                "user__email", flat=True
            )
        )
    )


def supplier_people(organisation_id: int) -> list[str]:
    roles = (Role.SUPPLIER_CSO, Role.SUPPLIER_ASSURANCE_LEAD)
    return sorted(
        set(
            Membership.objects.filter(organisation_id=organisation_id, role__in=roles).values_list(
                "user__email", flat=True
            )
        )
    )


def notice_queue(*, subject: str, body: str, recipients: list[str]) -> None:
    """Queue one notice after commit; nothing is sent for a transaction that rolls back."""
    if not recipients:
        return
    body = f"{body}\n\n{settings.SITE_URL}"
    transaction.on_commit(lambda: registered_task(LIFECYCLE_NOTICE_SEND).delay(subject, body, list(recipients)))


def notice_deliver(*, subject: str, body: str, recipients: list[str]) -> int:
    return send_mail(subject, body, None, recipients)
