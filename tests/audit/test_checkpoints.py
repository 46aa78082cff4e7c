"""Tamper evidence that survives a database superuser: signed checkpoints of the chain's head,
kept in the database and, append-only, in storage outside it; `verify_audit` checks the chain
against all of them."""

import base64
import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from nir_portal.audit import checkpoints
from nir_portal.audit.checkpoints import CheckpointExists, audit_checkpoint_create, storage_document
from nir_portal.audit.models import AuditCheckpoint, AuditEvent
from nir_portal.audit.services import (
    GENESIS_HASH,
    _entry_hash,
    audit_chain_extend,
    audit_chain_verify,
    audit_event_record,
    hashed_fields,
)
from nir_portal.audit.verification import audit_verify
from tests.cscr.test_services import _TimestampAuthority

TRIGGER_OF = {"audit_auditevent": "pgtrigger_audit_append_only_", "audit_auditcheckpoint": "pgtrigger_audit_checkpoint"}


@pytest.fixture
def checkpoint_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "cscr": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path / "cscr"}},
    }
    settings.CSCR_SIGNING_DEV_DIR = tmp_path / "signing"
    settings.CSCR_TSA_URL = ""
    return tmp_path / "cscr"


@pytest.fixture
def events(db):
    written = [audit_event_record(action=f"test.event_{n}", changes={"n": n}) for n in range(6)]
    audit_chain_extend()  # the test's transaction never commits, so nothing chains after a commit
    return [AuditEvent.objects.get(pk=event.pk) for event in written]


def verify_audit(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_audit", *args, stdout=out)
    except SystemExit as exit_info:
        return exit_info.code, out.getvalue()
    return 0, out.getvalue()


def _trigger(table: str) -> str:
    with connection.cursor() as cursor:
        # The test's transaction holds deferred foreign-key checks, which ALTER TABLE refuses to run past.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname LIKE %s",
            [table, TRIGGER_OF[table] + "%"],
        )
        return cursor.fetchone()[0]


def superuser_rewrite(event_id: int, new_action: str) -> None:
    """What a database superuser can do: disable the append-only trigger, change an entry, then
    recompute every hash from there on so the chain is internally consistent again, and re-enable."""
    trigger = _trigger("audit_auditevent")
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE audit_auditevent DISABLE TRIGGER "{trigger}"')
        cursor.execute("UPDATE audit_auditevent SET action = %s WHERE id = %s", [new_action, event_id])
        previous = GENESIS_HASH
        for event in AuditEvent.objects.exclude(chain_seq=None).order_by("chain_seq"):
            entry_hash = _entry_hash(previous, hashed_fields(event))
            cursor.execute(
                "UPDATE audit_auditevent SET previous_hash = %s, entry_hash = %s WHERE id = %s",
                [previous, entry_hash, event.pk],
            )
            previous = entry_hash
        cursor.execute(f'ALTER TABLE audit_auditevent ENABLE TRIGGER "{trigger}"')


def test_a_checkpoint_signs_the_chain_head_and_is_written_to_storage_once(events, checkpoint_storage):
    checkpoint = audit_checkpoint_create(reason="test")

    assert (checkpoint.sequence, checkpoint.last_event_id) == (1, events[-1].pk)
    assert checkpoint.last_hash == events[-1].entry_hash
    stored = json.loads((checkpoint_storage / checkpoint.storage_name).read_bytes())
    assert stored["payload"] == json.loads(checkpoint.payload) and stored["signature"] == checkpoint.signature
    assert checkpoints.signature_valid(
        checkpoint.payload.encode(), base64.b64decode(checkpoint.signature), checkpoint.certificate_pem
    )
    recorded = AuditEvent.objects.get(action="audit.checkpoint")
    assert recorded.changes["last_event_id"] == events[-1].pk and recorded.pk > events[-1].pk
    assert verify_audit()[0] == 0


def test_a_checkpoint_chains_pending_entries_first_and_signs_the_last_of_them(events, checkpoint_storage):
    pending = audit_event_record(action="test.not_yet_chained")

    checkpoint = audit_checkpoint_create(reason="test")

    chained = AuditEvent.objects.get(pk=pending.pk)
    assert chained.chain_seq == events[-1].chain_seq + 1
    assert (checkpoint.last_event_id, checkpoint.last_hash) == (pending.pk, chained.entry_hash)
    assert verify_audit()[0] == 0


def test_verify_audit_read_only_writes_nothing_and_counts_what_it_did_not_check(events, checkpoint_storage):
    audit_checkpoint_create(reason="test")
    pending = audit_event_record(action="test.not_yet_chained")
    unchained = AuditEvent.objects.filter(chain_seq__isnull=True).count()  # it, and the checkpoint's record
    assert unchained == 2

    status, out = verify_audit("--read-only")

    assert status == 0
    assert "PASS  The audit trail is intact" in out
    assert f"{unchained} written since the last chaining not checked (read-only)" in out
    assert AuditEvent.objects.get(pk=pending.pk).chain_seq is None
    # The database refused writes during the check, and allows them again after it.
    audit_event_record(action="test.after_the_check")


