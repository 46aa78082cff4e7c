"""Writing the audit trail. Every state-changing service calls `audit_event_record` inside its
own transaction, as its last step.

An entry is written unchained: the writing transaction takes no lock that orders it against other
writers, so audited writes commit side by side. Once it commits, the chainer (`audit_chain_extend`)
gives every committed unchained entry, in id order, the next position in the chain and its hashes,
in a short transaction of its own under one advisory lock. An entry whose transaction commits late
simply gets a later position, so the positions have no gaps even though ids commit out of order.
Whoever fails to take the lock leaves its entries to the session holding it; the next writer, the
chain check and every checkpoint chain whatever is still left.
"""

import contextlib
import hashlib
import json
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
# An entry still unchained this long after it was written means the chainer is not running.
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


_INSERT = (
    "INSERT INTO audit_auditevent (occurred_at, actor_id, actor_email, organisation_id, action, object_type, "
    "object_id, object_repr, changes, outcome, ip_address, user_agent, request_id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s::inet, %s, %s) RETURNING id"
)


def _insert_values(event: AuditEvent) -> list[Any]:
    return [
        event.occurred_at,
        event.actor_id,
        event.actor_email,
        event.organisation_id,
        event.action,
        event.object_type,
        event.object_id,
        event.object_repr,
        json.dumps(event.changes),
        event.outcome,
        event.ip_address,
        event.user_agent,
        event.request_id,
    ]


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
    # One plain INSERT: every audited write pays for this, and the ORM's save costs several times
    # the Python time of the statement itself.
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, _insert_values(event))
        event.pk = cursor.fetchone()[0]
    event._state.adding, event._state.db = False, connection.alias
    # Robust: the write has committed whatever happens to the chainer; a failure is logged, and the
    # entry is chained by the next writer or the chain check.
    transaction.on_commit(_chain_after_commit, robust=True)
    return event


def _chain_after_commit() -> None:
    """Chain the committed entries, this writer's among them, without ever waiting for the lock.

    When another session holds the lock, that session chains this entry: whoever chains a batch
    looks again once it has released the lock, and goes on while entries are pending and the lock
    is free. An entry that committed before the holder released the lock is therefore seen by the
    holder's next look, or by whoever took the lock after it. A holder that dies leaves its entries
    to the next writer, the chain check and the next checkpoint."""
    while (batch := _chain_batch(wait=False)) is not None and batch[1]:
        pass


def audit_chain_extend(*, wait: bool = True) -> int | None:
    """Give every committed unchained entry, in id order, its chain position and hashes.

    Returns how many entries were chained, or None when `wait` is false and another session holds
    the chain lock (it chains whatever it can see; see `_chain_after_commit`)."""
    chained = 0
    while True:
        batch = _chain_batch(wait=wait)
        if batch is None:
            return chained or None
        chained += batch[0]
        if batch[0] < CHAIN_BATCH:
            return chained


_PENDING_COLUMNS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_email",
    "organisation_id",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "changes",
    "outcome",
    "ip_address",
    "user_agent",
    "request_id",
)
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
_ANY_PENDING = "SELECT EXISTS (SELECT 1 FROM audit_auditevent WHERE chain_seq IS NULL)"
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
    answered by a query of its own: most writers find it busy and ask nothing more."""
    cursor.execute(lock_sql, [AUDIT_CHAIN_LOCK_KEY])
    if not cursor.fetchone()[0]:
        return False, []
    cursor.execute(_HEAD_AND_PENDING, [CHAIN_BATCH])
    head = cursor.fetchone()
    cursor.nextset()
    return True, _chain_plan(head, cursor.fetchall())


def _chain_batch(*, wait: bool) -> tuple[int, bool] | None:
    """Chain one batch: (entries chained, whether more may be pending), or None when the lock is busy."""
    if connection.in_atomic_block:
        # Inside a caller's transaction the lock must last until that transaction commits, or
        # another chainer could take it while these positions are still invisible to it.
        with transaction.atomic(), connection.cursor() as cursor:
            locked, plan = _locked_read(cursor, _LOCK["xact", wait])
            if not locked:
                return None
            if not plan:
                return 0, False
            cursor.execute(_CHAIN_UPDATE, plan)
            return plan[-1], plan[-1] == CHAIN_BATCH
    return _chain_batch_outside_transaction(wait=wait)


def _chain_batch_outside_transaction(*, wait: bool) -> tuple[int, bool] | None:
    """A writer after its commit: a session lock and statements sent together, so that a busy lock
    costs one round trip and a batch two."""
    with connection.cursor() as cursor:
        try:
            locked, plan = _locked_read(cursor, _LOCK["session", wait])
            if not locked:
                return None
            if not plan:
                cursor.execute(_UNLOCK, [AUDIT_CHAIN_LOCK_KEY])
                return 0, False
            # Committed before the unlock, so the next holder reads these positions; then look
            # once more, after the unlock, for entries that committed while the lock was held.
            cursor.execute(f"BEGIN; {_CHAIN_UPDATE}; COMMIT; {_UNLOCK}; {_ANY_PENDING}", [*plan, AUDIT_CHAIN_LOCK_KEY])
            while cursor.nextset():  # to the last result: whether entries are pending
                pass
            more = cursor.fetchone()[0]
        except BaseException:
            with contextlib.suppress(DatabaseError):  # a broken connection released the lock already
                cursor.execute(f"ROLLBACK; {_UNLOCK}", [AUDIT_CHAIN_LOCK_KEY])
            raise
    return plan[-1], more


def _chain_plan(head: tuple[int, str] | None, pending: list[tuple]) -> list[Any]:
    """The arguments of `_CHAIN_UPDATE` for the pending entries after the head, or [] for none."""
    if not pending:
        return []
    position, previous = head or (0, GENESIS_HASH)
    ids, positions, previous_hashes, entry_hashes = [], [], [], []
    for row in pending:
        values = dict(zip(_PENDING_COLUMNS, row, strict=True))
        # The form the ORM gives verification: jsonb and inet arrive as text.
        values["changes"] = json.loads(values["changes"]) if isinstance(values["changes"], str) else values["changes"]
        event = AuditEvent(**values)
        position += 1
        entry_hash = _entry_hash(previous, hashed_fields(event))
        ids.append(event.pk)
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
