"""The audit trail: append-only in the database, hash-chained, and fed by denials and requests."""

import threading

import pgtrigger
import pytest
from celery.schedules import schedule as every
from django.db import DataError, ProgrammingError, connection, transaction
from django.urls import reverse

from nir_portal.accounts.models import Role
from nir_portal.audit import services
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import (
    CHAIN_STALE_AFTER,
    _entry_hash,
    audit_chain_extend,
    audit_chain_verify,
    audit_event_record,
    hashed_fields,
)
from nir_portal.tasks import audit_chain_sweep

APPEND_ONLY = "audit.AuditEvent:audit_append_only"
OWN_ADVISORY_LOCKS = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
REFUSED = "Cannot update or delete rows from audit_auditevent"


@pytest.fixture
def events(world):
    """A handful of chained events after those the world itself wrote. The test's transaction never
    commits, so the chaining that follows a commit is done here."""
    written = [
        audit_event_record(action=f"test.event_{n}", actor=world.national_admin, changes={"n": n}) for n in range(4)
    ]
    audit_chain_extend()
    return [AuditEvent.objects.get(pk=event.pk) for event in written]


# --- Append-only -------------------------------------------------------------------------------


def test_an_orm_update_of_an_audit_event_is_refused_by_the_database(events):
    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic():
        AuditEvent.objects.filter(pk=events[0].pk).update(outcome=AuditEvent.Outcome.FAILURE)

    assert AuditEvent.objects.get(pk=events[0].pk).outcome == AuditEvent.Outcome.SUCCESS


def test_an_sql_update_of_an_audit_event_is_refused_by_the_database(events):
    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'rewritten' WHERE id = %s", [events[0].pk])

    assert AuditEvent.objects.get(pk=events[0].pk).action == "test.event_0"


def test_an_sql_delete_of_an_audit_event_is_refused_by_the_database(events):
    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[0].pk])

    assert AuditEvent.objects.filter(pk=events[0].pk).exists()


def test_an_orm_delete_of_all_audit_events_is_refused_by_the_database(events):
    count = AuditEvent.objects.count()

    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic():
        AuditEvent.objects.all().delete()

    assert AuditEvent.objects.count() == count


# --- Hash chain --------------------------------------------------------------------------------


def test_the_chain_is_intact_after_several_events(events):
    assert AuditEvent.objects.count() > len(events)

    assert audit_chain_verify() == (True, None)


def test_each_event_links_to_the_one_before(events):
    first, second = events[0], events[1]

    assert second.previous_hash == first.entry_hash
    assert second.entry_hash == _entry_hash(first.entry_hash, hashed_fields(second))


def test_an_edited_event_is_reported_as_the_first_broken_entry(events):
    tampered = events[1]
    with pgtrigger.ignore(APPEND_ONLY):
        AuditEvent.objects.filter(pk=tampered.pk).update(changes={"n": 99})

    assert audit_chain_verify() == (False, tampered.pk)


def test_an_edit_with_a_recomputed_hash_is_caught_at_the_next_entry(events):
    tampered = events[1]
    tampered.outcome = AuditEvent.Outcome.DENIED
    forged_hash = _entry_hash(tampered.previous_hash, hashed_fields(tampered))
    with pgtrigger.ignore(APPEND_ONLY):
        AuditEvent.objects.filter(pk=tampered.pk).update(outcome=tampered.outcome, entry_hash=forged_hash)

    assert audit_chain_verify() == (False, events[2].pk)


def test_a_deleted_event_is_caught_at_the_entry_after_it(events):
    with pgtrigger.ignore(APPEND_ONLY):
        AuditEvent.objects.filter(pk=events[1].pk).delete()

    assert audit_chain_verify() == (False, events[2].pk)


