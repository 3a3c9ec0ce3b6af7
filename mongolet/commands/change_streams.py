"""``$changeStream``: change events read from the change history (``mongolet.changes``).

``aggregate`` hands a pipeline starting with ``$changeStream`` here. The stream watches a
collection, a database (``aggregate: 1``) or the deployment (``allChangesForCluster`` on
``admin``), starts after a resume token (``resumeAfter``/``startAfter``), at a cluster time
(``startAtOperationTime``) or now, and becomes a cursor whose getMore waits up to
``maxTimeMS`` (the driver's ``maxAwaitTimeMS``, one second by default) for new events. Each
event runs through the stages after ``$changeStream`` (the aggregation module's), which
must keep its ``_id``, the resume token. Every batch carries ``postBatchResumeToken``.
"""

from __future__ import annotations

import time
from typing import Any

from bson import Timestamp

from mongolet.changes import (
    DATABASE_EVENT,
    ChangeHistory,
    Position,
    decode_token,
    encode_token,
    position_of,
)
from mongolet.commands.registry import CommandContext, get_bool, get_int, type_name
from mongolet.cursors import cursor_reply
from mongolet.errors import MongoError
from mongolet.query import aggregation, expressions
from mongolet.storage import Store, canonical_id

STAGE = "$changeStream"
_OPTIONS = {"allChangesForCluster", "fullDocument", "fullDocumentBeforeChange", "resumeAfter",
            "startAfter", "startAtOperationTime", "showExpandedEvents", "showSystemEvents",
            "allowToRunOnConfigDB", "allowToRunOnSystemNS", "showRawUpdateDescription"}
_FULL_DOCUMENT = ("default", "updateLookup", "whenAvailable", "required")
_BEFORE_CHANGE = ("off", "whenAvailable", "required")
_ALLOWED_STAGES = {"$match", "$project", "$addFields", "$set", "$unset", "$replaceRoot",
                   "$replaceWith", "$redact"}
_BASIC_EVENTS = {"insert", "update", "replace", "delete", "drop", "rename", DATABASE_EVENT}
_INTERNAL_DATABASES = ("admin", "config", "local")
DEFAULT_AWAIT_SECONDS = 1.0
NON_RESUMABLE = "NonResumableChangeStreamError"
RESUMABLE_CHANGE_STREAM_ERROR = "ResumableChangeStreamError"
# The errors mongod labels resumable on a change stream's getMore (the driver spec's list).
RESUMABLE_CODES = frozenset({6, 7, 63, 89, 91, 133, 150, 189, 234, 262, 9001, 10107, 11600,
                             11602, 13388, 13435, 13436})


def is_change_stream(pipeline: list[Any]) -> bool:
    return bool(pipeline) and isinstance(pipeline[0], dict) and STAGE in pipeline[0]


