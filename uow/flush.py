"""The flush plan: what one flush sends, per collection (pure, no I/O).

Guarantees, for one flush:

- models that did not change send nothing, and an empty plan sends nothing at all;
- one ordered ``bulk_write`` per collection, collections in the order the unit first saw
  them, or, on MongoDB 8.0 and later (wire version 25) when that would send more than one
  command, all of them in one ordered ``MongoClient.bulk_write`` (the ``bulkWrite``
  command: one round trip whatever the number of collections, see :func:`client_requests`);
  within a collection, removals first (one ``delete`` command), then new models and
  changed ones together (one ``update`` command): a new model is an upsert with
  ``$setOnInsert``, so a collection that only gains and changes models costs one round trip,
  and an id that already exists is still refused (:class:`odm.DuplicateKeyError`);
- a changed model sends only the ``$set``/``$unset`` of its changed paths (nested embedded
  fields as dotted paths, in-place list/dict changes included; see :func:`odm.tracking.diff`);
- a model with a version field (``model_config["version_field"] = "version"``) is updated
  and deleted only where the stored version is still the one loaded, and each update bumps
  it by one; a guarded write that matches nothing is a :class:`~uow.errors.ConcurrencyError`;
- a model referencing a new model the unit does not track is refused
  (:class:`~uow.errors.InvalidUsageError`): unlike ``engine.save``, a unit does not cascade.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bson
import bson.errors
import pymongo
from bson import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.errors import BulkWriteError, ClientBulkWriteException, PyMongoError
from pymongo.results import BulkWriteResult, ClientBulkWriteResult

from odm import DuplicateKeyError, Model
from odm import tracking as odm_tracking
from odm.facts import model_facts, version_key
from odm.write_errors import DUPLICATE_KEY, duplicate_key_error, is_duplicate_key
from uow.errors import ConcurrencyError, InvalidUsageError
from uow.identity_map import NEW, PERSISTENT, REMOVED, Entry, canonical_id


class Kind(enum.Enum):
    DELETE = 0
    INSERT = 1
    UPDATE = 2


# The members as module globals for the per-model paths (an enum member lookup costs ~0.1 us).
DELETE, INSERT, UPDATE = Kind.DELETE, Kind.INSERT, Kind.UPDATE


@dataclass(slots=True)
class Write:
    """One model's write, and what to record once it succeeded."""

    entry: Entry
    kind: Kind
    filter: dict[str, Any]
    document: dict[str, Any] | None = None  # the stored document afterwards (its new snapshot)
    expected_version: Any = None
    new_version: Any = None
    previous: dict[str, Any] | None = None  # the snapshot before (restored on rollback)
    update: dict[str, Any] | None = None  # the update document (UPDATE and INSERT)

    @property
    def request(self) -> pymongo.UpdateOne | pymongo.DeleteOne:
        """Its request in a collection's ``bulk_write`` (built when needed: ~8 us each)."""
        if self.kind is DELETE:
            return pymongo.DeleteOne(self.filter)
        return pymongo.UpdateOne(self.filter, self.update, upsert=self.kind is INSERT)  # type: ignore[arg-type]

    @property
    def model(self) -> type[Model]:
        return type(self.entry.instance)

    @property
    def id(self) -> Any:
        return self.filter[self.model.__primary_key__]


@dataclass
class Batch:
    """The writes of one collection: one ordered ``bulk_write``."""

    model: type[Model]
    collection: str
    writes: list[Write] = field(default_factory=list)

    def requests(self) -> list[pymongo.UpdateOne | pymongo.DeleteOne]:
        return [write.request for write in self.writes]


def _update(entry: Entry) -> Write | None:
    instance = entry.instance
    model = type(instance)
    document, snapshot, update = odm_tracking.changes_and_snapshot(instance)
    if update is None:  # attached without a snapshot: cannot happen for PERSISTENT entries
        update = {"$set": dict(document)}
    if not update:
        return None
    primary_key = model_facts(model).primary_key
    filter_ = {primary_key: document[primary_key]}
    versioned = version_key(model)
    expected = new = None
    if versioned is not None:
        expected = (snapshot or {}).get(versioned[1])
        new = (expected or 0) + 1
        filter_[versioned[1]] = expected
        document[versioned[1]] = new
        update.setdefault("$set", {})[versioned[1]] = new
        update.get("$unset", {}).pop(versioned[1], None)
    return Write(entry, UPDATE, filter_, document, expected, new, snapshot, update)


def _insert(entry: Entry) -> Write:
    document = entry.instance.model_dump_doc()
    primary_key = model_facts(type(entry.instance)).primary_key
    filter_ = {primary_key: document[primary_key]}
    fields = {key: value for key, value in document.items() if key != primary_key} or filter_
    update = {"$setOnInsert": fields}
    previous = odm_tracking.snapshot_of(entry.instance)
    return Write(entry, INSERT, filter_, document, previous=previous, update=update)


