"""Writing the audit trail. Every state-changing service calls `audit_event_record` inside its
own transaction, as its last step.

An entry is written unchained, with one INSERT: the writing transaction takes no lock that orders it
against other writers and computes no hash, so audited writes commit side by side. The chain is
extended afterwards, in batches, by the chainer (`audit_chain_extend`): under one advisory lock, in a
short transaction of its own, it gives every committed unchained entry, in id order, the next
position in the chain and its hashes. An entry whose transaction commits late simply gets a later
position, so the positions have no gaps even though ids commit out of order.

Who chains: a writer, after its commit, at most once per `CHAIN_INTERVAL` in each process and only
when the lock is free (most writers do nothing more than their INSERT); the periodic sweep
(`nir_portal.tasks.audit_chain_sweep`, every few seconds from beat), which chains what is left when
no further write comes; and every reader that needs the whole chain (the chain check, `verify_audit`,
each checkpoint, each export) chains what is pending first. An entry still unchained after
`CHAIN_STALE_AFTER` means none of these is running, and is reported.
"""

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from nir_portal.audit import context
from nir_portal.audit.models import AuditEvent

# One advisory lock orders the hash chain. Only the chainer takes it, in a transaction that holds no
# other lock, so it can never be part of a wait cycle with a service's row locks.
AUDIT_CHAIN_LOCK_KEY = 0x4E4952_41554454  # "NIR" "AUDT"
GENESIS_HASH = "0" * 64
CHAIN_BATCH = 2000
# A writer chains (what every writer has committed so far) at most this often in each process.
CHAIN_INTERVAL = 0.25  # seconds
# An entry still unchained this long after it was written means the chainer is not running: the
# periodic sweep alone chains every few seconds.
CHAIN_STALE_AFTER = timedelta(seconds=30)


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


# The columns an entry is written with, in the order `audit_event_record` gives their values; the
# chain fields stay NULL until it is chained.
_INSERT = (
    "INSERT INTO audit_auditevent (occurred_at, actor_id, actor_email, organisation_id, action, object_type, "
    "object_id, object_repr, changes, outcome, ip_address, user_agent, request_id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s::inet, %s, %s) RETURNING id"
)
_FIELDS = AuditEvent._meta.concrete_fields


# No savepoint: an entry that cannot be written fails the caller's whole transaction anyway.
@transaction.atomic(savepoint=False)
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
    """Write one entry, unchained: one INSERT and nothing else in the caller's transaction (no lock,
    no hash). Every audited write pays for this function, so it builds the statement's values
    directly: the ORM's save costs several times the Python time of the statement itself."""
    request_context = context.current()
    if target is not None:
        object_type = object_type or target._meta.label_lower
        object_id = object_id or str(target.pk)
    is_person = actor is not None and getattr(actor, "is_authenticated", False)
    changes_json = json.dumps(changes or {}, default=str)
    row = {
        "occurred_at": timezone.now(),
        "actor_id": actor.pk if is_person else None,
        "actor_email": (actor.email if is_person else actor_email)[:254],
        "organisation_id": organisation.pk if organisation is not None else None,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "object_repr": (str(target) if target is not None else "")[:255],
        "changes": changes_json,
        "outcome": outcome,
        "ip_address": request_context.ip_address,
        "user_agent": request_context.user_agent,
        "request_id": request_context.request_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, list(row.values()))
        row["id"] = cursor.fetchone()[0]
    # Robust: the write has committed whatever happens to the chainer; a failure is logged, and the
    # entry is chained by the next pass (another writer's, or the periodic sweep's).
    transaction.on_commit(_chain_after_commit, robust=True)
    # The entry as written, built as the ORM builds a row it reads (by position: its fast path).
    row["changes"] = json.loads(changes_json)
    event = AuditEvent(*[row.get(field.attname) for field in _FIELDS])
    event._state.adding, event._state.db = False, connection.alias
    if is_person:
        AuditEvent.actor.field.set_cached_value(event, actor)
    if organisation is not None:
        AuditEvent.organisation.field.set_cached_value(event, organisation)
    return event


# When this process's writers may next chain (time.monotonic()). Shared by its threads without a
# lock: two threads that both find it due only both try the chain lock, and one of them gets it.
_chain_due_at = 0.0


