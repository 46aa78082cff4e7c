"""The audit trail: append-only in the database, hash-chained, and fed by denials and requests."""

import pgtrigger
import pytest
from django.db import ProgrammingError, connection, transaction
from django.urls import reverse

from nir_portal.accounts.models import Role
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import _entry_hash, audit_chain_verify, audit_event_record, hashed_fields

APPEND_ONLY = "audit.AuditEvent:audit_append_only"
REFUSED = "Cannot update or delete rows from audit_auditevent"


@pytest.fixture
def events(world):
    """A handful of events after those the world itself wrote."""
    return [
        audit_event_record(action=f"test.event_{n}", actor=world.national_admin, changes={"n": n}) for n in range(4)
    ]


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


def test_the_append_only_trigger_is_back_once_the_ignore_block_ends(events):
    with pgtrigger.ignore(APPEND_ONLY):
        pass

    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic():
        AuditEvent.objects.filter(pk=events[0].pk).update(action="rewritten")


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
