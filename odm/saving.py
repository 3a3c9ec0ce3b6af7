"""Saving: the writes ``save`` / ``save_all`` / ``delete`` send (per collection, referenced
collections first, only the changes of tracked instances), the driver call sending them, and
the change tracking after they succeed. Their errors: :mod:`odm.write_errors`."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pymongo

from odm.facts import ModelFacts, check_instance, model_facts
from odm.model import Model
from odm.tracking import changes_and_snapshot, mark_persisted


class WriteKind(enum.Enum):
    """How a save reaches the server."""

    INSERT = "insert"  # insert the document (a new instance with a generated id)
    UPDATE = "update"  # upsert with an update document ($set/$unset)
    REPLACE = "replace"  # upsert the whole document (a new instance with nothing but its id)


# The members as module globals: an enum member lookup costs ~0.1 us (EnumType.__getattr__).
_INSERT, _UPDATE, _REPLACE = WriteKind.INSERT, WriteKind.UPDATE, WriteKind.REPLACE


@dataclass(slots=True)
class SaveOperation:
    """The write that saves one instance, the document it leaves stored, and the snapshot
    the instance had before (restored if a transaction aborts)."""

    instance: Model
    collection: str
    document: dict[str, Any]
    kind: WriteKind
    filter: dict[str, Any]
    update: dict[str, Any] | None
    previous: dict[str, Any] | None

    @property
    def request(self) -> pymongo.InsertOne[Any] | pymongo.UpdateOne | pymongo.ReplaceOne:
        """The ``bulk_write`` request (built only when one is needed: they cost ~1 us)."""
        if self.kind is _INSERT:
            return pymongo.InsertOne(self.document)
        if self.kind is _UPDATE:
            return pymongo.UpdateOne(self.filter, self.update, upsert=True)  # type: ignore[arg-type]
        return pymongo.ReplaceOne(self.filter, self.document, upsert=True)


def save_operation(instance: Model) -> SaveOperation | None:
    """The write saving ``instance``; ``None`` when it has not changed since loaded/saved.

    A new instance is inserted when its id was generated (a fresh ObjectId: no stored
    document can have it, and servers insert much faster than they upsert), upserted whole
    when the user chose it (saving over a stored document, as ODMantic does); a tracked one
    sends only the diff against its snapshot (``$set`` of changed dotted paths, ``$unset``
    of removed ones).
    """
    return _save_operation(instance, model_facts(type(instance)))


def _save_operation(instance: Model, writes: ModelFacts) -> SaveOperation | None:
    document, snapshot, update = changes_and_snapshot(instance)
    primary_key = writes.primary_key
    filter_ = {primary_key: document[primary_key]}
    if snapshot is not None:
        if not update:
            return None
        kind = _UPDATE
    elif writes.primary_field not in instance.__pydantic_fields_set__:  # a generated id
        kind, update = _INSERT, None
    else:
        fields = {key: value for key, value in document.items() if key != primary_key}
        kind, update = (_UPDATE, {"$set": fields}) if fields else (_REPLACE, None)
    return SaveOperation(instance, writes.collection, document, kind, filter_, update, snapshot)


def _with_references(instance: Model, seen: set[int]) -> Iterator[Model]:
    """``instance`` after the models it references (depth first), each once."""
    if id(instance) in seen:
        return
    seen.add(id(instance))
    for reference in model_facts(type(instance)).references:
        referenced = getattr(instance, reference.name)
        if referenced is not None:
            yield from _with_references(referenced, seen)
    yield instance


def save_operations(instances: Iterable[Model]) -> list[tuple[str, list[SaveOperation]]]:
    """The writes of ``save_all(instances)``: per collection, referenced collections first.

    Referenced models are saved too (cascade, as ODMantic does); unchanged instances are
    skipped. Each collection's list goes out in one round trip (see :func:`write_call`),
    inserts first: a ``bulk_write`` sends one command per run of same-kind requests.
    """
    seen: set[int] = set()
    groups: dict[str, tuple[list[SaveOperation], list[SaveOperation]]] = {}  # inserts, others
    depth: dict[str, int] = {}
    for instance in instances:
        writes = model_facts(type(instance))  # a TypeError for anything but a Model
        items: Iterable[tuple[Model, ModelFacts]]
        if writes.references:
            items = [(item, model_facts(type(item))) for item in _with_references(instance, seen)]
        elif id(instance) in seen:
            continue
        else:
            seen.add(id(instance))
            items = ((instance, writes),)
        for item, item_writes in items:
            operation = _save_operation(item, item_writes)
            if operation is None:
                continue
            group = groups.get(item_writes.collection)
            if group is None:
                group = groups[item_writes.collection] = ([], [])
            group[operation.kind is not _INSERT].append(operation)
            depth[item_writes.collection] = item_writes.depth
    ordered = sorted(groups, key=depth.__getitem__)
    return [(name, groups[name][0] + groups[name][1]) for name in ordered]


def write_call(
    operations: Sequence[SaveOperation],
) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """``(method, arguments, keywords)`` of the collection call writing ``operations`` (one
    collection's) in one round trip.

    The server gets the same command either way; the plain calls skip PyMongo's per-request
    objects and bulk machinery (~25 us of client time for one save, ~0.5 us per inserted
    document). A refused single write raises ``bulk_write``'s error (see
    :func:`translate_write_error`); only a write-concern failure of a single save outside a
    transaction differs: PyMongo's ``WriteConcernError`` (its counts are not known).
    """
    if len(operations) == 1:
        operation = operations[0]
        if operation.kind is _INSERT:
            return "insert_one", (operation.document,), {}
        if operation.kind is _UPDATE:
            return "update_one", (operation.filter, operation.update), {"upsert": True}
        return "replace_one", (operation.filter, operation.document), {"upsert": True}
    if all(operation.kind is _INSERT for operation in operations):
        return "insert_many", ([operation.document for operation in operations],), {"ordered": True}
    return "bulk_write", (write_requests(operations),), {"ordered": True}


def write_requests(operations: Sequence[SaveOperation]) -> list[Any]:
    """The driver requests of a ``bulk_write``."""
    return [operation.request for operation in operations]


def mark_saved(operations: Iterable[SaveOperation]) -> list[tuple[Model, dict[str, Any] | None]]:
    """After a successful write: the sent documents become the instances' snapshots.

    Returns the previous snapshots, for :func:`odm.tracking.restore` if a transaction
    aborts.
    """
    previous: list[tuple[Model, dict[str, Any] | None]] = []
    for operation in operations:
        previous.append((operation.instance, operation.previous))
        mark_persisted(operation.instance, operation.document)
    return previous


def delete_filter(instance: Model) -> dict[str, Any]:
    """The filter deleting ``instance``'s document."""
    check_instance(instance, "delete")
    model = type(instance)
    return {model.__primary_key__: getattr(instance, model.__primary_field__)}
