"""Reads that skip tracking: projections and the state of a stream (pure, no I/O).

- A *projection* (``into=``) loads a subset of a model's fields: into a smaller class (an
  ``odm.Model``/``EmbeddedModel`` whose stored keys, or a pydantic model whose field names,
  are fields of the queried model) or, given fields (``[Account.owner, Account.balance]``),
  into plain dicts as stored. ``_id`` comes back only when the target has it.
- A *stream* reads a server cursor ``batch_size`` documents at a time; an untracked stream
  keeps nothing once it handed a batch out, so its memory is bounded by the batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from odm import Model
from odm.fields import FieldProxy
from odm.query_compiler import FindRequest


@dataclass(frozen=True)
class Projection:
    """The MongoDB projection of ``into=`` and how to turn a projected document into a result."""

    fields: dict[str, int]
    convert: Callable[[dict[str, Any]], Any]

    def convert_all(self, documents: Sequence[dict[str, Any]]) -> list[Any]:
        convert = self.convert
        return [convert(document) for document in documents]


def _check_fields(model: type[Model], into: type, names: Sequence[str]) -> None:
    unknown = [name for name in names if name not in model.__odm_fields__]
    if unknown:
        raise TypeError(
            f"into={into.__name__}: {', '.join(unknown)} not a field of {model.__name__} "
            f"(its fields: {', '.join(model.__odm_fields__)})"
        )


def _keyed(keys: Sequence[str]) -> dict[str, int]:
    fields = dict.fromkeys(keys, 1)
    if "_id" not in fields:
        fields["_id"] = 0  # MongoDB returns _id unless told not to
    return fields


def projection(model: type[Model], into: Any) -> Projection:
    """The projection of ``model``'s documents ``into`` a class or a list of fields."""
    if isinstance(into, type) and issubclass(into, BaseModel):
        odm_fields = getattr(into, "__odm_fields__", None)
        if odm_fields is not None:  # an odm model: stored keys, validated as stored
            _check_fields(model, into, list(odm_fields))
            keys = [model.__odm_fields__[name].key_name for name in odm_fields]
            return Projection(_keyed(keys), into.model_validate_doc)  # type: ignore[attr-defined]
        names = list(into.model_fields)
        _check_fields(model, into, names)
        pairs = [(name, model.__odm_fields__[name].key_name) for name in names]
        validate = into.model_validate

        def convert(document: dict[str, Any]) -> Any:
            return validate({name: document[key] for name, key in pairs if key in document})

        return Projection(_keyed([key for _, key in pairs]), convert)
    if isinstance(into, Sequence) and not isinstance(into, str) and into:
        keys = []
        for item in into:
            if not isinstance(item, FieldProxy):
                raise TypeError(f"into= fields must be model fields (like {model.__name__}.x), "
                                f"got {item!r}")
            keys.append(+item)
        top = [key.split(".")[0] for key in keys]
        stored = {f.key_name for f in model.__odm_fields__.values()}
        unknown = [key for key, head in zip(keys, top, strict=True) if head not in stored]
        if unknown:
            raise TypeError(f"into=: {', '.join(unknown)} not stored by {model.__name__}")
        return Projection(_keyed(keys), dict)
    raise TypeError(
        "into= expects a model class (a smaller odm.Model or pydantic model) or a list of "
        f"fields, got {into!r}"
    )


def check_batch_size(batch_size: Any) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise TypeError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


@dataclass
class Stream:
    """One open stream: its driver cursor, and what to make of each batch."""

    request: FindRequest[Any]
    batch_size: int
    track: bool
    projection: Projection | None
    cursor: Any = None
    done: bool = False


__all__ = ["Projection", "Stream", "check_batch_size", "projection"]
