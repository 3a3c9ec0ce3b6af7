"""The identity map and the state of every model a unit tracks (pure, no I/O).

Each tracked model is keyed by ``(collection, canonical primary key)``: loading the same
document twice yields the same object. Its *snapshot* (the document as stored, kept on the
instance by :mod:`odm.tracking`) is what flush diffs against; its :class:`State` says whether
flush inserts, updates or deletes it.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import bson

from odm import Model
from odm import tracking as odm_tracking
from odm.facts import model_facts
from uow.errors import InvalidUsageError

Key = tuple[str, Hashable]


class State(enum.Enum):
    NEW = "new"  # added, never stored: flush inserts it
    PERSISTENT = "persistent"  # loaded or attached: flush sends its changes
    REMOVED = "removed"  # flush deletes it


# The members as module globals for the per-model paths: looking an enum member up on its
# class costs ~0.1 us.
NEW, PERSISTENT, REMOVED = State.NEW, State.PERSISTENT, State.REMOVED


@dataclass(slots=True)
class Entry:
    instance: Model
    state: State


# Primary key types that are always hashable (no try/hash, ObjectId's __hash__ is Python).
_HASHABLE = frozenset({bson.ObjectId, str, int, uuid.UUID})


def canonical_id(value: Any) -> Hashable:
    """A hashable stand-in for a primary key value: itself, or its BSON bytes (dicts, lists)."""
    if type(value) in _HASHABLE:
        return value
    try:
        hash(value)
    except TypeError:
        return ("bson", bson.encode({"": value}))
    return value


def key_for(model: type[Model], id: Any) -> Key:
    return (model_facts(model).collection, canonical_id(id))


def key_of(instance: Model) -> Key:
    facts = model_facts(type(instance))
    return (facts.collection, canonical_id(getattr(instance, facts.primary_field)))


def check_model(instance: Any, operation: str) -> Model:
    if not isinstance(instance, Model):
        raise TypeError(f"{operation} expects an odm Model instance, got {type(instance).__name__}")
    return instance


class IdentityMap:
    """Tracked models by key, in the order they were first seen (flush order follows it)."""

    def __init__(self) -> None:
        self._entries: dict[Key, Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    def instances(self) -> list[Model]:
        return [entry.instance for entry in self._entries.values()]

    def lookup(self, model: type[Model], id: Any) -> Entry | None:
        return self._entries.get(key_for(model, id))

    def loaded(self, instance: Model) -> Model:
        """A model just read from the database: the tracked object if there is one already."""
        key = key_of(instance)
        entry = self._entries.get(key)
        if entry is not None:
            return entry.instance
        self._entries[key] = Entry(instance, PERSISTENT)
        return instance

    def add(self, instance: Model, *, new: bool | None = None) -> None:
        """Track ``instance``: new (inserted at flush) or loaded elsewhere (its changes sent).

        A loaded instance keeps the snapshot it was loaded with, so flush sends exactly what
        changed since, guarded by its version when the model has one. ``new`` is
        ``odm.tracking.is_new(instance)`` when the caller already knows it.
        """
        key = key_of(instance)
        if new is None:
            new = odm_tracking.is_new(instance)
        added = Entry(instance, NEW if new else PERSISTENT)
        entry = self._entries.setdefault(key, added)
        if entry is added:
            return  # not tracked yet, the common case (one lookup)
        if entry.instance is instance:
            if entry.state is REMOVED:
                entry.state = PERSISTENT
            return
        if entry.state is not REMOVED:
            model = type(instance)
            raise InvalidUsageError(
                f"Another {model.__name__} object with {model.__primary_field__}="
                f"{getattr(instance, model.__primary_field__)!r} is already tracked by this "
                "unit of work; change that object instead of adding a second one"
            )
        # Replacing a removed document: delete it, then insert the new object.
        self._entries[(key[0], ("replaced", key[1]))] = entry
        self._entries[key] = added

    def remove(self, instance: Model) -> None:
        """Delete ``instance`` at flush (a never-stored one is simply dropped)."""
        key = key_of(instance)
        entry = self._entries.get(key)
        if entry is None or entry.instance is not instance:
            if odm_tracking.is_new(instance):
                raise InvalidUsageError(
                    f"Cannot remove {type(instance).__name__} {key[1]!r}: it was never stored "
                    "nor added to this unit of work"
                )
            if entry is not None:
                raise InvalidUsageError(
                    f"Cannot remove this {type(instance).__name__} {key[1]!r}: the unit tracks "
                    "another object for that document; remove that one"
                )
            self._entries[key] = Entry(instance, REMOVED)
            return
        if entry.state is NEW:
            del self._entries[key]
        else:
            entry.state = REMOVED

    def expunge(self, instances: list[Model]) -> None:
        """Forget ``instances`` (the unit no longer holds them); refused, for all of them,
        while one has changes or events a flush or commit has not taken yet, which would
        be lost silently."""
        keys = []
        for instance in instances:
            key = key_of(instance)
            entry = self._entries.get(key)
            if entry is None or entry.instance is not instance:
                raise InvalidUsageError(
                    f"Cannot expunge {type(instance).__name__} {key[1]!r}: this unit of work "
                    "does not track that object"
                )
            pending = entry.state is not PERSISTENT or bool(odm_tracking.changes(instance)[1])
            if pending or getattr(instance, "_recorded_events", None):
                raise InvalidUsageError(
                    f"Cannot expunge {type(instance).__name__} {key[1]!r}: it has changes or "
                    "events not flushed yet; flush() (or commit()) first"
                )
            keys.append(key)
        for key in keys:
            del self._entries[key]

    def flushed(self, entries: list[Entry]) -> None:
        """After a successful flush: deleted documents leave the map."""
        gone = [entry for entry in entries if entry.state is REMOVED]
        if not gone:
            return
        ids = {id(entry) for entry in gone}
        self._entries = {k: e for k, e in self._entries.items() if id(e) not in ids}
        for entry in gone:
            odm_tracking.forget(entry.instance)

    def clear(self) -> list[Model]:
        """Detach everything; returns the detached instances."""
        instances = self.instances()
        self._entries = {}
        return instances


__all__ = [
    "Entry",
    "IdentityMap",
    "Key",
    "State",
    "canonical_id",
    "check_model",
    "key_for",
    "key_of",
]
