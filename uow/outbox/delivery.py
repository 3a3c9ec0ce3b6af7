"""The relay's logic, written once for both twins: find, lease, publish, mark (no I/O here).

One pass (:meth:`DeliveryCore.deliver_ready`):

1. the *head* of every aggregate: its first pending event in ``(sequence, index)`` order
   (an aggregation over pending events). Only a head is ever delivered, so an aggregate's
   events go out in commit order; a head that waits for a retry holds its aggregate back;
2. each head that is due and not leased is *claimed*: one ``findOneAndUpdate`` sets
   ``lease_owner``/``lease_until``, so among several relays one delivers it at a time; a
   crashed relay's lease expires after ``lease_seconds``;
3. the publisher gets it while the driver renews the lease every ``lease_seconds / 3``
   (:meth:`DeliveryCore.renew`, run beside the publish by the
   :class:`~uow.outbox.effects.Renewing` effect); success marks it ``delivered`` if the lease
   is still this relay's (one that lapsed and was taken over is left to its new holder);
   a failure records the error and
   schedules a retry with exponential backoff, and after ``max_attempts`` parks it
   (``state: "parked"``, ``last_error`` kept) until :meth:`DeliveryCore.replay`.

Between passes the relay waits on a change stream of the outbox's inserts (its resume token
stored in ``<outbox>_relays``) or, on a server without change streams, sleeps
``poll_interval``. The stream only wakes the relay up: the pending events in the outbox are
the truth, so nothing is lost when the stream is.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import random
import socket
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import pymongo
from pymongo.errors import OperationFailure, PyMongoError

from uow.effects import Call, Sleep, Steps
from uow.outbox.effects import (
    Aggregate,
    Claim,
    CloseStream,
    CreateIndexes,
    FindAll,
    NextChange,
    Renewing,
    Update,
    Watch,
)
from uow.outbox.records import (
    DEFAULT_COLLECTION,
    DELIVERED,
    PARKED,
    PENDING,
    EventRegistry,
    OutboxEvent,
    utcnow,
)

Publisher = Callable[[OutboxEvent], Any]
"""Receives one stored event; the async relay awaits what it returns."""

# ChangeStreamFatalError, ChangeStreamHistoryLost: resuming from that token cannot work.
_STREAM_FATAL = frozenset({280, 286})

# A server without change streams: a standalone (40573), $changeStream unknown (40324),
# CommandNotSupported (115).
_NO_STREAMS = frozenset({40573, 40324, 115})

_ORDER = [("aggregate.collection", 1), ("aggregate.id", 1), ("sequence", 1), ("index", 1)]


@dataclass(frozen=True)
class RelaySettings:
    """How a relay delivers (see :class:`uow.outbox.Relay` for each setting)."""

    outbox: str = DEFAULT_COLLECTION
    name: str = "relay"
    lease_seconds: float = 30.0
    max_attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 60.0
    poll_interval: float = 1.0
    batch_size: int = 100
    follow: Literal["auto", "stream", "poll"] = "auto"

    def __post_init__(self) -> None:
        if self.follow not in ("auto", "stream", "poll"):
            raise ValueError(f"follow must be 'auto', 'stream' or 'poll', got {self.follow!r}")
        for name in ("lease_seconds", "poll_interval", "backoff", "max_backoff"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.max_attempts < 1 or self.batch_size < 1:
            raise ValueError("max_attempts and batch_size must be >= 1")

    @property
    def relays_collection(self) -> str:
        return f"{self.outbox}_relays"


def _later(now: datetime.datetime, seconds: float) -> datetime.datetime:
    return now + datetime.timedelta(seconds=seconds)


def _due(document: dict[str, Any], now: datetime.datetime) -> bool:
    """Is ``document`` due (``available_at`` passed)? Stored dates read back naive (UTC)
    unless the client is ``tz_aware``."""
    at = document.get("available_at")
    if at is None:
        return True
    if at.tzinfo is None:
        at = at.replace(tzinfo=datetime.UTC)
    return bool(at <= now)


def _free(now: datetime.datetime) -> dict[str, Any]:
    return {"$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}]}


class DeliveryCore:
    """State and logic of one relay; ``owner`` names it in the leases it takes."""

    def __init__(self, publisher: Publisher, settings: RelaySettings, registry: EventRegistry):
        if not callable(publisher):
            raise TypeError(f"a relay needs a callable publisher, got {publisher!r}")
        self.publisher = publisher
        self.settings = settings
        self.registry = registry
        self.owner = f"{settings.name}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.delivered = 0
        self.failures = 0
        self.parked_count = 0
        self.leases_lost = 0  # publishes not marked: the lease lapsed and was taken over
        self.stopping = False
        self.streaming: bool | None = False if settings.follow == "poll" else None
        self._stream: Any = None
        self._token: Any = None
        self._fresh = False  # open the next stream from now, not from the stored token
        self._ready = False

    # ------------------------------------------------------------ one pass

    def setup(self) -> Steps:
        """The outbox's indexes (once per relay)."""
        if self._ready:
            return
        yield CreateIndexes(self.settings.outbox, [
            pymongo.IndexModel([("state", 1), *_ORDER], name="outbox_order"),
            pymongo.IndexModel([("state", 1), ("available_at", 1)], name="outbox_due"),
        ])
        self._ready = True

    def heads(self, now: datetime.datetime) -> Steps:
        """The first pending event of each aggregate that is due and not leased."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"state": PENDING}},
            {"$sort": dict(_ORDER)},
            {"$group": {
                "_id": {"c": "$aggregate.collection", "i": "$aggregate.id"},
                "head": {"$first": "$$ROOT"},
            }},
            {"$replaceRoot": {"newRoot": "$head"}},
            {"$match": {"available_at": {"$lte": now}, **_free(now)}},
            {"$sort": {"committed_at": 1, "_id": 1}},
            {"$limit": self.settings.batch_size},
        ]
        return (yield Aggregate(self.settings.outbox, pipeline))

    def deliver_ready(self) -> Steps:
        """One pass: deliver each due head; returns how many were delivered."""
        yield from self.setup()
        settings = self.settings
        now = utcnow()
        delivered = 0
        for head in (yield from self.heads(now)):
            # The head, then the aggregate's next events while they are due and free (a
            # backlog is not one aggregation per event); at most batch_size each.
            for _ in range(settings.batch_size):
                if not (yield from self._claim_and_publish(head)):
                    break
                delivered += 1
                aggregate = head["aggregate"]
                found = yield FindAll(
                    settings.outbox,
                    {"aggregate.collection": aggregate.get("collection"),
                     "aggregate.id": aggregate.get("id"), "state": PENDING},
                    sort=_ORDER[2:], limit=1,
                )
                if not found or not _due(found[0], utcnow()):
                    break
                head = found[0]
        return delivered

    def _claim_and_publish(self, head: dict[str, Any]) -> Steps:
        """True when ``head`` was claimed and published."""
        settings = self.settings
        now = utcnow()  # not the pass's: earlier publishes may have taken a while
        claimed = yield Claim(
            settings.outbox,
            {"_id": head["_id"], "state": PENDING, **_free(now)},
            {"$set": {"lease_owner": self.owner,
                      "lease_until": _later(now, settings.lease_seconds)}},
        )
        if claimed is None:
            return False  # another relay has it, or it was delivered meanwhile
        return (yield from self._publish(claimed))

    def _publish(self, document: dict[str, Any]) -> Steps:
        settings = self.settings
        mine = {"_id": document["_id"], "state": PENDING, "lease_owner": self.owner}
        attempts = int(document.get("attempts", 0)) + 1
        try:
            yield Renewing(
                Call(self.publisher, (OutboxEvent.from_document(document, self.registry),)),
                lambda: self.renew(document["_id"]), settings.lease_seconds / 3,
            )
        except Exception as error:  # the publisher's failure, recorded on the event
            self.failures += 1
            failed: dict[str, Any] = {
                "attempts": attempts,
                "last_error": f"{type(error).__name__}: {error}",
                "lease_owner": None,
                "lease_until": None,
            }
            now = utcnow()
            parking = attempts >= settings.max_attempts
            if parking:
                failed.update(state=PARKED, parked_at=now)
            else:
                delay = min(settings.backoff * 2 ** (attempts - 1), settings.max_backoff)
                failed["available_at"] = _later(now, delay * (0.5 + random.random() / 2))
            if (yield Update(settings.outbox, mine, {"$set": failed})) and parking:
                self.parked_count += 1
            return False
        # Marked only while the lease is still ours: a relay that took it over after it
        # lapsed publishes it again and marks it itself (at least once, never two marks).
        marked = yield Update(
            settings.outbox, mine,
            {"$set": {"state": DELIVERED, "attempts": attempts, "delivered_at": utcnow(),
                      "delivered_by": self.owner, "lease_owner": None, "lease_until": None}},
        )
        if not marked:
            self.leases_lost += 1
            return False
        self.delivered += 1
        return True

    def renew(self, event_id: Any) -> Steps:
        """Extend this relay's lease on ``event_id`` by ``lease_seconds``; False when it is
        lost: taken over, or lapsed (not revived: from then on other relays count it free),
        and the relay stops renewing it."""
        now = utcnow()
        renewed = yield Update(
            self.settings.outbox,
            {"_id": event_id, "state": PENDING, "lease_owner": self.owner,
             "lease_until": {"$gte": now}},
            {"$set": {"lease_until": _later(now, self.settings.lease_seconds)}},
        )
        return bool(renewed)

    # ------------------------------------------------------------ following the outbox

    def wait(self) -> Steps:
        """Until something may be due: a change on the outbox, or ``poll_interval``."""
        if self.streaming is not False:
            try:
                if (yield from self._wait_for_change()):
                    return
            except PyMongoError as error:
                if getattr(error, "code", None) in _STREAM_FATAL:
                    self._fresh = True  # its history is gone: never resume from that token
                yield from self.close()  # reopened (from the stored token) next time
        yield Sleep(self.settings.poll_interval)

    def _open_stream(self) -> Steps:
        settings = self.settings
        found = yield FindAll(settings.relays_collection, {"_id": settings.name}, limit=1)
        token = found[0].get("resume_token") if found and not self._fresh else None
        pipeline = [{"$match": {"operationType": "insert"}}]
        wait_ms = max(1, int(settings.poll_interval * 1000))
        try:
            self._stream = yield Watch(settings.outbox, pipeline, token, wait_ms)
        except OperationFailure as error:
            if token is None:
                if settings.follow == "stream" or error.code not in _NO_STREAMS:
                    raise  # wait() tries again next time
                self.streaming = False  # no change streams here: poll
                return
            # The token's history is gone: start from now (pending events are rescanned).
            self._stream = yield Watch(settings.outbox, pipeline, None, wait_ms)
            token = None
        self.streaming = True
        self._token, self._fresh = token, False

    def _wait_for_change(self) -> Steps:
        """True when the stream waited (a change came, or ``poll_interval`` passed)."""
        if self._stream is None:
            yield from self._open_stream()
            if self._stream is None:
                return False
        change, token = yield NextChange(self._stream)
        if change is not None and token is not None and token != self._token:
            self._token = token
            yield Update(
                self.settings.relays_collection, {"_id": self.settings.name},
                {"$set": {"resume_token": token, "updated_at": utcnow()}}, upsert=True,
            )
        return True

    def close(self) -> Steps:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(PyMongoError):
                yield CloseStream(stream)

    # ------------------------------------------------------------ loops

    def run(self) -> Steps:
        """Deliver until :attr:`stopping`; a lost server is waited for, not fatal."""
        try:
            while not self.stopping:
                try:
                    if not (yield from self.deliver_ready()):
                        yield from self.wait()
                except PyMongoError:
                    yield from self.close()
                    yield Sleep(self.settings.poll_interval)
        finally:
            yield from self.close()

    def drain(self, timeout: float) -> Steps:
        """Deliver until no event is pending (or ``timeout`` seconds); returns how many."""
        deadline = _later(utcnow(), timeout)
        delivered = 0
        while True:
            delivered += yield from self.deliver_ready()
            pending = yield FindAll(self.settings.outbox, {"state": PENDING}, limit=1)
            if not pending or utcnow() >= deadline:
                return delivered
            yield Sleep(min(self.settings.poll_interval, 0.02))

    # ------------------------------------------------------------ parked events

    def events(self, state: str) -> Steps:
        found = yield FindAll(self.settings.outbox, {"state": state}, sort=_ORDER)
        return [OutboxEvent.from_document(document, self.registry) for document in found]

    def replay(self, ids: Iterable[str]) -> Steps:
        """Parked events (those of ``ids``, or all) back to pending, attempts reset."""
        wanted = list(ids)
        filter_: dict[str, Any] = {"state": PARKED}
        if wanted:
            filter_["_id"] = {"$in": wanted}
        now = utcnow()
        return (yield Update(
            self.settings.outbox, filter_,
            {"$set": {"state": PENDING, "attempts": 0, "available_at": now},
             "$unset": {"parked_at": ""}},
            many=True,
        ))

    def counts(self) -> Steps:
        """Events by state: ``{"pending": n, "delivered": n, "parked": n}``."""
        found = yield Aggregate(
            self.settings.outbox, [{"$group": {"_id": "$state", "n": {"$sum": 1}}}]
        )
        counts = {PENDING: 0, DELIVERED: 0, PARKED: 0}
        counts.update({document["_id"]: int(document["n"]) for document in found})
        return counts


__all__ = ["DeliveryCore", "Publisher", "RelaySettings"]
