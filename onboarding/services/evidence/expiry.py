"""Expiring accepted evidence whose revision has passed its expiry date."""

from datetime import date

from django.db import transaction
from django.utils import timezone

from nir_portal.audit.services import audit_event_record
from onboarding.models import (
    EvidenceLink,
)
from onboarding.services.evidence.rules import _evidence_changed


@transaction.atomic
def evidence_expire_due(*, today: date | None = None) -> list[int]:
    """Mark accepted evidence whose revision has expired; returns the link ids changed."""
    today = today or timezone.localdate()
    due = list(
        EvidenceLink.objects.select_for_update(of=("self",))
        .filter(status=EvidenceLink.Status.ACCEPTED, revision__expiry_date__lte=today)
        .select_related("evidence__owner", "revision")
    )
    now = timezone.now()
    for link in due:
        link.status = EvidenceLink.Status.EXPIRED
        link.status_changed_at = now
        link.version += 1
        link.save(update_fields=["status", "status_changed_at", "version"])
        audit_event_record(
            action="evidence.expire",
            target=link,
            organisation=link.evidence.owner,
            changes={"expired_on": str(link.revision.expiry_date if link.revision else today)},
        )
    _evidence_changed(link.deployment_id for link in due)
    return [link.pk for link in due]
