"""`verify_audit`: chain what is pending, recompute the chain, then check it against every
checkpoint, those in the database and those in storage outside it. Reports the first entry that differs, or each
checkpoint that no longer matches. Read-only (`--read-only`, for a replica or an account that may
only read): nothing is chained first, in a transaction the database itself keeps from writing, and
the entries not yet chained are counted, not checked."""

import base64
import hashlib
import json
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.core.files.storage import storages
from django.db import connection, transaction

from nir_portal import signing
from nir_portal.audit.checkpoints import (
    STORAGE_ALIAS,
    signature_valid,
    stored_checkpoint_names,
    timestamp_covers,
)
from nir_portal.audit.models import AuditCheckpoint, AuditEvent
from nir_portal.audit.services import (
    CHAIN_STALE_AFTER,
    GENESIS_HASH,
    audit_chain_extend,
    audit_chain_stale,
    chain_breaks,
    chained_in_order,
)


@dataclass
class AuditVerification:
    entries: int = 0
    first_broken_id: int | None = None
    checkpoints_checked: int = 0
    problems: list[str] = field(default_factory=list)
    unchained: int = 0  # read-only: entries written since the last chaining, not checked

    @property
    def intact(self) -> bool:
        return self.first_broken_id is None and not self.problems


@dataclass(frozen=True)
class _Checkpoint:
    where: str  # "database" or the storage object's name
    sequence: int
    payload: str
    signature: str
    certificate_pem: str
    timestamp_token: str


def _from_database() -> list[_Checkpoint]:
    return [
        _Checkpoint("database", c.sequence, c.payload, c.signature, c.certificate_pem, c.timestamp_token)
        for c in AuditCheckpoint.objects.order_by("sequence")
    ]


def _from_storage(result: AuditVerification) -> list[_Checkpoint]:
    storage = storages[STORAGE_ALIAS]
    found = []
    for sequence, name in stored_checkpoint_names():
        try:
            with storage.open(name, "rb") as stored:
                document = json.loads(stored.read())
            payload = json.dumps(document["payload"], sort_keys=True, separators=(",", ":"))
            found.append(
                _Checkpoint(
                    f"storage {name}",
                    sequence,
                    payload,
                    document["signature"],
                    document["certificate_pem"],
                    document.get("timestamp_token", ""),
                )
            )
        except (OSError, ValueError, KeyError) as error:
            result.problems.append(f"Checkpoint {sequence} in storage {name} cannot be read: {error}")
    return found


def _counted(events, result: AuditVerification, wanted: set, hashes_at: dict):
    for event in events:
        result.entries += 1
        if event.pk in wanted:
            hashes_at[event.pk] = event.entry_hash
        yield event


def _trusted_fingerprints() -> set[str]:
    return {signing.certificate_fingerprint(c) for c in signing.trusted_certificates()}


def audit_verify(*, read_only: bool = False) -> AuditVerification:
    if not read_only:
        return _verify(chain_first=True)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL transaction_read_only = on")
        result = _verify(chain_first=False)
        transaction.set_rollback(True)  # nothing was written; this also lifts the read-only setting
    return result


def _verify(*, chain_first: bool) -> AuditVerification:
    result = AuditVerification()
    # Entries long unchained are a stuck chainer, reported below; then what has committed is chained,
    # so the check covers every entry written up to now (read-only, they are counted instead).
    stale = audit_chain_stale()
    if chain_first:
        audit_chain_extend()
    else:
        result.unchained = AuditEvent.objects.filter(chain_seq__isnull=True).count()
    checkpoints = _from_database() + _from_storage(result)
    wanted = {json.loads(c.payload).get("last_event_id") for c in checkpoints}
    hashes_at: dict[int | None, str] = {None: GENESIS_HASH}
    breaks = chain_breaks(_counted(chained_in_order(), result, wanted, hashes_at))
    first_broken = next(breaks, None)
    if first_broken is not None:
        result.first_broken_id = first_broken.pk
        for _ in breaks:  # read to the end: the count and the hashes checkpoints signed
            pass
        result.problems.append(
            f"Entry {first_broken.pk} differs from the chain at position {first_broken.chain_seq} "
            "(its position, previous hash or hash does not follow the entry before it)."
        )
    if stale:
        result.problems.append(
            f"Entries {stale} were written more than {int(CHAIN_STALE_AFTER.total_seconds())} s ago and are "
            "still unchained: the chainer is not running."
        )

    trusted = _trusted_fingerprints()
    database_payloads = {c.sequence: c.payload for c in checkpoints if c.where == "database"}
    stored_sequences = {c.sequence for c in checkpoints if c.where != "database"}
    for checkpoint in checkpoints:
        result.checkpoints_checked += 1
        result.problems += _checkpoint_problems(checkpoint, hashes_at, trusted, database_payloads)
    missing = sorted(stored_sequences - set(database_payloads))
    if missing:
        result.problems.append(f"Checkpoints {missing} are in storage but missing from the database.")
    return result


def _checkpoint_problems(checkpoint, hashes_at, trusted, database_payloads) -> list[str]:
    name = f"Checkpoint {checkpoint.sequence} ({checkpoint.where})"
    payload = checkpoint.payload.encode()
    problems = []
    if not signature_valid(payload, base64.b64decode(checkpoint.signature), checkpoint.certificate_pem):
        return [f"{name}: its signature does not verify; the checkpoint was altered."]
    der = x509.load_pem_x509_certificate(checkpoint.certificate_pem.encode()).public_bytes(serialization.Encoding.DER)
    if hashlib.sha256(der).hexdigest() not in trusted:
        problems.append(f"{name}: signed with a certificate this portal does not sign with.")
    if checkpoint.timestamp_token and not timestamp_covers(base64.b64decode(checkpoint.timestamp_token), payload):
        problems.append(f"{name}: its RFC 3161 timestamp does not cover the checkpoint.")
    data = json.loads(checkpoint.payload)
    last_id, last_hash = data.get("last_event_id"), data.get("last_hash")
    if last_id not in hashes_at:
        problems.append(f"{name}: entry {last_id} that it signed no longer exists.")
    elif hashes_at[last_id] != last_hash:
        problems.append(
            f"{name}: no longer matches: entry {last_id} has hash {hashes_at[last_id]}, the signed checkpoint says "
            f"{last_hash}. The chain up to entry {last_id} was rewritten."
        )
    stored_copy = checkpoint.where != "database" and checkpoint.sequence in database_payloads
    if stored_copy and json.loads(database_payloads[checkpoint.sequence]) != data:
        problems.append(f"{name}: differs from the database's copy of checkpoint {checkpoint.sequence}.")
    return problems