def _chain_after_commit() -> None:
    """A writer, after its commit: chain what has committed, if this process has not done so within
    `CHAIN_INTERVAL` and no other session holds the chain lock. One pass, never a wait: entries that
    commit while it runs are left to the next pass (a writer's, or the periodic sweep's)."""
    global _chain_due_at
    now = time.monotonic()
    if now < _chain_due_at:
        return
    _chain_due_at = now + CHAIN_INTERVAL
    audit_chain_extend(wait=False)


def audit_chain_extend(*, wait: bool = True) -> int | None:
    """Give every committed unchained entry, in id order, its chain position and hashes.

    Returns how many entries were chained, or None when `wait` is false and another session holds
    the chain lock (that session chains whatever had committed when it looked; the rest is left to
    the next pass)."""
    chained = 0
    while True:
        batch = _chain_batch(wait=wait)
        if batch is None:
            return chained or None
        chained += batch
        if batch < CHAIN_BATCH:
            return chained


# Separate statements: each reads a snapshot taken after the one before it, so the head and the
# pending entries are read after the lock is granted, with every earlier batch committed.
_HEAD_AND_PENDING = (
    "SELECT chain_seq, entry_hash FROM audit_auditevent WHERE chain_seq IS NOT NULL "
    "ORDER BY chain_seq DESC LIMIT 1; "
    "SELECT id, occurred_at, actor_id, actor_email, organisation_id, action, object_type, object_id, "
    "object_repr, changes, outcome, ip_address, user_agent, request_id "
    "FROM audit_auditevent WHERE chain_seq IS NULL ORDER BY id LIMIT %s"
)
_LOCK = {
    ("xact", True): "SELECT true FROM pg_advisory_xact_lock(%s)",
    ("xact", False): "SELECT pg_try_advisory_xact_lock(%s)",
    ("session", True): "SELECT true FROM pg_advisory_lock(%s)",
    ("session", False): "SELECT pg_try_advisory_lock(%s)",
}
_UNLOCK = "SELECT pg_advisory_unlock(%s)"
# One statement for the batch, which fails as a whole (division by zero) unless it chained every
# entry it was given: only a chainer that bypassed the lock could have chained one of them first.
_CHAIN_UPDATE = (
    "WITH chained AS ("
    "UPDATE audit_auditevent AS e SET chain_seq = c.seq, previous_hash = c.previous, entry_hash = c.entry "
    "FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[], %s::varchar[]) AS c(id, seq, previous, entry) "
    "WHERE e.id = c.id AND e.chain_seq IS NULL RETURNING 1"
    ") SELECT CASE WHEN count(*) = %s THEN count(*) ELSE count(*) / 0 END FROM chained"
)


def _locked_read(cursor, lock_sql: str) -> tuple[bool, list[Any]]:
    """Take (or try) the lock, then read the plan's arguments for the next batch. A busy lock is
    answered by a query of its own: a writer that finds it busy asks nothing more."""
    cursor.execute(lock_sql, [AUDIT_CHAIN_LOCK_KEY])
    if not cursor.fetchone()[0]:
        return False, []
    cursor.execute(_HEAD_AND_PENDING, [CHAIN_BATCH])
    head = cursor.fetchone()
    cursor.nextset()
    return True, _chain_plan(head, cursor.fetchall())


def _chain_batch(*, wait: bool) -> int | None:
    """Chain one batch (up to `CHAIN_BATCH` entries): how many it chained, or None when the lock is busy."""
    if connection.in_atomic_block:
        # Inside a caller's transaction the lock must last until that transaction commits, or
        # another chainer could take it while these positions are still invisible to it.
        with transaction.atomic(), connection.cursor() as cursor:
            locked, plan = _locked_read(cursor, _LOCK["xact", wait])
            if not locked:
                return None
            if not plan:
                return 0
            cursor.execute(_CHAIN_UPDATE, plan)
            return plan[-1]
    return _chain_batch_outside_transaction(wait=wait)


