"""Writing the audit trail. Every state-changing service calls `audit_event_record` inside its
own transaction, as its last step (see the lock note below)."""

import hashlib
import json
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from nir_portal.audit import context
from nir_portal.audit.models import AuditEvent

# One advisory lock orders the hash chain. It is taken last in every transaction (services write
# their audit event after their row locks), so it can never be held while waiting for a row lock.
AUDIT_CHAIN_LOCK_KEY = 0x4E4952_41554454  # "NIR" "AUDT"
GENESIS_HASH = "0" * 64


def _entry_hash(previous_hash: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((previous_hash + canonical).encode()).hexdigest()


def hashed_fields(event: AuditEvent) -> dict[str, Any]:
    """The fields an entry's hash covers, in the form used both when writing and verifying."""
    return {
        "occurred_at": event.occurred_at.isoformat(),
        "actor": event.actor_id,
        "actor_email": event.actor_email,
        "organisation": event.organisation_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "changes": event.changes,
        "outcome": event.outcome,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
    }


@transaction.atomic
def audit_event_record(
    *,
    action: str,
    actor=None,
    organisation=None,
    target: Model | None = None,
    object_type: str = "",
    object_id: str = "",
    changes: dict[str, Any] | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    actor_email: str = "",
) -> AuditEvent:
    request_context = context.current()
    if target is not None:
        object_type = object_type or target._meta.label_lower
        object_id = object_id or str(target.pk)
    is_person = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        occurred_at=timezone.now(),
        actor=actor if is_person else None,
        actor_email=(actor.email if is_person else actor_email)[:254],
        organisation=organisation,
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=(str(target) if target is not None else "")[:255],
        changes=json.loads(json.dumps(changes or {}, default=str)),
        outcome=outcome,
        ip_address=request_context.ip_address,
        user_agent=request_context.user_agent,
        request_id=request_context.request_id,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_CHAIN_LOCK_KEY])
    previous = AuditEvent.objects.order_by("-id").values_list("entry_hash", flat=True).first()
    event.previous_hash = previous or GENESIS_HASH
    event.entry_hash = _entry_hash(event.previous_hash, hashed_fields(event))
    event.save(force_insert=True)
    return event


def audit_chain_verify() -> tuple[bool, int | None]:
    """Recompute the chain; returns (intact, id of the first broken entry or None)."""
    previous = GENESIS_HASH
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.previous_hash != previous or event.entry_hash != _entry_hash(previous, hashed_fields(event)):
            return False, event.pk
        previous = event.entry_hash
    return True, None
