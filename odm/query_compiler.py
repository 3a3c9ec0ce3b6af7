"""Query compilation: ``engine.find``'s arguments as the driver request (filter, sort, skip,
limit, and the ``$lookup`` pipeline loading references); the expressions are :mod:`odm.query`'s."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pymongo

from odm.facts import check_model_class
from odm.fields import FieldProxy
from odm.ids import primary_key_filter
from odm.model import Model
from odm.query import SortExpression, key_of

ModelT = TypeVar("ModelT", bound=Model)


SortArg = FieldProxy | SortExpression | Sequence[FieldProxy | SortExpression] | Any | None
"""``sort=``: a field (ascending), ``asc(f)``/``desc(f)``, or a tuple of them. ``Any``
because a type checker reads ``User.name`` as a ``str`` (as in ODMantic); :func:`compile_sort`
checks at run time."""


def compile_filter(queries: Iterable[Any]) -> dict[str, Any]:
    """One filter document from query expressions / raw dicts (``$and`` when several)."""
    filters: list[dict[str, Any]] = []
    for query in queries:
        if isinstance(query, bool) or not isinstance(query, Mapping):
            raise TypeError(
                "A query must be a QueryExpression (like User.name == 'x') or a dict, got "
                f"{query!r}; was a model field compared outside the model class?"
            )
        if query:
            filters.append(dict(query))
    if not filters:
        return {}
    if len(filters) == 1:
        return filters[0]
    return {"$and": filters}


def compile_sort(sort: SortArg) -> list[tuple[str, int]] | None:
    """PyMongo's sort list from ``sort=``; ``None`` for no sort."""
    if sort is None:
        return None
    items = sort if isinstance(sort, tuple | list) else (sort,)
    keys: list[tuple[str, int]] = []
    for item in items:
        if isinstance(item, SortExpression):
            keys.extend(item.items())
        elif isinstance(item, FieldProxy):
            keys.append((key_of(item), pymongo.ASCENDING))
        else:
            raise TypeError(
                f"sort expects a model field, asc()/desc() or a tuple of them, got {item!r}"
            )
    return keys or None


def lookup_stages(model: type[Model]) -> list[dict[str, Any]]:
    """``$lookup`` + ``$unwind`` stages loading the model's references (recursively)."""
    stages: list[dict[str, Any]] = []
    for reference in model.__odm_references__:
        target: type[Model] = reference.reference  # type: ignore[assignment]
        nested = lookup_stages(target)
        lookup: dict[str, Any]
        if nested:
            lookup = {
                "from": target.__collection__,
                "let": {"ref": f"${reference.key_name}"},
                "pipeline": [
                    {"$match": {"$expr": {"$eq": [f"${target.__primary_key__}", "$$ref"]}}},
                    *nested,
                ],
                "as": reference.key_name,
            }
        else:
            lookup = {
                "from": target.__collection__,
                "localField": reference.key_name,
                "foreignField": target.__primary_key__,
                "as": reference.key_name,
            }
        stages.append({"$lookup": lookup})
        stages.append(
            {"$unwind": {"path": f"${reference.key_name}", "preserveNullAndEmptyArrays": True}}
        )
    return stages


@dataclass(frozen=True)
class FindRequest(Generic[ModelT]):
    """A find, ready for the driver: ``pipeline`` is set when references need ``$lookup``."""

    model: type[ModelT]
    filter: dict[str, Any]
    sort: list[tuple[str, int]] | None
    skip: int
    limit: int
    pipeline: list[dict[str, Any]] | None

    def find_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``collection.find`` (when ``pipeline`` is None)."""
        kwargs: dict[str, Any] = {"skip": self.skip, "limit": self.limit}
        if self.sort:
            kwargs["sort"] = self.sort
        return kwargs


def find_request(
    model: type[ModelT],
    queries: Iterable[Any],
    *,
    sort: SortArg = None,
    skip: int = 0,
    limit: int | None = None,
) -> FindRequest[ModelT]:
    """Build the find for ``engine.find(model, *queries, sort=, skip=, limit=)``."""
    check_model_class(model, "find")
    if not isinstance(skip, int) or isinstance(skip, bool):
        raise TypeError(f"skip must be an integer, got {skip!r}")
    if skip < 0:  # ValueError, as ODMantic
        raise ValueError(f"skip has to be a positive integer, got {skip!r}")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        raise TypeError(f"limit must be an integer or None, got {limit!r}")
    if limit is not None and limit <= 0:
        raise ValueError(f"limit has to be a strict positive value or None, got {limit!r}")
    filter_ = primary_key_filter(model, compile_filter(queries))
    sort_keys = compile_sort(sort)
    pipeline: list[dict[str, Any]] | None = None
    lookups = lookup_stages(model)
    if lookups:
        pipeline = [{"$match": filter_}]
        if sort_keys:
            pipeline.append({"$sort": dict(sort_keys)})
        if skip:
            pipeline.append({"$skip": skip})
        if limit:
            pipeline.append({"$limit": limit})
        pipeline.extend(lookups)
    return FindRequest(model, filter_, sort_keys, skip, limit or 0, pipeline)