def test_a_deleted_event_is_caught_by_its_missing_position_even_with_hashes_recomputed(events):
    """Removing an entry and relinking the next one leaves a gap in the positions."""
    removed, following = events[1], events[2]
    forged = _entry_hash(events[0].entry_hash, hashed_fields(following))
    with pgtrigger.ignore(APPEND_ONLY):
        AuditEvent.objects.filter(pk=removed.pk).delete()
        AuditEvent.objects.filter(pk=following.pk).update(previous_hash=events[0].entry_hash, entry_hash=forged)

    assert audit_chain_verify() == (False, following.pk)


def test_the_append_only_trigger_is_back_once_the_ignore_block_ends(events):
    with pgtrigger.ignore(APPEND_ONLY):
        pass

    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic():
        AuditEvent.objects.filter(pk=events[0].pk).update(action="rewritten")


# --- Chaining after commit ---------------------------------------------------------------------


def _chain_fields(event_id: int) -> tuple:
    return AuditEvent.objects.filter(pk=event_id).values_list("chain_seq", "previous_hash", "entry_hash").get()


@pytest.fixture
def chaining_due(monkeypatch):
    """This process's writers have not chained within CHAIN_INTERVAL: the next commit chains."""
    monkeypatch.setattr(services, "_chain_due_at", 0.0)


@pytest.fixture
def chaining_not_due(monkeypatch):
    """This process's writers have just chained: the next commits leave their entries pending."""
    monkeypatch.setattr(services, "_chain_due_at", float("inf"))


def test_an_entry_is_written_unchained_and_chained_once_its_transaction_commits(
    world, chaining_due, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        event = audit_event_record(action="test.written")
        assert _chain_fields(event.pk) == (None, None, None)

    position, previous, entry = _chain_fields(event.pk)
    last_before = AuditEvent.objects.get(chain_seq=position - 1)
    assert previous == last_before.entry_hash
    assert entry == _entry_hash(previous, hashed_fields(AuditEvent.objects.get(pk=event.pk)))
    assert audit_chain_verify() == (True, None)


def test_writing_an_entry_adds_one_insert_to_the_transaction_and_takes_no_lock(
    world, chaining_due, django_assert_num_queries
):
    with transaction.atomic():
        with django_assert_num_queries(1) as queries:
            audit_event_record(action="test.written", changes={"n": 1})
        locks = connection.cursor().execute(OWN_ADVISORY_LOCKS).fetchone()
    assert queries.captured_queries[0]["sql"].startswith("INSERT INTO audit_auditevent")
    assert locks == (0,)


def test_writers_chain_at_most_once_per_interval_in_a_process(world, chaining_due, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = audit_event_record(action="test.first")
    with django_capture_on_commit_callbacks(execute=True):
        second = audit_event_record(action="test.second")

    assert _chain_fields(first.pk)[0] is not None
    assert _chain_fields(second.pk) == (None, None, None)  # left to the next pass


def test_the_sweep_chains_what_writers_left_pending_when_no_further_write_comes(
    world, chaining_not_due, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        written = [audit_event_record(action="test.pending", changes={"n": n}) for n in range(3)]
    assert [_chain_fields(event.pk)[0] for event in written] == [None, None, None]

    assert audit_chain_sweep() >= 3

    positions = [_chain_fields(event.pk)[0] for event in written]
    assert positions == [positions[0], positions[0] + 1, positions[0] + 2]
    assert not AuditEvent.objects.filter(chain_seq=None).exists()
    assert audit_chain_verify() == (True, None)
    assert audit_chain_sweep() == 0


def test_beat_sweeps_the_chain_well_within_the_time_an_entry_may_stay_unchained(settings):
    (entry,) = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "nir_portal.tasks.audit_chain_sweep"]
    interval = every(entry["schedule"]).run_every.total_seconds()

    assert interval * 3 <= CHAIN_STALE_AFTER.total_seconds()
    assert interval > services.CHAIN_INTERVAL


def test_chaining_gives_pending_entries_consecutive_positions_in_id_order(world):
    audit_chain_extend()  # what the world wrote
    written = [audit_event_record(action=f"test.pending_{n}") for n in range(3)]
    head = AuditEvent.objects.exclude(chain_seq=None).order_by("-chain_seq").first()

    assert audit_chain_extend() == 3
    positions = [_chain_fields(event.pk)[0] for event in written]
    assert positions == [head.chain_seq + 1, head.chain_seq + 2, head.chain_seq + 3]
    assert audit_chain_extend() == 0
    assert audit_chain_verify() == (True, None)


def test_the_one_update_allowed_sets_the_chain_fields_of_an_unchained_entry(world):
    event = audit_event_record(action="test.unchained")

    AuditEvent.objects.filter(pk=event.pk).update(chain_seq=10_000, previous_hash="a" * 64, entry_hash="b" * 64)

    assert _chain_fields(event.pk) == (10_000, "a" * 64, "b" * 64)


@pytest.mark.parametrize(
    "change",
    [
        {"chain_seq": 10_000, "previous_hash": "a" * 64, "entry_hash": "b" * 64, "action": "rewritten"},
        {"chain_seq": 10_000, "previous_hash": "a" * 64, "entry_hash": "b" * 64, "changes": {"n": 99}},
        # From NULL to a value: a row comparison must not take the NULL for "unchanged".
        {"chain_seq": 10_000, "previous_hash": "a" * 64, "entry_hash": "b" * 64, "ip_address": "10.0.0.1"},
        {"chain_seq": 10_000, "previous_hash": "a" * 64, "entry_hash": "b" * 64, "occurred_at": "2020-01-01T00:00Z"},
        {"action": "rewritten"},
    ],
    ids=[
        "chain-fields-and-action",
        "chain-fields-and-changes",
        "chain-fields-and-null-ip",
        "chain-fields-and-time",
        "action-only",
    ],
)
def test_any_other_update_of_an_unchained_entry_is_refused(world, change):
    event = audit_event_record(action="test.unchained", changes={"n": 1})

    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(**change)

    assert _chain_fields(event.pk) == (None, None, None)
    assert AuditEvent.objects.get(pk=event.pk).action == "test.unchained"


def test_rechaining_a_chained_entry_is_refused(events):
    before = _chain_fields(events[0].pk)

    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic():
        AuditEvent.objects.filter(pk=events[0].pk).update(chain_seq=10_000, previous_hash="a" * 64, entry_hash="b" * 64)

    assert _chain_fields(events[0].pk) == before


def test_unchaining_a_chained_entry_is_refused_by_the_database(events):
    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET chain_seq = NULL, previous_hash = NULL, entry_hash = NULL WHERE id = %s",
            [events[0].pk],
        )


def test_deleting_an_unchained_entry_is_refused_by_the_database(world):
    event = audit_event_record(action="test.unchained")

    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])


