"""Entity operations of the unified test format, run through PyMongo's synchronous API.

Each ``op_<name>`` takes the target entity and an ``Args`` view of ``operation.arguments``
and returns the result in the format's shape (e.g. ``{insertedId}`` for insertOne, a
``RootDocuments`` list for find). An argument no handler consumes is an error, as the
format requires.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bson import SON
from pymongo import MongoClient, ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.operations import (
    DeleteMany,
    DeleteOne,
    InsertOne,
    ReplaceOne,
    UpdateMany,
    UpdateOne,
    _Op,
)
from pymongo.results import BulkWriteResult, ClientBulkWriteResult
from pymongo.synchronous.collection import Collection
from pymongo.synchronous.database import Database

from tests.spec.entities import EntityMap, concern_options, read_preference, write_concern
from tests.spec.matching import RootDocuments
from tests.spec.unsupported import Unsupported

# How an argument becomes a PyMongo keyword: its name, or (name, conversion).
Option = str | tuple[str, Callable[[Any], Any]]


class Args:
    """``operation.arguments``, consumed name by name; ``finish`` rejects leftovers."""

    def __init__(self, name: str, arguments: Mapping[str, Any], entities: EntityMap) -> None:
        self.name = name
        self._left = dict(arguments)
        self._entities = entities

    def pop(self, key: str, default: Any = None) -> Any:
        return self._left.pop(key, default)

    def required(self, key: str) -> Any:
        if key not in self._left:
            raise Unsupported(f"{self.name}: missing required argument {key!r}")
        return self._left.pop(key)

    def session(self) -> ClientSession | None:
        """The session entity; handlers read it last, so it also rejects leftovers
        before the operation runs."""
        name = self._left.pop("session", None)
        self.finish()
        return None if name is None else self._entities.get(name, ClientSession)

    def options(self, mapping: Mapping[str, Option]) -> dict[str, Any]:
        """Move the present arguments named in ``mapping`` into PyMongo keyword arguments."""
        out: dict[str, Any] = {}
        for key, target in mapping.items():
            if key in self._left:
                value = self._left.pop(key)
                if isinstance(target, tuple):
                    target, convert = target
                    value = convert(value)
                out[target] = value
        return out

    def finish(self) -> None:
        if self._left:
            raise Unsupported(f"{self.name}: unsupported arguments {sorted(self._left)}")


def _sort(spec: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return list(spec.items())


def _hint(spec: Any) -> Any:
    return spec if isinstance(spec, str) else list(spec.items())


def _return_document(spec: str) -> bool:
    return ReturnDocument.AFTER if spec.lower() == "after" else ReturnDocument.BEFORE


# Options every write/read command takes as PyMongo keyword arguments of the same meaning.
_COMMON: dict[str, Option] = {"comment": "comment", "let": "let", "collation": "collation",
           "hint": ("hint", _hint)}


def _update_result(result: Any) -> dict[str, Any]:
    if not result.acknowledged:
        return {"acknowledged": False}
    value = {"matchedCount": result.matched_count, "modifiedCount": result.modified_count,
             "upsertedCount": 0 if result.upserted_id is None else 1}
    if result.upserted_id is not None:
        value["upsertedId"] = result.upserted_id
    return value


def bulk_result(result: BulkWriteResult) -> dict[str, Any]:
    if not result.acknowledged:
        return {"acknowledged": False}
    return {"deletedCount": result.deleted_count, "insertedCount": result.inserted_count,
            "matchedCount": result.matched_count, "modifiedCount": result.modified_count,
            "upsertedCount": result.upserted_count,
            "upsertedIds": {str(i): _id for i, _id in (result.upserted_ids or {}).items()}}


# --- collection operations -------------------------------------------------------------

def op_find(coll: Collection, a: Args) -> Any:
    kwargs = a.options({**_COMMON, "projection": "projection", "skip": "skip",
                        "limit": "limit", "sort": ("sort", _sort), "batchSize": "batch_size",
                        "allowDiskUse": "allow_disk_use", "maxTimeMS": "max_time_ms",
                        "min": "min", "max": "max", "returnKey": "return_key",
                        "showRecordId": "show_record_id", "noCursorTimeout": "no_cursor_timeout"})
    return RootDocuments(coll.find(a.pop("filter", {}), session=a.session(), **kwargs))


def op_findOne(coll: Collection, a: Args) -> Any:
    kwargs = a.options({**_COMMON, "projection": "projection", "skip": "skip",
                        "sort": ("sort", _sort), "maxTimeMS": "max_time_ms"})
    return coll.find_one(a.pop("filter", {}), session=a.session(), **kwargs)


def op_aggregate(target: Collection | Database, a: Args) -> Any:
    kwargs = a.options({**_COMMON, "batchSize": "batchSize", "allowDiskUse": "allowDiskUse",
                        "maxTimeMS": "maxTimeMS",
                        "bypassDocumentValidation": "bypassDocumentValidation"})
    return RootDocuments(target.aggregate(a.required("pipeline"), session=a.session(), **kwargs))


def op_countDocuments(coll: Collection, a: Args) -> Any:
    kwargs = a.options({**_COMMON, "skip": "skip", "limit": "limit", "maxTimeMS": "maxTimeMS"})
    return coll.count_documents(a.required("filter"), session=a.session(), **kwargs)


def op_estimatedDocumentCount(coll: Collection, a: Args) -> Any:
    kwargs = a.options({"comment": "comment", "maxTimeMS": "maxTimeMS"})
    a.finish()
    return coll.estimated_document_count(**kwargs)


def op_count(coll: Collection, a: Args) -> Any:
    # PyMongo 4 has no Collection.count(): send the deprecated `count` command the way its
    # estimated_document_count does, through the client's retryable read path.
    command = SON([("count", coll.name), ("query", a.pop("filter", {}))])
    command.update(a.options({"skip": "skip", "limit": "limit", "comment": "comment",
                              "hint": "hint", "maxTimeMS": "maxTimeMS"}))
    collation = a.pop("collation")

    def run(session: Any, _server: Any, conn: Any, read_preference: Any) -> int:
        return coll._count_cmd(session, conn, read_preference, command, collation)

    return coll._retryable_non_cursor_read(run, a.session(), operation=_Op.COUNT)


def op_distinct(coll: Collection, a: Args) -> Any:
    kwargs = a.options({**_COMMON, "maxTimeMS": "maxTimeMS"})
    return coll.distinct(a.required("fieldName"), a.pop("filter", {}), session=a.session(),
                         **kwargs)


def op_insertOne(coll: Collection, a: Args) -> Any:
    kwargs = a.options({"comment": "comment",
                        "bypassDocumentValidation": "bypass_document_validation"})
    result = coll.insert_one(a.required("document"), session=a.session(), **kwargs)
    return {"insertedId": result.inserted_id} if result.acknowledged else {"acknowledged": False}


def op_insertMany(coll: Collection, a: Args) -> Any:
    kwargs = a.options({"comment": "comment", "ordered": "ordered",
                        "bypassDocumentValidation": "bypass_document_validation"})
    result = coll.insert_many(a.required("documents"), session=a.session(), **kwargs)
    if not result.acknowledged:
        return {"acknowledged": False}
    return {"insertedIds": {str(i): _id for i, _id in enumerate(result.inserted_ids)}}


_UPDATE_OPTIONS: dict[str, Option] = {**_COMMON, "upsert": "upsert", "arrayFilters": "array_filters",
                   "bypassDocumentValidation": "bypass_document_validation",
                   "sort": ("sort", dict)}


def op_updateOne(coll: Collection, a: Args) -> Any:
    kwargs = a.options(_UPDATE_OPTIONS)
    return _update_result(coll.update_one(a.required("filter"), a.required("update"),
                                          session=a.session(), **kwargs))


def op_updateMany(coll: Collection, a: Args) -> Any:
    kwargs = a.options({k: v for k, v in _UPDATE_OPTIONS.items() if k != "sort"})
    return _update_result(coll.update_many(a.required("filter"), a.required("update"),
                                           session=a.session(), **kwargs))


def op_replaceOne(coll: Collection, a: Args) -> Any:
    kwargs = a.options({k: v for k, v in _UPDATE_OPTIONS.items() if k != "arrayFilters"})
    return _update_result(coll.replace_one(a.required("filter"), a.required("replacement"),
                                           session=a.session(), **kwargs))


def _delete_result(result: Any) -> dict[str, Any]:
    return {"deletedCount": result.deleted_count} if result.acknowledged else {
        "acknowledged": False}


def op_deleteOne(coll: Collection, a: Args) -> Any:
    kwargs = a.options(_COMMON)
    return _delete_result(coll.delete_one(a.required("filter"), session=a.session(), **kwargs))


def op_deleteMany(coll: Collection, a: Args) -> Any:
    kwargs = a.options(_COMMON)
    return _delete_result(coll.delete_many(a.required("filter"), session=a.session(), **kwargs))


_FIND_AND_MODIFY: dict[str, Option] = {**_COMMON, "projection": "projection", "sort": ("sort", _sort),
                    "maxTimeMS": "maxTimeMS"}
_FIND_AND_WRITE: dict[str, Option] = {**_FIND_AND_MODIFY, "upsert": "upsert",
                   "returnDocument": ("return_document", _return_document),
                   # sent as given, also when false (PyMongo's own option only sends true)
                   "bypassDocumentValidation": "bypassDocumentValidation"}


def op_findOneAndDelete(coll: Collection, a: Args) -> Any:
    kwargs = a.options(_FIND_AND_MODIFY)
    return coll.find_one_and_delete(a.required("filter"), session=a.session(), **kwargs)


def op_findOneAndReplace(coll: Collection, a: Args) -> Any:
    kwargs = a.options(_FIND_AND_WRITE)
    return coll.find_one_and_replace(a.required("filter"), a.required("replacement"),
                                     session=a.session(), **kwargs)


def op_findOneAndUpdate(coll: Collection, a: Args) -> Any:
    kwargs = a.options({**_FIND_AND_WRITE, "arrayFilters": "array_filters"})
    return coll.find_one_and_update(a.required("filter"), a.required("update"),
                                    session=a.session(), **kwargs)


_MODELS: dict[str, tuple[type, dict[str, Option]]] = {
    "insertOne": (InsertOne, {"document": "document"}),
    "updateOne": (UpdateOne, {"filter": "filter", "update": "update", "upsert": "upsert",
                              "arrayFilters": "array_filters", "collation": "collation",
                              "hint": ("hint", _hint), "sort": ("sort", dict)}),
    "updateMany": (UpdateMany, {"filter": "filter", "update": "update", "upsert": "upsert",
                                "arrayFilters": "array_filters", "collation": "collation",
                                "hint": ("hint", _hint)}),
    "replaceOne": (ReplaceOne, {"filter": "filter", "replacement": "replacement",
                                "upsert": "upsert", "collation": "collation",
                                "hint": ("hint", _hint), "sort": ("sort", dict)}),
    "deleteOne": (DeleteOne, {"filter": "filter", "collation": "collation",
                              "hint": ("hint", _hint)}),
    "deleteMany": (DeleteMany, {"filter": "filter", "collation": "collation",
                                "hint": ("hint", _hint)}),
}


def write_model(request: Mapping[str, Any], entities: EntityMap, *,
                client_level: bool = False) -> Any:
    """One ``{insertOne: {...}}``-style request of bulkWrite as a PyMongo write model
    (``client_level``: a model of clientBulkWrite, which names its ``namespace``)."""
    (kind, arguments), = request.items()
    if kind not in _MODELS:
        raise Unsupported(f"unsupported bulkWrite request {kind!r}")
    model, mapping = _MODELS[kind]
    args = Args(f"bulkWrite {kind}", arguments, entities)
    kwargs = args.options(mapping)
    if client_level:
        kwargs["namespace"] = args.required("namespace")
    args.finish()
    return model(**kwargs)


def client_bulk_result(result: ClientBulkWriteResult | None) -> dict[str, Any] | None:
    """A client bulk write's result in the format's shape (per-op maps empty unless the
    results were verbose)."""
    if result is None:
        return None
    if not result.acknowledged:
        return {"acknowledged": False}
    value: dict[str, Any] = {
        "insertedCount": result.inserted_count, "upsertedCount": result.upserted_count,
        "matchedCount": result.matched_count, "modifiedCount": result.modified_count,
        "deletedCount": result.deleted_count,
        "insertResults": {}, "updateResults": {}, "deleteResults": {}}
    if result.has_verbose_results:
        value["insertResults"] = {str(i): {"insertedId": r.inserted_id}
                                  for i, r in result.insert_results.items()}
        value["updateResults"] = {
            str(i): {"matchedCount": r.matched_count, "modifiedCount": r.modified_count,
                     **({} if r.upserted_id is None else {"upsertedId": r.upserted_id})}
            for i, r in result.update_results.items()}
        value["deleteResults"] = {str(i): _delete_result(r)
                                  for i, r in result.delete_results.items()}
    return value


def op_clientBulkWrite(client: MongoClient, a: Args, entities: EntityMap) -> Any:
    models = [write_model(m, entities, client_level=True) for m in a.required("models")]
    kwargs = a.options({"ordered": "ordered", "comment": "comment", "let": "let",
                        "bypassDocumentValidation": "bypass_document_validation",
                        "verboseResults": "verbose_results",
                        "writeConcern": ("write_concern", write_concern)})
    return client_bulk_result(client.bulk_write(models, session=a.session(), **kwargs))


def op_bulkWrite(coll: Collection, a: Args, entities: EntityMap) -> Any:
    requests = [write_model(r, entities) for r in a.required("requests")]
    kwargs = a.options({"ordered": "ordered", "comment": "comment", "let": "let",
                        "bypassDocumentValidation": "bypass_document_validation"})
    return bulk_result(coll.bulk_write(requests, session=a.session(), **kwargs))


def op_createIndex(coll: Collection, a: Args) -> Any:
    kwargs = a.options({"name": "name", "unique": "unique", "sparse": "sparse",
                        "expireAfterSeconds": "expireAfterSeconds"})
    return coll.create_index(list(a.required("keys").items()), session=a.session(), **kwargs)


def op_dropIndex(coll: Collection, a: Args) -> Any:
    coll.drop_index(a.required("name"), session=a.session())


def op_listIndexes(coll: Collection, a: Args) -> Any:
    return RootDocuments(coll.list_indexes(session=a.session()))


# --- database operations ----------------------------------------------------------------

def op_runCommand(db: Database, a: Args) -> Any:
    name = a.required("commandName")
    command = SON([(name, 1)])
    command.update(a.required("command"))  # keeps the command's own first value
    kwargs = a.options({"readPreference": ("read_preference", read_preference)})
    return db.command(command, session=a.session(), **kwargs)


def op_createCollection(db: Database, a: Args) -> Any:
    name = a.required("collection")
    kwargs = a.options({"viewOn": "viewOn", "pipeline": "pipeline", "capped": "capped",
                        "size": "size", "max": "max", "validator": "validator",
                        "collation": "collation", "timeseries": "timeseries",
                        "expireAfterSeconds": "expireAfterSeconds",
                        "changeStreamPreAndPostImages": "changeStreamPreAndPostImages",
                        "clusteredIndex": "clusteredIndex"})
    return db.create_collection(name, session=a.session(), check_exists=False, **kwargs)


def op_dropCollection(db: Database, a: Args) -> Any:
    db.drop_collection(a.required("collection"), session=a.session())


def op_listCollections(db: Database, a: Args) -> Any:
    return RootDocuments(db.list_collections(filter=a.pop("filter"), session=a.session()))


def op_listCollectionNames(db: Database, a: Args) -> Any:
    return db.list_collection_names(filter=a.pop("filter"), session=a.session())


def op_modifyCollection(db: Database, a: Args) -> Any:
    command = SON([("collMod", a.required("collection"))])
    command.update(a.options({"validator": "validator", "index": "index",
                              "validationLevel": "validationLevel"}))
    return db.command(command, session=a.session())


# --- client operations ------------------------------------------------------------------

def op_listDatabases(client: MongoClient, a: Args) -> Any:
    kwargs = a.options({"filter": "filter", "nameOnly": "nameOnly",
                        "authorizedDatabases": "authorizedDatabases"})
    return RootDocuments(client.list_databases(session=a.session(), **kwargs))


def op_listDatabaseNames(client: MongoClient, a: Args) -> Any:
    return client.list_database_names(session=a.session())


# --- session operations -----------------------------------------------------------------

def _transaction_options(a: Args) -> dict[str, Any]:
    present = a.options({"readConcern": "readConcern", "writeConcern": "writeConcern",
                         "readPreference": "readPreference",
                         "maxCommitTimeMS": "maxCommitTimeMS"})
    return concern_options(present)


def op_startTransaction(session: ClientSession, a: Args) -> Any:
    options = _transaction_options(a)
    a.finish()
    session.start_transaction(**options)


def op_commitTransaction(session: ClientSession, a: Args) -> Any:
    a.finish()
    session.commit_transaction()


def op_abortTransaction(session: ClientSession, a: Args) -> Any:
    a.finish()
    session.abort_transaction()


def op_endSession(session: ClientSession, a: Args) -> Any:
    a.finish()
    session.end_session()


ENTITY_OPERATIONS: dict[type, set[str]] = {
    Collection: {"find", "findOne", "aggregate", "countDocuments", "estimatedDocumentCount",
                 "count", "distinct", "insertOne", "insertMany", "updateOne", "updateMany",
                 "replaceOne", "deleteOne", "deleteMany", "findOneAndDelete",
                 "findOneAndReplace", "findOneAndUpdate", "bulkWrite", "createIndex",
                 "dropIndex", "listIndexes"},
    Database: {"runCommand", "aggregate", "createCollection", "dropCollection",
               "listCollections", "listCollectionNames", "modifyCollection"},
    MongoClient: {"listDatabases", "listDatabaseNames", "clientBulkWrite"},
    ClientSession: {"startTransaction", "commitTransaction", "abortTransaction", "endSession"},
}


_WITH_ENTITIES = ("bulkWrite", "clientBulkWrite")


def run_entity_operation(target: Any, name: str, arguments: Mapping[str, Any],
                         entities: EntityMap) -> Any:
    """Run ``name`` on ``target`` (withTransaction is the runner's, it nests operations)."""
    args = Args(name, arguments, entities)
    for kind, names in ENTITY_OPERATIONS.items():
        if isinstance(target, kind) and name in names:
            break
    else:
        extra = _more_operations(target, name)
        if extra is None:
            raise Unsupported(f"unsupported operation {name!r} on {type(target).__name__}")
        result = extra(target, args)
        args.finish()
        return result
    handler = globals()[f"op_{name}"]
    result = handler(target, args, entities) if name in _WITH_ENTITIES else handler(target, args)
    args.finish()
    return result


def _more_operations(target: Any, name: str) -> Callable[[Any, Args], Any] | None:
    """An operation of the cursor/change stream or GridFS modules (imported here: they
    build on this one)."""
    from tests.spec import cursor_operations, gridfs_operations

    for registry in (cursor_operations.OPERATIONS, gridfs_operations.OPERATIONS):
        for kinds, operations in registry.items():
            if isinstance(target, kinds) and name in operations:
                return operations[name]
    return None
