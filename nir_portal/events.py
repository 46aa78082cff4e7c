"""Domain events: how a lower app tells a higher one that something happened without importing it.

The apps are layered (dashboards -> safety -> onboarding -> nir_portal; see docs/architecture.md).
When onboarding must tell safety something, it publishes an event that it defines (a frozen
dataclass in `onboarding/events.py`), and safety subscribes to it from its AppConfig.ready. The
registry is explicit, not Django signals, so that each subscription says how it is delivered:

- `IN_TRANSACTION`: called at once, inside the publisher's transaction. For consequences that must
  never lag behind the change (a deployment's hazard log; a sign-off superseded by new evidence): a
  subscriber that raises rolls the whole change back. It may return a dict of changes that the
  publisher adds to its own audit event.
- `ON_COMMIT`: called after the publisher's transaction commits, for side effects (a task, an email).
  Nothing is delivered when the transaction rolls back.
"""

import enum
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any

from django.db import transaction


class Delivery(enum.Enum):
    IN_TRANSACTION = "in_transaction"
    ON_COMMIT = "on_commit"


Handler = Callable[[Any], dict[str, Any] | None]

_subscribers: dict[type, list[tuple[Handler, Delivery]]] = defaultdict(list)


def subscribe(event_type: type, handler: Handler, *, delivery: Delivery) -> None:
    """Register `handler` for events of `event_type`. Registering the same handler twice is a no-op,
    so an AppConfig.ready that runs again does not deliver an event twice."""
    if (handler, delivery) not in _subscribers[event_type]:
        _subscribers[event_type].append((handler, delivery))


def subscribers(event_type: type) -> list[tuple[Handler, Delivery]]:
    return list(_subscribers.get(event_type, []))


def publish(event: Any) -> dict[str, Any]:
    """Deliver `event` to its subscribers in the order they subscribed. Returns the changes the
    in-transaction subscribers report, for the publisher's audit event."""
    changes: dict[str, Any] = {}
    for handler, delivery in subscribers(type(event)):
        if delivery is Delivery.ON_COMMIT:
            transaction.on_commit(partial(handler, event))
        else:
            changes.update(handler(event) or {})
    return changes


def unsubscribe(event_type: type, handler: Handler) -> None:
    """For tests that register a subscriber of their own."""
    _subscribers[event_type] = [(h, d) for h, d in _subscribers[event_type] if h is not handler]