def _delete(entry: Entry) -> Write:
    instance = entry.instance
    model = type(instance)
    facts = model_facts(model)
    filter_ = {facts.primary_key: getattr(instance, facts.primary_field)}
    versioned = version_key(model)
    expected = None
    snapshot = odm_tracking.snapshot_of(instance)
    if versioned is not None:
        expected = (snapshot or {}).get(versioned[1])
        filter_[versioned[1]] = expected
    return Write(entry, DELETE, filter_, None, expected, previous=snapshot)


def plan(entries: Iterable[Entry]) -> list[Batch]:
    """The flush of ``entries`` (in tracking order): batches of collections with writes."""
    batches: dict[str, Batch] = {}
    new: set[int] = set()  # the new models the unit tracks (referencing may point at them)
    referencing: list[Write] = []
    for entry in entries:
        write: Write | None
        state = entry.state
        if state is NEW:
            new.add(id(entry.instance))
            write = _insert(entry)
        elif state is REMOVED:
            write = _delete(entry)
        else:
            write = _update(entry)
        if write is None:
            continue
        model = type(entry.instance)
        facts = model_facts(model)
        if facts.references and write.kind is not DELETE:
            referencing.append(write)
        collection = facts.collection
        batch = batches.get(collection)
        if batch is None:
            batch = batches[collection] = Batch(model, collection)
        batch.writes.append(write)
    for batch in batches.values():
        first = batch.writes[0].kind
        if any(write.kind is not first for write in batch.writes):
            batch.writes.sort(key=lambda write: write.kind.value)  # stable: keeps tracking order
    if referencing:
        _check_references(referencing, new)
    return list(batches.values())


def _check_references(writes: list[Write], new: set[int]) -> None:
    """A unit writes only the models it tracks: a saved model referencing a new model the
    unit does not track is refused (``engine.save`` would cascade; a unit does not, so that
    every write it sends is one the code asked for)."""
    for write in writes:
        instance = write.entry.instance
        for reference in model_facts(type(instance)).references:
            target = getattr(instance, reference.name)
            if target is not None and id(target) not in new and odm_tracking.is_new(target):
                raise InvalidUsageError(
                    f"{type(instance).__name__}.{reference.name} references a new "
                    f"{type(target).__name__} that this unit does not track; add it to the "
                    "unit (its repository's add()) or save it first: a unit of work does not "
                    "save referenced models on its own"
                )


# ---------------------------------------------------------------- after the write


def _duplicate_id_error(write: Write, collection: str) -> DuplicateKeyError:
    """The error an insert of an existing id gets, for an upsert that matched instead."""
    key = write.model.__primary_key__
    message = (
        f"E11000 duplicate key error collection: {collection} index: {key}_ "
        f"dup key: {{ {key}: {write.id!r} }}"
    )
    details = {"code": DUPLICATE_KEY, "errmsg": message, "keyPattern": {key: 1},
               "keyValue": {key: write.id}}
    return duplicate_key_error(write.entry.instance, details)


def unapplied(batch: Batch, result: BulkWriteResult) -> list[Write] | None:
    """``None`` when every write applied; else the guarded writes that may have missed.

    Raises :class:`odm.DuplicateKeyError` for a new model whose id already existed.
    """
    upserted = result.upserted_ids or {}
    updates = deletes = 0
    for index, write in enumerate(batch.writes):
        kind = write.kind  # compared by identity: Enum.__hash__ is Python code
        if kind is UPDATE:
            updates += 1
        elif kind is DELETE:
            deletes += 1
        elif index not in upserted:
            raise _duplicate_id_error(write, batch.collection)
    missed: list[Write] = []
    if result.matched_count < updates:
        missed.extend(w for w in batch.writes if w.kind is UPDATE)
    if result.deleted_count < deletes:
        missed.extend(w for w in batch.writes if w.kind is DELETE)
    return missed or None


# ---------------------------------------------------------------- one bulkWrite (MongoDB 8.0)


