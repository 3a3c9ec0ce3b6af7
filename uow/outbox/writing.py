"""What a unit with an outbox adds to the flush before its commit (pure, no I/O).

Before the plan, :func:`prepare` collects the events recorded by the unit's models and makes
sure each aggregate that recorded one is written in this transaction: one left unchanged
gets a version-only update. Two units recording events on one aggregate therefore conflict
like any two writers (one retries), and the aggregate's version after the commit is a
per-aggregate sequence number in commit order. From the plan (the versions its writes set,
the models it deletes), :func:`documents` gives the outbox documents before anything is
sent: on MongoDB 8.0 they go in the plan's ``bulkWrite`` (:func:`requests`), on 7.0 one
``insert`` command follows the plan's writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pymongo

from odm import Model
from odm import tracking as odm_tracking
from odm.facts import model_facts, version_key
from uow.errors import InvalidUsageError
from uow.events import recorded_events
from uow.identity_map import PERSISTENT, Entry
from uow.outbox.records import Outbox, event_document, utcnow


class UnversionedAggregateError(InvalidUsageError):
    """An event recorded by a model without a version field, in a unit with an outbox: the
    outbox orders an aggregate's events by its version."""


@dataclass
class Pending:
    """The events one commit stores, and the version bumps made for them."""

    events: list[tuple[Model, Any]]
    bumped: list[tuple[Model, str, Any]] = field(default_factory=list)


def _version_field(instance: Model) -> str:
    model = type(instance)
    versioned = version_key(model)
    if versioned is None:
        raise UnversionedAggregateError(
            f"{model.__name__} recorded an event in a unit with an outbox but has no version "
            f"field: the outbox orders an aggregate's events by its version; declare one "
            f"(`version: int = 0` and model_config['version_field'] = 'version')"
        )
    return versioned[0]


def prepare(entries: Iterable[Entry], departed: Iterable[Model], written: set[int]) -> Pending | None:
    """The events to store (``None``: none); bumps the version of each tracked aggregate
    that recorded one and is neither changed nor written in this transaction (``written``:
    ids of the instances written already)."""
    entries = list(entries)
    events = recorded_events([*(entry.instance for entry in entries), *departed])
    if not events:
        return None
    pending = Pending(events)
    aggregates = {id(instance) for instance, _ in events}
    for entry in entries:
        instance = entry.instance
        if id(instance) not in aggregates:
            continue
        name = _version_field(instance)
        if entry.state is not PERSISTENT or id(instance) in written:
            continue
        if odm_tracking.changes(instance)[1]:
            continue  # the plan updates it, version included
        old = getattr(instance, name)
        setattr(instance, name, (old or 0) + 1)  # the plan sends it as a guarded update
        pending.bumped.append((instance, name, old))
    for instance, _ in events:
        _version_field(instance)  # a removed one too
    return pending


def undo(pending: Pending | None) -> None:
    """Put back the versions :func:`prepare` bumped (the transaction rolled back)."""
    if pending is not None:
        for instance, name, old in reversed(pending.bumped):
            instance.__dict__[name] = old


def documents(
    outbox: Outbox, pending: Pending, deleted: set[int], versions: Mapping[int, Any]
) -> list[dict[str, Any]]:
    """The outbox documents of the flush whose plan deletes ``deleted`` and sets
    ``versions`` (both by ``id()`` of the instance; a model not in ``versions`` keeps its
    version)."""
    committed_at = utcnow()
    counters: dict[int, int] = {}
    found: list[dict[str, Any]] = []
    for instance, event in pending.events:
        model = type(instance)
        facts = model_facts(model)
        name = _version_field(instance)
        version = versions.get(id(instance), getattr(instance, name)) or 0
        # A deleted aggregate's events come after everything it recorded before.
        sequence = version + 1 if id(instance) in deleted else version
        index = counters.get(id(instance), 0)
        counters[id(instance)] = index + 1
        aggregate = {
            "type": model.__name__,
            "collection": facts.collection,
            "id": getattr(instance, facts.primary_field),
        }
        found.append(
            event_document(outbox.registry, event, aggregate, sequence, index, committed_at)
        )
    return found


def requests(outbox: Outbox, documents: Iterable[dict[str, Any]], database: str
             ) -> list[pymongo.InsertOne[Any]]:
    """The outbox documents as inserts of a ``MongoClient.bulk_write`` (MongoDB 8.0)."""
    namespace = f"{database}.{outbox.collection}"
    return [pymongo.InsertOne(document, namespace=namespace) for document in documents]


__all__ = ["Pending", "UnversionedAggregateError", "documents", "prepare", "requests", "undo"]
