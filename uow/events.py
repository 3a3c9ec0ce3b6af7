"""Domain events: models record them, the unit hands them to handlers after a commit.

>>> class Withdrawn: ...
>>> # class Account(odm.Model, DomainEvents): ...   account.record_event(Withdrawn())

Events are kept on the instance (a pydantic private attribute, never stored). The unit
collects them only from the attempt that committed and drops them on rollback, so a handler
sees each event once.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, PrivateAttr

# One global sequence so events of several models come out in the order they were recorded.
_sequence = itertools.count()

Handler = Callable[[Any], Any]
"""A handler receives one event; the async unit awaits it when it returns an awaitable."""


class DomainEvents(BaseModel):
    """Mixin for models: ``record_event(event)`` keeps ``event`` until the unit commits.

    ``class Account(odm.Model, DomainEvents): ...``
    """

    __slots__ = ()
    _recorded_events: list[tuple[int, Any]] = PrivateAttr(default_factory=list)

    def record_event(self, event: Any) -> None:
        """Keep ``event`` for the handlers, which get it after a successful commit."""
        self._recorded_events.append((next(_sequence), event))

    @property
    def pending_events(self) -> list[Any]:
        """The events recorded and not yet handed out."""
        return [event for _, event in self._recorded_events]


@functools.cache
def _records_events(model: type) -> bool:
    # Asked once per class: isinstance on pydantic classes goes through ABCMeta (slow).
    return issubclass(model, DomainEvents)


def take_events(instances: Iterable[Any]) -> list[Any]:
    """Remove and return the events of ``instances``, in the order they were recorded."""
    taken: list[tuple[int, Any]] = []
    for instance in instances:
        kind: type = type(instance)
        if _records_events(kind) and instance._recorded_events:
            taken.extend(instance._recorded_events)
            instance._recorded_events = []
    taken.sort(key=lambda item: item[0])
    return [event for _, event in taken]


def recorded_events(instances: Iterable[Any]) -> list[tuple[Any, Any]]:
    """``(instance, event)`` for every event of ``instances`` not taken yet, in recording
    order; the events stay for the handlers (an outbox stores them before the commit)."""
    found: list[tuple[int, Any, Any]] = []
    for instance in instances:
        kind: type = type(instance)
        if _records_events(kind) and instance._recorded_events:
            found.extend((seq, instance, event) for seq, event in instance._recorded_events)
    found.sort(key=lambda item: item[0])
    return [(instance, event) for _, instance, event in found]


def drop_events(instances: Iterable[Any]) -> None:
    """Forget the events of ``instances`` (their transaction was rolled back)."""
    take_events(instances)


class HandlerRegistry:
    """Which handlers receive which event types (by ``isinstance``, in registration order)."""

    def __init__(self, handlers: Mapping[type, Handler | Sequence[Handler]] | None = None) -> None:
        self._handlers: list[tuple[type, Handler]] = []
        for event_type, registered in (handlers or {}).items():
            for handler in [registered] if callable(registered) else registered:
                self.add(event_type, handler)

    def add(self, event_type: type, handler: Handler) -> None:
        if not isinstance(event_type, type):
            raise TypeError(f"on() expects an event class, got {event_type!r}")
        if not callable(handler):
            raise TypeError(f"on() expects a callable handler, got {handler!r}")
        self._handlers.append((event_type, handler))

    def calls(self, events: Iterable[Any]) -> list[tuple[Handler, Any]]:
        """Every (handler, event) call to make, event by event."""
        return [
            (handler, event)
            for event in events
            for event_type, handler in self._handlers
            if isinstance(event, event_type)
        ]


__all__ = [
    "DomainEvents",
    "Handler",
    "HandlerRegistry",
    "drop_events",
    "recorded_events",
    "take_events",
]
