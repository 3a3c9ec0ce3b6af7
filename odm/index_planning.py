"""Index planning: the indexes a model declares (:mod:`odm.index`, ``Field(index=/unique=)``)
against those its collection has: what ``configure_database`` drops and creates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pymongo

from odm.exceptions import IndexConflictError
from odm.facts import check_model_class
from odm.index import Index
from odm.model import Model


def index_models(model: type[Model]) -> list[pymongo.IndexModel]:
    """Every index ``model`` declares: ``Field(index=/unique=)`` and ``model_config["indexes"]``."""
    check_model_class(model, "configure_database")
    indexes: list[pymongo.IndexModel] = []
    for field in model.__odm_fields__.values():
        if field.primary_field or not (field.index or field.unique):
            continue
        options = {"unique": True} if field.unique else {}
        indexes.append(pymongo.IndexModel([(field.key_name, pymongo.ASCENDING)], **options))
    declared = model.model_config.get("indexes")
    if declared is not None:
        for index in declared():
            if isinstance(index, Index):
                indexes.append(index.to_index_model())
            elif isinstance(index, pymongo.IndexModel):
                indexes.append(index)
            else:
                raise TypeError(
                    f"{model.__name__}.model_config['indexes'] must return Index or "
                    f"pymongo.IndexModel objects, got {index!r}"
                )
    return indexes


_INDEX_OPTIONS = ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression", "hidden")


def _same_index(wanted: Mapping[str, Any], existing: Mapping[str, Any]) -> bool:
    if wanted["name"] != existing.get("name"):
        return False
    if list(wanted["key"].items()) != list(existing["key"].items()):
        return False
    return all(
        (wanted.get(option) or None) == (existing.get(option) or None) for option in _INDEX_OPTIONS
    )


def index_plan(
    model: type[Model],
    existing: Iterable[Mapping[str, Any]],
    *,
    update_existing_indexes: bool = False,
) -> tuple[list[str], list[pymongo.IndexModel]]:
    """``(names to drop, indexes to create)`` to give ``model``'s collection its indexes.

    An existing index with the same name or the same keys but a different definition is a
    conflict: :class:`IndexConflictError`, or with ``update_existing_indexes`` it is dropped
    and recreated. Identical indexes are left alone.
    """
    current = [index for index in existing if index.get("name") != "_id_"]
    to_drop: list[str] = []
    to_create: list[pymongo.IndexModel] = []
    for index in index_models(model):
        spec = index.document
        keys = list(spec["key"].items())
        match = next(
            (
                other
                for other in current
                if other.get("name") == spec["name"] or list(other["key"].items()) == keys
            ),
            None,
        )
        if match is None:
            to_create.append(index)
        elif not _same_index(spec, match):
            if not update_existing_indexes:
                raise IndexConflictError(
                    f"Index {spec['name']!r} of {model.__name__} ({dict(spec)}) conflicts with "
                    f"the existing index {match.get('name')!r} ({dict(match)}); pass "
                    "update_existing_indexes=True to replace it",
                    # MongoDB's codes: same keys with other options / same name, other keys
                    code=85 if list(match["key"].items()) == keys else 86,
                )
            to_drop.append(str(match["name"]))
            to_create.append(index)
    return to_drop, to_create
