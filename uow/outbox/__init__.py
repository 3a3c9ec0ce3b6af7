"""A transactional outbox: domain events stored with the changes, delivered by a relay.

A unit opened with ``outbox=`` stores every event its models recorded as a document of the
outbox collection, in the same transaction as the changes (one ``insert`` command in the
flush before the commit)::

    uow = BankUnit(engine, outbox=Outbox("outbox"))   # or outbox="outbox"
    relay = Relay(engine, publish)                     # publish(event: OutboxEvent)
    threading.Thread(target=relay.run).start()         # AsyncRelay: asyncio.create_task(relay.run())

Guaranteed:

- an event is stored if and only if its transaction committed (a rolled-back or retried
  attempt stores nothing of its own; ``uow.run`` stores each event of the committed attempt
  once);
- at least once delivery: an event is marked delivered only after the publisher returned;
  a relay killed in between delivers it again, with the same ``event.id`` (the idempotency
  key a consumer deduplicates on);
- per-aggregate order: an aggregate's events are delivered in commit order (its version
  after the commit, then recording order), one at a time; a failing event holds its
  aggregate's later ones back until it is delivered or parked;
- a failing publish is retried with exponential backoff; after ``max_attempts`` the event
  is parked with its ``last_error`` (``relay.parked()``, ``relay.replay(ids)``);
- several relays may run at once: a lease (``lease_seconds``) lets one deliver an event at
  a time, renewed every ``lease_seconds / 3`` while the publish runs (a thread beside the
  sync relay's publisher, a task beside the async one's); a crashed relay's lease expires
  and another takes over; a relay whose lease lapsed and was taken over does not mark the
  event (``relay.leases_lost`` counts those publishes): its new holder does.

Not guaranteed: exactly once (a consumer deduplicates by ``event.id``); an order across
aggregates; a single delivery when a relay stalls past ``lease_seconds`` without renewing
(a paused process, a lost server, or a blocking publisher on ``AsyncRelay``, which stops
its event loop): another relay then delivers it too; order past a parked event (later
events of its aggregate go on). Events
need an aggregate with a version field (:class:`UnversionedAggregateError` otherwise), and
relays' clocks roughly in sync (leases and backoff are compared against them).
"""

from uow.outbox.delivery import Publisher, RelaySettings
from uow.outbox.records import (
    DELIVERED,
    PARKED,
    PENDING,
    EventRegistry,
    EventTypeError,
    Outbox,
    OutboxEvent,
    UnknownEventTypeError,
    default_registry,
)
from uow.outbox.relay import AsyncRelay, Relay
from uow.outbox.writing import UnversionedAggregateError

__all__ = [
    "DELIVERED",
    "PARKED",
    "PENDING",
    "AsyncRelay",
    "EventRegistry",
    "EventTypeError",
    "Outbox",
    "OutboxEvent",
    "Publisher",
    "Relay",
    "RelaySettings",
    "UnknownEventTypeError",
    "UnversionedAggregateError",
    "default_registry",
]