def test_verify_audit_read_only_still_finds_a_rewritten_entry(events, checkpoint_storage):
    audit_checkpoint_create(reason="test")
    superuser_rewrite(events[2].pk, "test.rewritten")

    status, out = verify_audit("--read-only")

    assert status == 1
    assert "no longer matches" in out or "differs" in out


def test_verify_audit_reports_entries_left_unchained_by_a_stuck_chainer(events, checkpoint_storage):
    stuck = AuditEvent.objects.create(occurred_at="2026-01-01T00:00:00Z", action="test.stuck")
    audit_event_record(action="test.just_written")  # unchained too, but only just written

    status, out = verify_audit()

    assert status == 1
    assert f"Entries [{stuck.pk}] were written more than 30 s ago and are still unchained" in out


def test_an_existing_checkpoint_object_in_storage_is_never_overwritten(events, checkpoint_storage):
    first = audit_checkpoint_create(reason="test")
    before = (checkpoint_storage / first.storage_name).read_bytes()

    with pytest.raises(CheckpointExists):
        checkpoints._write_once(first.storage_name, b"{}")
    second = audit_checkpoint_create(reason="test")

    assert (checkpoint_storage / first.storage_name).read_bytes() == before == storage_document(first)
    assert second.sequence == 2


def test_a_superuser_rewrite_of_the_whole_chain_passes_without_checkpoints(events, checkpoint_storage):
    superuser_rewrite(events[2].pk, "test.nothing_to_see")

    assert AuditEvent.objects.get(pk=events[2].pk).action == "test.nothing_to_see"
    assert audit_chain_verify() == (True, None)  # internally consistent: the weakness
    status, out = verify_audit()
    assert status == 0, out


def test_a_superuser_rewrite_of_the_whole_chain_fails_against_the_signed_checkpoint(events, checkpoint_storage):
    checkpoint = audit_checkpoint_create(reason="test")
    audit_event_record(action="test.after_checkpoint")

    superuser_rewrite(events[2].pk, "test.nothing_to_see")

    assert audit_chain_verify() == (True, None)
    status, out = verify_audit()
    assert status == 1
    assert f"Checkpoint {checkpoint.sequence} (database): no longer matches: entry {events[-1].pk}" in out
    assert f"Checkpoint {checkpoint.sequence} (storage {checkpoint.storage_name}): no longer matches" in out


def test_deleting_the_checkpoints_from_the_database_too_leaves_the_copy_in_storage(events, checkpoint_storage):
    checkpoint = audit_checkpoint_create(reason="test")
    superuser_rewrite(events[2].pk, "test.nothing_to_see")
    trigger = _trigger("audit_auditcheckpoint")
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE audit_auditcheckpoint DISABLE TRIGGER "{trigger}"')
        cursor.execute("DELETE FROM audit_auditcheckpoint")
        cursor.execute(f'ALTER TABLE audit_auditcheckpoint ENABLE TRIGGER "{trigger}"')

    status, out = verify_audit()

    assert status == 1
    assert f"Checkpoint {checkpoint.sequence} (storage {checkpoint.storage_name}): no longer matches" in out
    assert f"Checkpoints [{checkpoint.sequence}] are in storage but missing from the database." in out


def test_a_checkpoint_rewritten_with_the_new_head_fails_its_signature(events, checkpoint_storage):
    checkpoint = audit_checkpoint_create(reason="test")
    superuser_rewrite(events[2].pk, "test.nothing_to_see")
    path = checkpoint_storage / checkpoint.storage_name
    document = json.loads(path.read_bytes())
    document["payload"]["last_hash"] = AuditEvent.objects.get(pk=events[-1].pk).entry_hash
    path.write_text(json.dumps(document))

    status, out = verify_audit()

    assert status == 1
    assert f"Checkpoint {checkpoint.sequence} (storage {checkpoint.storage_name}): its signature does not verify" in out


def test_an_entry_changed_without_recomputing_hashes_is_named(events, checkpoint_storage):
    trigger = _trigger("audit_auditevent")
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE audit_auditevent DISABLE TRIGGER "{trigger}"')
        cursor.execute("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [events[3].pk])
        cursor.execute(f'ALTER TABLE audit_auditevent ENABLE TRIGGER "{trigger}"')

    status, out = verify_audit()

    assert status == 1 and f"Entry {events[3].pk} differs" in out


def test_with_a_timestamp_authority_the_checkpoint_carries_an_rfc3161_token_over_it(
    events, checkpoint_storage, settings, tmp_path
):
    authority = _TimestampAuthority(tmp_path / "tsa")  # a local stand-in for the remote TSA
    settings.CSCR_TSA_URL = authority.url
    try:
        checkpoint = audit_checkpoint_create(reason="test")
    finally:
        authority.stop()

    token = base64.b64decode(checkpoint.timestamp_token)
    assert token and checkpoints.timestamp_covers(token, checkpoint.payload.encode())
    assert not checkpoints.timestamp_covers(token, checkpoint.payload.encode() + b" ")
    assert audit_verify().intact


def test_the_checkpoint_table_is_append_only(events, checkpoint_storage):
    from django.db import ProgrammingError, transaction

    audit_checkpoint_create(reason="test")

    with pytest.raises(ProgrammingError), transaction.atomic():
        AuditCheckpoint.objects.update(last_hash="0" * 64)
