"""Reading the audit trail: the national team's view of it, filtered into slices."""

from datetime import datetime

from django.db.models import Q, QuerySet

from nir_portal.accounts import permissions as account_permissions
from nir_portal.audit.models import AuditEvent


def audit_events_visible_to(user) -> QuerySet[AuditEvent]:
    """Every entry for the national team; nothing for anyone else."""
    if not account_permissions.is_national(user):
        return AuditEvent.objects.none()
    return AuditEvent.objects.select_related("organisation")


def audit_events_slice(
    events: QuerySet[AuditEvent],
    *,
    organisation_id: int | None = None,
    deployment_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    actor: str = "",
) -> QuerySet[AuditEvent]:
    if organisation_id:
        events = events.filter(organisation_id=organisation_id)
    if deployment_id:
        # By label, not by import: the audit trail sits below the apps that own deployments.
        events = events.filter(
            Q(object_type="onboarding.deployment", object_id=str(deployment_id)) | Q(changes__deployment=deployment_id)
        )
    if start:
        events = events.filter(occurred_at__gte=start)
    if end:
        events = events.filter(occurred_at__lt=end)
    if actor:
        events = events.filter(actor_email__iexact=actor.strip())
    return events
