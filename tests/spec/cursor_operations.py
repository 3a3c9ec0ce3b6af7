"""Unified-format operations that open a cursor or a change stream and iterate it
(``createChangeStream``, ``createCommandCursor``, ``runCursorCommand``,
``iterateUntilDocumentOrError``, ``iterateOnce``, ``close``), and the listing operations
that return cursors of objects."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bson import SON
from pymongo import MongoClient
from pymongo.operations import SearchIndexModel
from pymongo.synchronous.change_stream import ChangeStream
from pymongo.synchronous.collection import Collection
from pymongo.synchronous.command_cursor import CommandCursor
from pymongo.synchronous.cursor import Cursor
from pymongo.synchronous.database import Database

from tests.spec.matching import MatchError, RootDocuments
from tests.spec.operations import Args
from tests.spec.unsupported import Unsupported

# How long iterateUntilDocumentOrError waits for a change event before the test fails.
ITERATE_SECONDS = 10.0

_STREAM_OPTIONS = {"batchSize": "batch_size", "fullDocument": "full_document",
                   "fullDocumentBeforeChange": "full_document_before_change",
                   "resumeAfter": "resume_after", "startAfter": "start_after",
                   "startAtOperationTime": "start_at_operation_time",
                   "maxAwaitTimeMS": "max_await_time_ms", "comment": "comment",
                   "showExpandedEvents": "show_expanded_events", "collation": "collation"}


def op_createChangeStream(target: Collection | Database | MongoClient, a: Args) -> Any:
    kwargs = a.options(_STREAM_OPTIONS)
    pipeline = a.pop("pipeline", [])
    return target.watch(pipeline, session=a.session(), **kwargs)


def _command(a: Args) -> SON[str, Any]:
    name = a.required("commandName")
    command: SON[str, Any] = SON([(name, 1)])
    command.update(a.required("command"))
    return command


def op_runCursorCommand(db: Database, a: Args) -> Any:
    return RootDocuments(op_createCommandCursor(db, a))


def op_createCommandCursor(db: Database, a: Args) -> Any:
    command = _command(a)
    kwargs = a.options({"maxTimeMS": "max_await_time_ms", "comment": "comment"})
    batch_size = a.pop("batchSize")
    # The command asks for a tailable cursor itself; the driver keeps it while its id is
    # not 0 (cursor_command takes no cursor type).
    if a.pop("cursorType", "nonTailable") not in ("nonTailable", "tailable", "tailableAwait"):
        raise Unsupported("createCommandCursor: unknown cursorType")
    cursor = db.cursor_command(command, session=a.session(), **kwargs)
    if batch_size is not None:
        cursor.batch_size(batch_size)
    return cursor


def op_createFindCursor(coll: Collection, a: Args) -> Any:
    kwargs = a.options({"batchSize": "batch_size", "limit": "limit", "sort": "sort",
                        "comment": "comment", "projection": "projection"})
    return coll.find(a.pop("filter", {}), session=a.session(), **kwargs)


def _next(source: Any, once: bool) -> Any:
    if isinstance(source, ChangeStream):
        deadline = time.monotonic() + ITERATE_SECONDS
        while True:
            event = source.try_next()
            if event is not None or once:
                return event
            if time.monotonic() > deadline:
                raise MatchError(f"no change event within {ITERATE_SECONDS}s")
    if once:
        return source.try_next() if hasattr(source, "try_next") else next(source, None)
    return source.next()


def op_iterateUntilDocumentOrError(source: Any, a: Args) -> Any:
    a.finish()
    return _next(source, once=False)


def op_iterateOnce(source: Any, a: Args) -> Any:
    a.finish()
    return _next(source, once=True)


def op_close(source: Any, a: Args) -> Any:
    a.finish()
    source.close()


def op_listIndexNames(coll: Collection, a: Args) -> Any:
    return [index["name"] for index in coll.list_indexes(session=a.session())]


def op_listDatabaseObjects(client: MongoClient, a: Args) -> Any:
    return RootDocuments(client.list_databases(session=a.session()))


def op_listCollectionObjects(db: Database, a: Args) -> Any:
    return RootDocuments(db.list_collections(filter=a.pop("filter"), session=a.session()))


def op_rename(coll: Collection, a: Args) -> Any:
    kwargs = a.options({"dropTarget": "dropTarget"})
    coll.rename(a.required("to"), session=a.session(), **kwargs)


def op_createSearchIndex(coll: Collection, a: Args) -> Any:
    return coll.create_search_index(a.required("model"), session=a.session())


def op_createSearchIndexes(coll: Collection, a: Args) -> Any:
    models = [SearchIndexModel(**{k: v for k, v in model.items()})
              for model in a.required("models")]
    return coll.create_search_indexes(models, session=a.session())


def op_dropSearchIndex(coll: Collection, a: Args) -> Any:
    coll.drop_search_index(a.required("name"), session=a.session())


def op_updateSearchIndex(coll: Collection, a: Args) -> Any:
    coll.update_search_index(a.required("name"), a.required("definition"),
                             session=a.session())


def op_listSearchIndexes(coll: Collection, a: Args) -> Any:
    options = a.pop("aggregationOptions", {})
    return RootDocuments(coll.list_search_indexes(a.pop("name"), session=a.session(),
                                                  **options))


def op_mapReduce(coll: Collection, a: Args) -> Any:
    # PyMongo 4 has no map_reduce helper: send the command (mongolet refuses it, 115).
    command: SON[str, Any] = SON([("mapReduce", coll.name), ("map", a.required("map")),
                                  ("reduce", a.required("reduce")), ("out", a.required("out"))])
    command.update(a.options({"query": "query", "sort": "sort", "limit": "limit",
                              "finalize": "finalize", "scope": "scope"}))
    return coll.database.command(command, session=a.session())["results"]


Operation = Callable[[Any, Args], Any]
_ITERABLE = (ChangeStream, CommandCursor, Cursor)
OPERATIONS: dict[tuple[type, ...], dict[str, Operation]] = {
    (Collection, Database, MongoClient): {"createChangeStream": op_createChangeStream},
    (Database,): {"runCursorCommand": op_runCursorCommand,
                  "createCommandCursor": op_createCommandCursor,
                  "listCollectionObjects": op_listCollectionObjects},
    (Collection,): {"createFindCursor": op_createFindCursor, "listIndexNames": op_listIndexNames,
                    "rename": op_rename, "createSearchIndex": op_createSearchIndex,
                    "createSearchIndexes": op_createSearchIndexes,
                    "dropSearchIndex": op_dropSearchIndex,
                    "updateSearchIndex": op_updateSearchIndex,
                    "listSearchIndexes": op_listSearchIndexes, "mapReduce": op_mapReduce},
    (MongoClient,): {"listDatabaseObjects": op_listDatabaseObjects},
    _ITERABLE: {"iterateUntilDocumentOrError": op_iterateUntilDocumentOrError,
                "iterateOnce": op_iterateOnce, "close": op_close},
}