def test_unchained_entries_are_not_part_of_the_chain_verified(events):
    audit_event_record(action="test.not_yet_chained")

    assert audit_chain_verify() == (True, None)


# --- Events from requests ----------------------------------------------------------------------


def test_opening_another_organisations_deployment_is_a_404_audited_as_a_denial(world, signed_in):
    viewer = world.member(world.trust_a, Role.VIEWER)
    path = reverse("onboarding:deployment-detail", args=[world.deployment_b.pk])

    response = signed_in(viewer).get(path, HTTP_USER_AGENT="pytest-browser", HTTP_X_REQUEST_ID="req-123")

    assert response.status_code == 404
    event = AuditEvent.objects.get(action="access.denied")
    assert event.outcome == AuditEvent.Outcome.DENIED
    assert event.actor == viewer
    assert event.organisation == world.trust_a
    assert (event.object_type, event.object_id) == ("onboarding.deployment", str(world.deployment_b.pk))
    assert event.changes == {"path": path, "method": "GET"}
    assert (event.ip_address, event.user_agent, event.request_id) == ("127.0.0.1", "pytest-browser", "req-123")
    assert audit_chain_verify() == (True, None)


def test_a_deployment_that_does_not_exist_is_the_same_404_but_not_a_denial(world, signed_in):
    viewer = world.member(world.trust_a, Role.VIEWER)
    missing = world.deployment_b.pk + 1000

    response = signed_in(viewer).get(reverse("onboarding:deployment-detail", args=[missing]))

    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="access.denied").exists()