def _chain_batch_outside_transaction(*, wait: bool) -> int | None:
    """Outside a transaction (a writer after its commit, the sweep): a session lock and statements
    sent together, so that a busy lock costs one round trip and a batch three."""
    with connection.cursor() as cursor:
        try:
            locked, plan = _locked_read(cursor, _LOCK["session", wait])
            if not locked:
                return None
            if not plan:
                cursor.execute(_UNLOCK, [AUDIT_CHAIN_LOCK_KEY])
                return 0
            # Committed before the unlock, so the next holder reads these positions. A crash before
            # the COMMIT chains nothing: the batch is one transaction, and the lock dies with the
            # session.
            cursor.execute(f"BEGIN; {_CHAIN_UPDATE}; COMMIT; {_UNLOCK}", [*plan, AUDIT_CHAIN_LOCK_KEY])
        except BaseException:
            with contextlib.suppress(DatabaseError):  # a broken connection released the lock already
                cursor.execute(f"ROLLBACK; {_UNLOCK}", [AUDIT_CHAIN_LOCK_KEY])
            raise
    return plan[-1]


def _row_hashed_fields(row: tuple) -> dict[str, Any]:
    """`hashed_fields` of a pending entry read by `_HEAD_AND_PENDING`, without building the model:
    the same values the ORM gives verification (jsonb and inet arrive as text)."""
    (
        _id,
        occurred_at,
        actor_id,
        actor_email,
        organisation_id,
        action,
        object_type,
        object_id,
        object_repr,
        changes,
        outcome,
        ip_address,
        user_agent,
        request_id,
    ) = row
    return {
        "occurred_at": occurred_at.isoformat(),
        "actor": actor_id,
        "actor_email": actor_email,
        "organisation": organisation_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "object_repr": object_repr,
        "changes": json.loads(changes) if isinstance(changes, str) else changes,
        "outcome": outcome,
        "ip_address": ip_address,
        "user_agent": user_agent,
        "request_id": request_id,
    }


def _chain_plan(head: tuple[int, str] | None, pending: list[tuple]) -> list[Any]:
    """The arguments of `_CHAIN_UPDATE` for the pending entries after the head, or [] for none."""
    if not pending:
        return []
    position, previous = head or (0, GENESIS_HASH)
    ids, positions, previous_hashes, entry_hashes = [], [], [], []
    for row in pending:
        position += 1
        entry_hash = _entry_hash(previous, _row_hashed_fields(row))
        ids.append(row[0])
        positions.append(position)
        previous_hashes.append(previous)
        entry_hashes.append(entry_hash)
        previous = entry_hash
    return [ids, positions, previous_hashes, entry_hashes, len(ids)]


def chain_tail() -> AuditEvent | None:
    """The last chained entry (the chain's head): chained entries always form an unbroken prefix."""
    return (
        AuditEvent.objects.filter(chain_seq__isnull=False)
        .order_by("-chain_seq")
        .only("id", "chain_seq", "entry_hash")
        .first()
    )


def audit_chain_stale() -> list[int]:
    """Ids of entries still unchained long after they were written (a stuck chainer)."""
    cutoff = timezone.now() - CHAIN_STALE_AFTER
    return list(
        AuditEvent.objects.filter(chain_seq__isnull=True, occurred_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:100]
    )


def chain_breaks(events) -> Iterator[AuditEvent]:
    """Each chained entry (in chain order) that does not follow the one before: a position out of
    sequence (a gap: an entry removed), a previous hash that is not the last entry's, or a hash that
    does not recompute."""
    previous, expected = GENESIS_HASH, 1
    for event in events:
        if (
            event.chain_seq != expected
            or event.previous_hash != previous
            or event.entry_hash != _entry_hash(previous, hashed_fields(event))
        ):
            yield event
        previous, expected = event.entry_hash, (event.chain_seq or 0) + 1


def chained_in_order():
    return AuditEvent.objects.filter(chain_seq__isnull=False).order_by("chain_seq").iterator(chunk_size=2000)


def audit_chain_verify() -> tuple[bool, int | None]:
    """Recompute the chain; returns (intact, id of the first broken entry or None). Entries not yet
    chained are not part of it (see `audit_chain_stale`)."""
    broken = next(chain_breaks(chained_in_order()), None)
    return (True, None) if broken is None else (False, broken.pk)
