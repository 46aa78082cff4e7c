"""The domain-event registry: in-transaction subscribers run at once and report audit changes;
after-commit subscribers run only once the transaction commits; safety listens to onboarding."""

from dataclasses import dataclass

import pytest
from django.db import transaction

from nir_portal import events
from onboarding.events import DeploymentCreated, EvidenceRevised
from safety import subscribers


@dataclass(frozen=True)
class Happened:
    value: int


@pytest.fixture
def received():
    seen: list[tuple[str, int]] = []

    def at_once(event: Happened) -> dict:
        seen.append(("at_once", event.value))
        return {"doubled": event.value * 2}

    def later(event: Happened) -> None:
        seen.append(("later", event.value))

    events.subscribe(Happened, at_once, delivery=events.Delivery.IN_TRANSACTION)
    events.subscribe(Happened, later, delivery=events.Delivery.ON_COMMIT)
    yield seen
    events.unsubscribe(Happened, at_once)
    events.unsubscribe(Happened, later)


def test_an_in_transaction_subscriber_runs_at_once_and_an_after_commit_one_only_on_commit(
    db, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        assert events.publish(Happened(value=3)) == {"doubled": 6}
        assert received == [("at_once", 3)]

    assert received == [("at_once", 3), ("later", 3)]


def test_nothing_is_delivered_after_a_rollback(transactional_db, received):
    with pytest.raises(RuntimeError), transaction.atomic():
        events.publish(Happened(value=1))
        raise RuntimeError

    assert received == [("at_once", 1)]


def test_subscribing_twice_delivers_once(db, received):
    events.subscribe(Happened, events.subscribers(Happened)[0][0], delivery=events.Delivery.IN_TRANSACTION)

    events.publish(Happened(value=5))

    assert received.count(("at_once", 5)) == 1


def test_safety_answers_both_onboarding_events_inside_the_publishers_transaction():
    assert (subscribers.hazard_log_start, events.Delivery.IN_TRANSACTION) in events.subscribers(DeploymentCreated)
    assert (subscribers.sign_offs_supersede, events.Delivery.IN_TRANSACTION) in events.subscribers(EvidenceRevised)