def test_opening_ones_own_deployment_is_not_audited_as_a_denial(world, signed_in):
    viewer = world.member(world.trust_a, Role.VIEWER)

    response = signed_in(viewer).get(reverse("onboarding:deployment-detail", args=[world.deployment_a.pk]))

    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="access.denied").exists()


def test_events_written_outside_a_request_carry_no_request_facts(world):
    event = audit_event_record(action="test.system", changes={"job": "nightly"})

    assert event.actor is None
    assert (event.ip_address, event.user_agent, event.request_id) == (None, "", "")


# --- Chaining across real commits --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_entry_committed_late_takes_the_next_position_after_those_committed_before_it(chaining_due):
    written, release = threading.Event(), threading.Event()
    late: dict[str, object] = {}

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                late["event"] = audit_event_record(action="test.committed_late")
                written.set()
                release.wait(timeout=30)
        except BaseException as error:  # noqa: BLE001 - reported to the test
            late["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer, daemon=True)
    thread.start()
    assert written.wait(timeout=30)
    early = audit_event_record(action="test.committed_early")  # commits, and is chained, at once
    early_position = _chain_fields(early.pk)[0]
    release.set()
    thread.join(timeout=30)
    audit_chain_sweep()  # the late commit came within CHAIN_INTERVAL of the early one's pass

    assert "error" not in late, late.get("error")
    assert late["event"].pk < early.pk
    assert _chain_fields(late["event"].pk)[0] == early_position + 1
    assert audit_chain_verify() == (True, None)


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_the_sweep_leave_a_whole_chain_with_no_entry_unchained(monkeypatch):
    # Every commit tries to chain: the most contention for the chain lock there can be.
    monkeypatch.setattr(services, "CHAIN_INTERVAL", 0.0)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            for n in range(15):
                with transaction.atomic():
                    audit_event_record(action="test.concurrent", changes={"writer": number, "n": n})
        except BaseException as error:  # noqa: BLE001 - reported to the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(number,), daemon=True) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    # Writers chained most entries; those that committed during the last pass are the sweep's.
    audit_chain_sweep()
    assert not AuditEvent.objects.filter(chain_seq=None).exists()
    positions = list(AuditEvent.objects.order_by("chain_seq").values_list("chain_seq", flat=True))
    assert positions == list(range(1, len(positions) + 1))
    assert AuditEvent.objects.filter(action="test.concurrent").count() == 90
    assert audit_chain_verify() == (True, None)


@pytest.mark.django_db(transaction=True)
def test_a_chainer_that_fails_mid_batch_chains_nothing_and_releases_the_lock(monkeypatch):
    written = [audit_event_record(action="test.pending", changes={"n": n}) for n in range(4)]
    audit_chain_extend()
    pending = [audit_event_record(action="test.pending", changes={"n": n}) for n in range(4, 8)]
    plan = services._chain_plan

    def failing_plan(head, rows):
        # The batch's update reaches every row but the statement fails at its end, as a chainer
        # whose session dies between its update and its commit would.
        arguments = plan(head, rows)
        return [*arguments[:-1], arguments[-1] + 1]

    monkeypatch.setattr(services, "_chain_plan", failing_plan)
    with pytest.raises(DataError, match="division by zero"):
        audit_chain_extend(wait=False)
    monkeypatch.undo()

    assert [_chain_fields(event.pk) for event in pending] == [(None, None, None)] * 4
    with connection.cursor() as cursor:  # the lock is released
        cursor.execute(OWN_ADVISORY_LOCKS)
        assert cursor.fetchone() == (0,)
    assert audit_chain_extend(wait=False) == 4
    positions = [_chain_fields(event.pk)[0] for event in [*written, *pending]]
    assert positions == list(range(positions[0], positions[0] + 8))
    assert audit_chain_verify() == (True, None)
