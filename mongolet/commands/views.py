"""Read-only views: ``create`` with ``viewOn`` and ``pipeline``.

A view is kept in the catalog like a collection (its definition in ``options``, no
documents). Reading it runs its pipeline over its source - itself possibly a view - each
time, as mongod does; find, count and distinct then filter, sort and project the result.
Writing to a view, or indexing it, is 166 CommandNotSupportedOnView.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mongolet.commands.registry import CommandContext, type_name
from mongolet.errors import MongoError
from mongolet.query import aggregation
from mongolet.storage import Collection

MAX_VIEW_DEPTH = 20
_WRITING_STAGES = ("$out", "$merge")


def is_view(coll: Collection | None) -> bool:
    return coll is not None and "viewOn" in coll.options


def check_definition(ctx: CommandContext, options: dict[str, Any]) -> None:
    """Refuse a malformed view definition before it is stored."""
    if "viewOn" not in options:
        if "pipeline" in options:
            raise MongoError(9, "'pipeline' requires 'viewOn' to also be specified")
        return
    view_on = options["viewOn"]
    if not isinstance(view_on, str):
        raise MongoError(14, f"BSON field 'create.viewOn' is the wrong type "
                             f"'{type_name(view_on)}', expected type 'string'")
    if not view_on:
        raise MongoError(73, "'viewOn' cannot be empty")
    pipeline = options.get("pipeline", [])
    if not isinstance(pipeline, list):
        raise MongoError(14, f"BSON field 'create.pipeline' is the wrong type "
                             f"'{type_name(pipeline)}', expected type 'array'")
    for position, stage in enumerate(pipeline):
        name = next(iter(stage), None) if isinstance(stage, dict) else None
        if name in _WRITING_STAGES:
            raise MongoError(167, f"The aggregation stage {name} in location {position} of "
                                  f"the pipeline cannot be used in the view definition of "
                                  f"{ctx.ns(ctx.collection_name())} because it writes to "
                                  "disk")
    aggregation.compile_pipeline(pipeline, PipelineSource(ctx))
    for option in ("capped", "validator", "clusteredIndex", "timeseries"):
        if option in options:
            raise MongoError(72, f"Cannot specify '{option}' for a view")


def check_writable(ctx: CommandContext, coll: Collection | None) -> None:
    """Writes and indexes are for collections."""
    if is_view(coll):
        assert coll is not None
        raise MongoError(166, f"Namespace {coll.ns} is a view, not a collection")


def documents(ctx: CommandContext, coll: Collection, depth: int = 0) -> list[dict[str, Any]]:
    """The documents a view shows now: its pipeline over its source's documents."""
    if depth > MAX_VIEW_DEPTH:
        raise MongoError(165, f"View depth too deep or view cycle detected; maximum depth is "
                             f"{MAX_VIEW_DEPTH}")
    source = ctx.collection(coll.options["viewOn"])
    if source is None:
        docs: list[dict[str, Any]] = []
    elif is_view(source):
        docs = documents(ctx, source, depth + 1)
    else:
        docs = [doc for _, doc in ctx.view.documents(source)]
    return aggregation.run_pipeline(docs, coll.options.get("pipeline", []),
                                    PipelineSource(ctx))


class PipelineSource:
    """What ``$lookup`` and friends read: this command's view of other collections (views
    resolved)."""

    def __init__(self, ctx: CommandContext) -> None:
        self.ctx = ctx

    def collection_documents(self, name: str) -> Iterable[dict[str, Any]]:
        coll = self.ctx.collection(name)
        if coll is None:
            return []
        if is_view(coll):
            return documents(self.ctx, coll)
        return [doc for _, doc in self.ctx.view.documents(coll)]