class ChangeStream:
    """One open change stream: what it watches, how it shows events, where it is."""

    def __init__(self, history: ChangeHistory, store: Store, db: str | None,
                 coll: str | None, options: dict[str, Any], stages: list[Any],
                 variables: dict[str, Any] | None, position: Position) -> None:
        self.history = history
        self.store = store
        self.db = db
        self.coll = coll
        self.full_document = options.get("fullDocument", "default")
        self.before_change = options.get("fullDocumentBeforeChange", "off")
        self.expanded = bool(options.get("showExpandedEvents"))
        self.system = bool(options.get("showSystemEvents"))
        self.stages = stages
        self.variables = variables
        self.position = position
        self.invalidated = False

    # -- reading -------------------------------------------------------------------------------

    def take(self, limit: int | None) -> list[dict[str, Any]]:
        """The next events (at most ``limit``), advancing the position past every entry
        looked at; after an invalidate the stream is over (``invalidated``)."""
        if self.history.is_lost(self.position):
            raise MongoError(286, "Resume of change stream was not possible, as the resume "
                                  "point may no longer be in the oplog.")
        events: list[dict[str, Any]] = []
        exhausted = True
        for entry in self.history.after(self.position):
            if limit is not None and len(events) >= limit:
                exhausted = False
                break
            key = position_of(entry)
            if key > self.position:
                self.position = key
                if self._watches(entry):
                    events.extend(self._shown(self._event(entry, key)))
            if self._invalidates(entry):
                key = position_of(entry, invalidate=True)
                if key > self.position:
                    self.position = key
                    self.invalidated = True
                    events.append({"_id": encode_token(key), "operationType": "invalidate",
                                   "clusterTime": entry["t"], "wallTime": entry["wall"]})
                    return events
        if exhausted:
            self.position = max(self.position, self.history.now(self.store.clock))
        return events

    def resume_token(self) -> dict[str, Any]:
        return encode_token(self.position)

    # -- which entries -------------------------------------------------------------------------

    def _watches(self, entry: dict[str, Any]) -> bool:
        op = entry["op"]
        if not self.expanded and op not in _BASIC_EVENTS:
            return False
        db, coll = entry["db"], entry.get("coll")
        if self.db is None:
            if db in _INTERNAL_DATABASES:
                return False
        elif db != self.db:
            return False
        if self.coll is not None:
            return coll == self.coll
        return not (coll is not None and coll.startswith("system.") and not self.system)

    def _invalidates(self, entry: dict[str, Any]) -> bool:
        if self.db is None or entry["db"] != self.db:
            return False
        op = entry["op"]
        if self.coll is None:
            return op == DATABASE_EVENT
        return op in ("drop", "rename") and entry.get("coll") == self.coll

    # -- events --------------------------------------------------------------------------------

    def _event(self, entry: dict[str, Any], key: Position) -> dict[str, Any]:
        op = entry["op"]
        event: dict[str, Any] = {"_id": encode_token(key), "operationType": op,
                                 "clusterTime": entry["t"], "wallTime": entry["wall"]}
        if self.expanded and "uuid" in entry:
            event["collectionUUID"] = entry["uuid"]
        if op in ("insert", "replace"):
            event["fullDocument"] = entry["doc"]
        elif op == "update" and self.full_document != "default":
            event["fullDocument"] = self._post_image(entry)
        event["ns"] = {"db": entry["db"], "coll": entry["coll"]} if "coll" in entry \
            else {"db": entry["db"]}
        if "key" in entry:
            event["documentKey"] = entry["key"]
        if "upd" in entry:
            description = dict(entry["upd"])
            paths = description.pop("disambiguatedPaths", {})
            if self.expanded:
                description["disambiguatedPaths"] = paths
            event["updateDescription"] = description
        if op in ("update", "replace", "delete") and self.before_change != "off":
            event["fullDocumentBeforeChange"] = self._pre_image(entry)
        if op == "rename":
            event["to"] = entry["to"]
        if "desc" in entry and (self.expanded or op not in _BASIC_EVENTS):
            event["operationDescription"] = entry["desc"]
        if "before" in entry:
            event["stateBeforeChange"] = entry["before"]
        if "lsid" in entry:
            event["lsid"] = entry["lsid"]
            event["txnNumber"] = entry["txn"]
        return event

    def _post_image(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        if self.full_document == "updateLookup":
            coll = self.store.collection(entry["db"], entry["coll"])
            if coll is None or coll.uuid != entry.get("uuid") or coll.created_by is not None:
                return None
            record = coll.records.get(canonical_id(entry["key"]["_id"]))
            return record.latest if record is not None else None
        if "doc" in entry:
            return entry["doc"]
        if self.full_document == "required":
            raise MongoError(47, "Change stream was configured to require a post-image for "
                                 "all update, delete and replace events, but the post-image "
                                 f"was not found for event: {entry['key']}")
        return None

    def _pre_image(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        if "pre" in entry:
            return entry["pre"]
        if self.before_change == "required":
            raise MongoError(47, "Change stream was configured to require a pre-image for "
                                 "all update, delete and replace events, but the pre-image "
                                 f"was not found for event: {entry['key']}")
        return None

    def _shown(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if not self.stages:
            return [event]
        results = aggregation.run_compiled(self.stages, [event], self.variables)
        for result in results:
            if result.get("_id") != event["_id"]:
                raise MongoError(
                    280, "Encountered an event whose _id field, which contains the resume "
                         "token, was modified by the pipeline. Modifying the _id field of an "
                         "event makes it impossible to resume the stream from that point. "
                         "Only transformations that retain the unmodified _id field are "
                         f"allowed. Expected: {event['_id']} but found: {result.get('_id')}",
                    labels=[NON_RESUMABLE])
        return results

    # -- the cursor's getMore ------------------------------------------------------------------

    async def get_more(self, batch_size: int | None, max_await: float | None
                       ) -> tuple[list[dict[str, Any]], bool, dict[str, Any]]:
        """The next batch, waiting up to ``max_await`` seconds for one; whether the stream
        is over; the cursor fields to add (``postBatchResumeToken``)."""
        wait = DEFAULT_AWAIT_SECONDS if max_await is None else max_await
        deadline = time.monotonic() + wait
        while True:
            events = self.take(batch_size)
            remaining = deadline - time.monotonic()
            if events or self.invalidated or remaining <= 0:
                break
            await self.history.wait(remaining)
        return events, self.invalidated, {"postBatchResumeToken": self.resume_token()}


# -- opening -------------------------------------------------------------------------------------


def _options(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise MongoError(50808, f"$changeStream stage expects a document as argument, not "
                                f"{type_name(spec)}")
    for key in spec:
        if key not in _OPTIONS:
            raise MongoError(40415, f"BSON field '$changeStream.{key}' is an unknown field.")
    full = spec.get("fullDocument", "default")
    if full not in _FULL_DOCUMENT:
        raise MongoError(2, f"Enumeration value '{full}' for field "
                            "'$changeStream.fullDocument' is not a valid value.")
    before = spec.get("fullDocumentBeforeChange", "off")
    if before not in _BEFORE_CHANGE:
        raise MongoError(2, f"Enumeration value '{before}' for field "
                            "'$changeStream.fullDocumentBeforeChange' is not a valid value.")
    for flag in ("allChangesForCluster", "showExpandedEvents", "showSystemEvents"):
        get_bool(spec, flag)
    return spec


def _start(spec: dict[str, Any], history: ChangeHistory, store: Store) -> Position:
    given = [k for k in ("resumeAfter", "startAfter", "startAtOperationTime") if k in spec]
    if len(given) > 1:
        raise MongoError(40674, "Only one type of resume option is allowed, but multiple "
                                "were found.")
    if not given:
        return history.now(store.clock)
    option = given[0]
    value = spec[option]
    if option == "startAtOperationTime":
        if not isinstance(value, Timestamp):
            raise MongoError(14, "BSON field '$changeStream.startAtOperationTime' is the "
                                 f"wrong type '{type_name(value)}', expected type "
                                 "'timestamp'")
        position: Position = (value.time, value.inc, -1, 0)
    else:
        decoded = decode_token(value)
        if decoded is None:
            raise MongoError(9, f"BSON field '$changeStream.{option}' is not a valid resume "
                                f"token: {value}")
        if decoded[3] and option == "resumeAfter":
            raise MongoError(260, "Attempting to resume a change stream using 'resumeAfter' "
                                  "is not allowed from an invalidate notification.")
        position = decoded
    if history.is_lost(position):
        raise MongoError(286, "Resume of change stream was not possible, as the resume point "
                              "may no longer be in the oplog.")
    return position


def _stages(pipeline: list[Any]) -> list[Any]:
    for stage in pipeline:
        name = next(iter(stage))
        if name == STAGE:
            raise MongoError(40602, "$changeStream is only valid as the first stage in a "
                                    "pipeline")
    compiled = aggregation.compile_pipeline(pipeline, None)
    for stage in pipeline:
        name = next(iter(stage))
        if name not in _ALLOWED_STAGES:
            raise MongoError(5187601 if name == "$lookup" else 17352,
                             f"{name} is not permitted in a $changeStream pipeline")
    return compiled


async def open_change_stream(ctx: CommandContext, pipeline: list[Any],
                             cursor_doc: dict[str, Any]) -> dict[str, Any]:
    """Answer an ``aggregate`` whose pipeline starts with ``$changeStream``."""
    if not ctx.state.replica_set:  # as a standalone mongod: change streams need an oplog
        raise MongoError(40573, "The $changeStream stage is only supported on replica sets")
    options = _options(pipeline[0][STAGE])
    if ctx.txn is not None:
        raise MongoError(263, "Operation not permitted in transaction :: caused by :: "
                              "$changeStream cannot run in a multi-document transaction")
    target = ctx.arg()
    cluster = get_bool(options, "allChangesForCluster")
    db: str | None = ctx.db
    coll: str | None = None
    if target == 1 and not isinstance(target, bool):
        if cluster:
            if ctx.db != "admin":
                raise MongoError(73, "$changeStream must be run against the 'admin' database "
                                     "with {aggregate: 1} when 'allChangesForCluster' is true")
            db = None
        elif ctx.db in _INTERNAL_DATABASES:
            raise MongoError(73, f"$changeStream may not be opened on the internal {ctx.db} "
                                 "database")
        ns = ctx.ns("$cmd.aggregate")
    else:
        coll = ctx.collection_name()
        if cluster:
            raise MongoError(73, "A $changeStream with 'allChangesForCluster:true' may only be "
                                 "opened on the 'admin' database, and with no collection name")
        if ctx.db in _INTERNAL_DATABASES or coll.startswith("system."):
            raise MongoError(73, f"$changeStream may not be opened on the internal "
                                 f"{ctx.ns(coll)} collection")
        ns = ctx.ns(coll)
    stages = _stages(pipeline[1:])
    state = ctx.state
    variables = expressions.evaluate_let(ctx.body.get("let"))
    stream = ChangeStream(state.changes, state.store, db, coll, options, stages, variables,
                          _start(options, state.changes, state.store))
    size = get_int(cursor_doc, "batchSize")
    if size is not None and size < 0:
        raise MongoError(51024, f"BSON field 'batchSize' value must be >= 0, actual value "
                                f"'{size}'")
    events = stream.take(size)
    cursor_id = 0
    if not stream.invalidated:
        cursor = state.cursors.open(ns, iter(()), ctx.session_id(), None)
        cursor.stream = stream
        cursor_id = cursor.id
        if ctx.session is not None:
            ctx.session.cursor_ids.add(cursor_id)
    reply = cursor_reply(ns, cursor_id, events, first=True)
    reply["cursor"]["postBatchResumeToken"] = stream.resume_token()
    return reply
