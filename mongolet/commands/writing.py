"""What every write shares: document validation, ``_id`` handling, and writing the output
of an aggregation (``$out`` / ``$merge``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import bson
from bson import ObjectId, Regex

from mongolet.commands.registry import CommandContext, type_name
from mongolet.commands.selection import select
from mongolet.errors import MongoError, duplicate_key
from mongolet.query import updates
from mongolet.storage import Collection, canonical_id

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


def check_id(value: Any) -> None:
    """MongoDB refuses arrays, regexes and undefined as ``_id``, and ``$``-prefixed fields
    inside an ``_id`` document."""
    if isinstance(value, list):
        raise MongoError(53, "The '_id' value cannot be of type array")
    if isinstance(value, Regex | re.Pattern):
        raise MongoError(53, "The '_id' value cannot be of type regex")
    if isinstance(value, dict):
        for key in value:
            if isinstance(key, str) and key.startswith("$"):
                raise MongoError(52, f"_id fields may not contain '$'-prefixed fields: {key} "
                                     "is not valid for storage.")


def prepare_insert(doc: Any, *, upsert: bool = False) -> dict[str, Any]:
    """The document to store: ``_id`` first (generated when missing), validated (``upsert``:
    the document an upsert inserts, whose size error is mongod's UpsertStage's)."""
    if not isinstance(doc, dict):
        raise MongoError(14, f"document to insert must be an object, not {type_name(doc)}")
    if "_id" in doc:
        check_id(doc["_id"])
        if next(iter(doc)) != "_id":
            doc = {"_id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}
    else:
        doc = {"_id": ObjectId(), **doc}
    check_size(doc, insert=True, upsert=upsert)
    return doc


def check_size(doc: dict[str, Any], *, insert: bool, upsert: bool = False) -> None:
    # Cheap pre-check: only encode documents that might be near the limit.
    size = len(bson.encode(doc)) if _maybe_large(doc) else 0
    if size > MAX_DOCUMENT_BYTES:
        if upsert:
            raise MongoError(17420, f"Document to upsert is larger than {MAX_DOCUMENT_BYTES}")
        if insert:
            raise MongoError(2, f"object to insert too large. size in bytes: {size}, max size: "
                                f"{MAX_DOCUMENT_BYTES}")
        raise MongoError(17419, f"Resulting document after update is larger than "
                                f"{MAX_DOCUMENT_BYTES}")


def _maybe_large(doc: Mapping[str, Any], budget: int = 4096) -> bool:
    """True unless a quick look shows the document is small (few, short values)."""
    if len(doc) > budget:
        return True
    for value in doc.values():
        if isinstance(value, str | bytes) and len(value) > 1_000_000:
            return True
        if isinstance(value, dict | list):
            return True
    return False


def check_stored_document(new: dict[str, Any], old: dict[str, Any] | None) -> None:
    """A replacement or update result must keep ``_id`` and be storable."""
    if old is not None and "_id" in old:
        if "_id" not in new:
            new_with_id = {"_id": old["_id"], **new}
            new.clear()
            new.update(new_with_id)
        elif canonical_id(new["_id"]) != canonical_id(old["_id"]):
            raise MongoError(66, "Performing an update on the path '_id' would modify the "
                                 "immutable field '_id'")
    if "_id" in new:
        check_id(new["_id"])
    check_size(new, insert=False)


async def write_pipeline_output(ctx: CommandContext, docs: list[dict[str, Any]],
                                stage: dict[str, Any]) -> None:
    """Carry out a final ``$out`` or ``$merge`` stage."""
    name, spec = next(iter(stage.items()))
    if name == "$out":
        await _out(ctx, docs, spec)
    else:
        await _merge(ctx, docs, spec)


def _target(ctx: CommandContext, spec: Any, stage: str) -> tuple[str, str]:
    if isinstance(spec, str):
        return ctx.db, spec
    if isinstance(spec, dict):
        coll = spec.get("coll") if stage == "$out" else spec.get("into")
        db = spec.get("db", ctx.db)
        if isinstance(coll, dict):
            db, coll = coll.get("db", ctx.db), coll.get("coll")
        if isinstance(coll, str) and coll and isinstance(db, str):
            return db, coll
    raise MongoError(2 if stage == "$merge" else 16990,
                     f"{stage} requires a collection name string or an object naming one")


async def _out(ctx: CommandContext, docs: list[dict[str, Any]], spec: Any) -> None:
    db, name = _target(ctx, spec, "$out")
    prepared = [prepare_insert(doc) for doc in docs]
    seen: set[Any] = set()
    for doc in prepared:
        key = canonical_id(doc["_id"])
        if key in seen:
            raise MongoError(11000, f"E11000 duplicate key error collection: {db}.{name} "
                                    f"index: _id_ dup key: {{ _id: {doc['_id']!r} }}")
        seen.add(key)
    store = ctx.state.store
    old = store.collection(db, name)
    if old is not None and "viewOn" in old.options:
        raise MongoError(166, f"Namespace {db}.{name} is a view, not a collection")
    ctx.state.txns.abort_touching(db, name)
    # Replace the target wholesale, keeping its indexes (as $out does).
    store.drop_collection(db, name)
    target = store.create_collection(db, name, old.options if old is not None else None)
    if old is not None:
        for spec_ in old.indexes.values():
            if spec_.name != "_id_":
                target.add_index(spec_)
    for doc in prepared:
        await ctx.view.insert(target, doc)


async def _merge(ctx: CommandContext, docs: list[dict[str, Any]], spec: Any) -> None:
    db, name = _target(ctx, spec, "$merge")
    options = spec if isinstance(spec, dict) else {}
    on = options.get("on", "_id")
    on_fields = [on] if isinstance(on, str) else list(on)
    when_matched = options.get("whenMatched", "merge")
    when_not_matched = options.get("whenNotMatched", "insert")
    view = ctx.view
    coll = await view.writable_collection(db, name)
    if "viewOn" in coll.options:
        raise MongoError(166, f"Namespace {db}.{name} is a view, not a collection")
    for doc in docs:
        if "_id" not in doc and on_fields != ["_id"]:
            doc = {"_id": ObjectId(), **doc}
        query = {f: _get(doc, f) for f in on_fields}
        existing = next(iter(select(view, coll, query)), None)
        if existing is None:
            if when_not_matched == "insert":
                await view.insert(coll, prepare_insert(doc))
            elif when_not_matched == "fail":
                raise MongoError(13113, "$merge could not find a matching document in the "
                                        "target collection for at least one document in the "
                                        "source collection")
            continue
        record, current = existing
        if when_matched == "keepExisting":
            continue
        if when_matched == "fail":
            raise _merge_duplicate(coll, on_fields, query)
        if when_matched == "replace":
            new = {"_id": current["_id"], **{k: v for k, v in doc.items() if k != "_id"}}
        elif when_matched == "merge":
            new = {**current, **{k: v for k, v in doc.items() if k != "_id"}}
        elif isinstance(when_matched, list):
            new = updates.apply_update(current, when_matched)
        else:
            raise MongoError(51191, f"unsupported whenMatched mode {when_matched!r}")
        check_stored_document(new, current)
        await view.put(coll, record, new, current)


def _merge_duplicate(coll: Collection, on_fields: list[str], key_value: dict[str, Any]
                     ) -> MongoError:
    """whenMatched "fail": the insert's duplicate key error on the ``on`` fields' index."""
    wanted = set(on_fields)
    spec = next((s for s in coll.indexes.values() if set(s.key) == wanted), None)
    if spec is None:
        return duplicate_key(coll.ns, "_id_", {f: 1 for f in on_fields}, key_value)
    return duplicate_key(coll.ns, spec.name, spec.key,
                         {f: key_value.get(f) for f in spec.key})


def _get(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value