def client_requests(
    batches: Sequence[Batch], database: str, codec_options: CodecOptions[Any]
) -> list[pymongo.InsertOne[Any] | pymongo.UpdateOne | pymongo.DeleteOne]:
    """Every batch's writes, in order, as the models of one ordered ``MongoClient.bulk_write``.

    Each names its namespace. A new model is a plain insert here (one command takes inserts
    and updates alike; a taken id is the insert's duplicate key error). A document the
    client's codec cannot encode (a set, say: ``MongoClient.bulk_write`` encodes with the
    client's codec options, which lack odm's fallback encoder) goes pre-encoded with the
    engine's.
    """
    def encodable(document: dict[str, Any]) -> Any:
        try:
            bson.encode(document)
        except bson.errors.InvalidDocument:
            return RawBSONDocument(bson.encode(document, codec_options=codec_options))
        return document

    requests: list[pymongo.InsertOne[Any] | pymongo.UpdateOne | pymongo.DeleteOne] = []
    append = requests.append
    for batch in batches:
        namespace = f"{database}.{batch.collection}"
        for write in batch.writes:
            kind = write.kind
            if kind is UPDATE:
                assert write.update is not None
                append(pymongo.UpdateOne(encodable(write.filter), encodable(write.update),
                                         namespace=namespace))
            elif kind is INSERT:
                assert write.document is not None
                document = RawBSONDocument(bson.encode(write.document,
                                                       codec_options=codec_options))
                append(pymongo.InsertOne(document, namespace=namespace))
            else:
                append(pymongo.DeleteOne(encodable(write.filter), namespace=namespace))
    return requests


def deleted(batches: Sequence[Batch]) -> set[int]:
    """The ids (``id()``) of the instances the plan deletes."""
    return {id(w.entry.instance) for batch in batches for w in batch.writes if w.kind is DELETE}


def versions_after(batches: Sequence[Batch]) -> dict[int, Any]:
    """The version each instance the plan updates will have (by ``id()``): known before the
    writes are sent, so what depends on it can go in the same command."""
    return {id(w.entry.instance): w.new_version for batch in batches for w in batch.writes
            if w.new_version is not None}


def per_collection_commands(batches: Sequence[Batch]) -> int:
    """The write commands one ``bulk_write`` per collection sends: a ``delete`` where a
    collection has removals, an ``update`` where it has new or changed models."""
    commands = 0
    for batch in batches:
        kinds = {write.kind is DELETE for write in batch.writes}
        commands += len(kinds)
    return commands


def _positions(batches: Sequence[Batch]) -> list[tuple[Batch, Write]]:
    return [(batch, write) for batch in batches for write in batch.writes]


def client_missed(batches: Sequence[Batch], result: ClientBulkWriteResult) -> bool:
    """Whether some guarded write of one ``MongoClient.bulk_write`` of every batch matched
    nothing: its summary counts fall short (new models are inserts: a taken id is an error)."""
    updates = deletes = 0
    for batch in batches:
        for write in batch.writes:
            kind = write.kind
            if kind is UPDATE:
                updates += 1
            elif kind is DELETE:
                deletes += 1
    return result.matched_count < updates or result.deleted_count < deletes


def guarded(batch: Batch) -> list[Write]:
    """The writes of ``batch`` that may miss: updates and deletes."""
    return [write for write in batch.writes if write.kind is not INSERT]


def client_write_error(batches: Sequence[Batch], error: ClientBulkWriteException) -> Exception:
    """:func:`write_error` for one ``MongoClient.bulk_write`` of every batch: the top-level
    error (a write conflict...) or the first write error, named after its model."""
    if error.error is not None:
        cause = error.error
        if isinstance(cause, PyMongoError) and is_write_conflict(cause):
            # The server does not say which op conflicted: name the first collection whose
            # stored documents the flush changed (a new model's upsert rarely conflicts).
            batch = next((b for b in batches if any(w.kind is not INSERT for w in b.writes)),
                         batches[0])
            return ConcurrencyError(
                batch.model,
                [write.id for write in batch.writes],
                [write.expected_version for write in batch.writes],
                "conflicted with a concurrent transaction (WriteConflict)",
                error_labels=labels_of(cause),
            )
        return cause if isinstance(cause, Exception) else error
    first: Mapping[str, Any] = error.write_errors[0] if error.write_errors else {}  # type: ignore[assignment]
    positions = _positions(batches)
    index = first.get("idx", 0)
    if index < len(positions):
        batch, write = positions[index]
        if is_duplicate_key(first):
            return duplicate_key_error(write.entry.instance, first)
        if first.get("code") == WRITE_CONFLICT:
            return ConcurrencyError(
                batch.model, [write.id], [write.expected_version],
                "conflicted with a concurrent transaction (WriteConflict)",
                error_labels=labels_of(error),
            )
    return error


def lookup_filter(writes: Sequence[Write]) -> dict[str, Any]:
    """The find that tells which of ``writes`` missed (their ids)."""
    key = writes[0].model.__primary_key__
    return {key: {"$in": [write.id for write in writes]}}


def _with_documents(writes: Sequence[Write], current: Iterable[Mapping[str, Any]]
                    ) -> list[tuple[Write, Mapping[str, Any] | None]]:
    """Each write (of one model) with its document as it is now (None: there is none)."""
    key = writes[0].model.__primary_key__
    now = {canonical_id(doc.get(key)): doc for doc in current}
    return [(write, now.get(canonical_id(write.id))) for write in writes]


