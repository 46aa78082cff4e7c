"""Scheduled checks that belong to no single app."""

import logging

from nir_portal.audit.checkpoints import audit_checkpoint_create
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_chain_verify, audit_event_record
from nir_portal.periodic import periodic_task

logger = logging.getLogger(__name__)


@periodic_task(name="nir_portal.tasks.audit_chain_check")
def audit_chain_check() -> dict:
    """Recompute the audit trail's hash chain (daily, from beat).

    Every run leaves an `audit.chain_checked` entry, so the trail itself shows the control ran. A
    break is logged as an error on every run, but recorded as `audit.chain_broken` once per broken
    entry: running the task again does not repeat the alarm in the trail.
    """
    intact, first_broken_id = audit_chain_verify()
    if not intact:
        logger.error("The audit trail's hash chain is broken at entry %s.", first_broken_id)
        already_recorded = AuditEvent.objects.filter(
            action="audit.chain_broken", changes__first_broken_id=first_broken_id
        ).exists()
        if not already_recorded:
            audit_event_record(
                action="audit.chain_broken",
                outcome=AuditEvent.Outcome.FAILURE,
                changes={"first_broken_id": first_broken_id},
            )
    audit_event_record(
        action="audit.chain_checked",
        outcome=AuditEvent.Outcome.SUCCESS if intact else AuditEvent.Outcome.FAILURE,
        changes={"intact": intact, "first_broken_id": first_broken_id},
    )
    return {"intact": intact, "first_broken_id": first_broken_id}


@periodic_task(name="nir_portal.tasks.audit_checkpoint_take", acks_late=True)
def audit_checkpoint_take(reason: str = "scheduled", **context) -> int:
    """Sign and store the audit chain's head (hourly from beat, and after each CSCR bundle is signed)."""
    return audit_checkpoint_create(reason=reason, context=context).sequence
