"""Scheduled checks that belong to no single app."""

import logging

from nir_portal.audit.checkpoints import audit_checkpoint_create
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_chain_extend, audit_chain_stale, audit_chain_verify, audit_event_record
from nir_portal.periodic import periodic_task

logger = logging.getLogger(__name__)


@periodic_task(name="nir_portal.tasks.audit_chain_check")
def audit_chain_check() -> dict:
    """Chain what is pending, then recompute the audit trail's hash chain (daily, from beat).

    Every run leaves an `audit.chain_checked` entry, so the trail itself shows the control ran. A
    break is logged as an error on every run, but recorded as `audit.chain_broken` once per broken
    entry: running the task again does not repeat the alarm in the trail.
    """
    # Entries left unchained long after they were written mean the after-commit chainer is failing;
    # the check then chains them itself, so the trail is whole again, but says so.
    stale = audit_chain_stale()
    if stale:
        logger.error("Audit entries %s were still unchained: the chainer is not running.", stale)
    audit_chain_extend()
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
        outcome=AuditEvent.Outcome.SUCCESS if intact and not stale else AuditEvent.Outcome.FAILURE,
        changes={"intact": intact, "first_broken_id": first_broken_id, "stale_unchained": stale},
    )
    return {"intact": intact, "first_broken_id": first_broken_id, "stale_unchained": stale}


@periodic_task(name="nir_portal.tasks.audit_chain_sweep", ignore_result=True)
def audit_chain_sweep() -> int:
    """Chain every committed entry still unchained (every few seconds, from beat). Writers chain in
    passes at most every `CHAIN_INTERVAL`, so the entries written after a burst's last pass wait for
    this sweep when no further write comes. Returns how many it chained."""
    return audit_chain_extend() or 0


@periodic_task(name="nir_portal.tasks.audit_checkpoint_take", acks_late=True)
def audit_checkpoint_take(reason: str = "scheduled", **context) -> int:
    """Sign and store the audit chain's head (hourly from beat, and after each CSCR bundle is signed)."""
    return audit_checkpoint_create(reason=reason, context=context).sequence


@periodic_task(name="nir_portal.tasks.sessions_clear_expired", ignore_result=True)
def sessions_clear_expired() -> int:
    """Delete the stored sessions that have expired (daily, from beat): an idle session ends when
    its expiry passes, but its row stays until removed. Returns how many were deleted."""
    from nir_portal.sessions import SessionStore

    return SessionStore.clear_expired()
