"""What an outbox stores: one document per domain event, and the registry of event types.

A stored event (the outbox collection, ``outbox`` by default)::

    {"_id": "5b0c...",                  # the event id: client-generated, the idempotency key
     "type": "bank.transfer_completed", # the registry's name of the event class
     "payload": {...},                  # the event's fields (pydantic model or dataclass)
     "aggregate": {"type": "Account", "collection": "accounts", "id": ...},
     "sequence": 7, "index": 0,         # per-aggregate order: its version after the commit,
                                        # then the position among that commit's events
     "committed_at": datetime,          # the writer's clock just before the commit
     "state": "pending",                # then "delivered", or "parked" after N failures
     "attempts": 0, "available_at": datetime, "last_error": None,
     "lease_owner": None, "lease_until": None}

Pure code: no I/O here.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter

from uow.errors import UnitOfWorkError

PENDING = "pending"
DELIVERED = "delivered"
PARKED = "parked"

DEFAULT_COLLECTION = "outbox"


class UnknownEventTypeError(UnitOfWorkError, LookupError):
    """A stored event's type name that the registry does not know."""


class EventTypeError(UnitOfWorkError, TypeError):
    """An event the outbox cannot store (not a pydantic model nor a dataclass), or a type
    name registered twice."""


@functools.cache
def _adapter(cls: type) -> TypeAdapter[Any]:
    return TypeAdapter(cls)


class EventRegistry:
    """Event type names <-> classes: the writer stores the name, the relay finds the class.

    A class is named ``module.QualName`` unless registered under a name of its own
    (``registry.register(Moved, name="account.moved")``, or as a decorator), which keeps
    stored events readable after the class moves. The writer registers an unknown class on
    first use; a relay in another process decodes the classes registered (or used) there:
    a name is never imported from.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, type] = {}
        self._by_class: dict[type, str] = {}

    def register(self, cls: type | None = None, *, name: str | None = None) -> Any:
        """Register ``cls`` (as a decorator too: ``@registry.register(name="x")``)."""
        if cls is None:
            return lambda target: self.register(target, name=name)
        if not isinstance(cls, type) or not (
            issubclass(cls, BaseModel) or dataclasses.is_dataclass(cls)
        ):
            raise EventTypeError(
                f"outbox events are pydantic models or dataclasses, got {cls!r}"
            )
        key = name or f"{cls.__module__}.{cls.__qualname__}"
        known = self._by_name.get(key)
        if known is not None and known is not cls:
            raise EventTypeError(
                f"event type name {key!r} is already {known.__module__}.{known.__qualname__}; "
                f"register {cls.__qualname__} under another name (register(cls, name=...))"
            )
        self._by_name[key] = cls
        self._by_class.setdefault(cls, key)
        return cls

    def name_of(self, cls: type) -> str:
        """The stored name of ``cls`` (registered as ``module.QualName`` if new)."""
        name = self._by_class.get(cls)
        if name is None:
            self.register(cls)
            name = self._by_class[cls]
        return name

    def class_of(self, name: str) -> type:
        cls = self._by_name.get(name)
        if cls is None:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise UnknownEventTypeError(
                f"unknown event type {name!r} (registered: {known}); register its class "
                "with the relay's registry (registry.register(cls))"
            )
        return cls

    def encode(self, event: Any) -> tuple[str, dict[str, Any]]:
        """``(type name, payload)`` of ``event``."""
        cls: type = type(event)
        name = self.name_of(cls)
        payload = _adapter(cls).dump_python(event, mode="python")
        return name, dict(payload)

    def decode(self, name: str, payload: Mapping[str, Any]) -> Any:
        return _adapter(self.class_of(name)).validate_python(dict(payload))


default_registry = EventRegistry()
"""The registry units and relays use unless given another one."""


@dataclass(frozen=True)
class Outbox:
    """A unit's outbox: ``UnitOfWork(engine, outbox=Outbox())`` (or ``outbox="outbox"``)."""

    collection: str = DEFAULT_COLLECTION
    registry: EventRegistry = dataclasses.field(default=default_registry, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.collection, str) or not self.collection or "$" in self.collection:
            raise ValueError(f"outbox collection must be a collection name, got {self.collection!r}")


def as_outbox(value: Outbox | str | bool | None) -> Outbox | None:
    """The ``outbox=`` argument of a unit: an :class:`Outbox`, a collection name, True."""
    if value is None or value is False:
        return None
    if value is True:
        return Outbox()
    if isinstance(value, str):
        return Outbox(value)
    if isinstance(value, Outbox):
        return value
    raise TypeError(f"outbox= expects an uow.outbox.Outbox or a collection name, got {value!r}")


def utcnow() -> datetime.datetime:
    # BSON dates have millisecond precision: what is compared later is what is stored.
    now = datetime.datetime.now(datetime.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_event_id() -> str:
    return uuid.uuid4().hex


def event_document(
    registry: EventRegistry,
    event: Any,
    aggregate: Mapping[str, Any],
    sequence: int,
    index: int,
    committed_at: datetime.datetime,
) -> dict[str, Any]:
    name, payload = registry.encode(event)
    return {
        "_id": new_event_id(),
        "type": name,
        "payload": payload,
        "aggregate": dict(aggregate),
        "sequence": sequence,
        "index": index,
        "committed_at": committed_at,
        "state": PENDING,
        "attempts": 0,
        "available_at": committed_at,
        "last_error": None,
        "lease_owner": None,
        "lease_until": None,
    }


@dataclass(frozen=True)
class OutboxEvent:
    """A stored event as a relay hands it to the publisher (and lists parked ones).

    ``id`` is the idempotency key: a consumer that saw it already can skip it. ``event``
    decodes the payload into its class (:class:`UnknownEventTypeError` if not registered).
    """

    id: str
    type: str
    payload: dict[str, Any]
    aggregate_type: str
    aggregate_id: Any
    sequence: int
    index: int
    committed_at: datetime.datetime | None
    state: str
    attempts: int
    last_error: str | None
    registry: EventRegistry = dataclasses.field(repr=False, compare=False)

    @property
    def event(self) -> Any:
        return self.registry.decode(self.type, self.payload)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], registry: EventRegistry) -> OutboxEvent:
        aggregate = document.get("aggregate") or {}
        return cls(
            id=document["_id"],
            type=document["type"],
            payload=dict(document.get("payload") or {}),
            aggregate_type=aggregate.get("type", ""),
            aggregate_id=aggregate.get("id"),
            sequence=int(document.get("sequence", 0)),
            index=int(document.get("index", 0)),
            committed_at=document.get("committed_at"),
            state=document.get("state", PENDING),
            attempts=int(document.get("attempts", 0)),
            last_error=document.get("last_error"),
            registry=registry,
        )


__all__ = [
    "DELIVERED",
    "PARKED",
    "PENDING",
    "EventRegistry",
    "EventTypeError",
    "Outbox",
    "OutboxEvent",
    "UnknownEventTypeError",
    "as_outbox",
    "default_registry",
    "event_document",
    "utcnow",
]