def culprits(writes: Sequence[Write], current: Iterable[Mapping[str, Any]], *,
             unversioned_deletes: bool = True) -> list[Write]:
    """The writes (of one model) the documents as they are now show missed; a delete of an
    unversioned model cannot be told from a successful one (counted unless
    ``unversioned_deletes`` is False)."""
    versioned = version_key(writes[0].model)
    found: list[Write] = []
    for write, doc in _with_documents(writes, current):
        if write.kind is DELETE:
            missed = doc is not None or (versioned is None and unversioned_deletes)
        elif versioned is None:
            missed = doc is None
        else:
            missed = doc is None or doc.get(versioned[1]) != write.new_version
        if missed:
            found.append(write)
    return found


def undetected(writes: Sequence[Write], current: Iterable[Mapping[str, Any]]) -> list[Write]:
    """The writes (of one model) that may have missed although the documents now do not show
    it: a versioned update whose document another writer moved to the very version it would
    have set, a delete of an unversioned model."""
    versioned = version_key(writes[0].model)
    found: list[Write] = []
    for write, doc in _with_documents(writes, current):
        if write.kind is DELETE:
            maybe = versioned is None and doc is None
        else:
            maybe = versioned is not None and doc is not None \
                and doc.get(versioned[1]) == write.new_version
        if maybe:
            found.append(write)
    return found


def concurrency_error(writes: Sequence[Write], current: Iterable[Mapping[str, Any]]) -> ConcurrencyError:
    """The error naming the writes that missed, given the documents as they are now."""
    model = writes[0].model
    versioned = version_key(model)
    culprits_ = culprits(writes, current) or list(writes)
    reason = (
        "was deleted or changed by another writer"
        if versioned is not None
        else "was deleted by another writer"
    )
    return ConcurrencyError(
        model, [w.id for w in culprits_], [w.expected_version for w in culprits_], reason
    )


def applied(batch: Batch) -> list[tuple[Model, dict[str, Any] | None, Any]]:
    """Record a successful batch: new snapshots and versions; returns what to restore on
    rollback (instance, previous snapshot, previous version)."""
    previous: list[tuple[Model, dict[str, Any] | None, Any]] = []
    for write in batch.writes:
        instance = write.entry.instance
        versioned = version_key(type(instance))
        old_version = getattr(instance, versioned[0]) if versioned else None
        previous.append((instance, write.previous, old_version))
        if write.document is not None:
            odm_tracking.mark_persisted(instance, write.document)
            write.entry.state = PERSISTENT
        if versioned is not None and write.new_version is not None:
            instance.__dict__[versioned[0]] = write.new_version
    return previous




WRITE_CONFLICT = 112


def is_write_conflict(error: BaseException) -> bool:
    """The server's ``WriteConflict`` (112): a command error, or a batch's first write error."""
    if isinstance(error, BulkWriteError):
        write_errors = error.details.get("writeErrors") or [{}]
        return write_errors[0].get("code") == WRITE_CONFLICT
    return isinstance(error, PyMongoError) and getattr(error, "code", None) == WRITE_CONFLICT


def labels_of(error: PyMongoError) -> list[str]:
    labels = getattr(error, "_error_labels", ())
    return [str(label) for label in labels]


def write_error(batch: Batch, error: PyMongoError) -> Exception:
    """What a refused ``bulk_write`` means for the unit: :class:`~uow.ConcurrencyError` for
    a write conflict (labels kept), odm's :class:`~odm.DuplicateKeyError` for a unique index
    violation, else ``error`` itself."""
    if is_write_conflict(error):
        return ConcurrencyError(
            batch.model,
            [write.id for write in batch.writes],
            [write.expected_version for write in batch.writes],
            "conflicted with a concurrent transaction (WriteConflict)",
            error_labels=labels_of(error),
        )
    if isinstance(error, BulkWriteError):
        write_errors = error.details.get("writeErrors") or [{}]
        index = write_errors[0].get("index", 0)
        if is_duplicate_key(write_errors[0]) and index < len(batch.writes):
            return DuplicateKeyError(batch.writes[index].entry.instance, error)
    return error


def commit_error(error: BaseException) -> BaseException:
    """A commit's error: :class:`~uow.ConcurrencyError` for a write conflict, else itself."""
    if isinstance(error, PyMongoError) and is_write_conflict(error):
        return ConcurrencyError(
            None,
            reason="conflicted with a concurrent transaction (WriteConflict) at commit",
            error_labels=labels_of(error),
        )
    return error


__all__ = [
    "Batch",
    "Kind",
    "Write",
    "applied",
    "client_missed",
    "client_requests",
    "client_write_error",
    "commit_error",
    "concurrency_error",
    "culprits",
    "deleted",
    "per_collection_commands",
    "guarded",
    "undetected",
    "is_write_conflict",
    "lookup_filter",
    "plan",
    "unapplied",
    "versions_after",
    "write_error",
]
