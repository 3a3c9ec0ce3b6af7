"""Primary key values as users pass them: ``"65a1..."`` (a path parameter) for an ObjectId.

:func:`primary_key_value` runs a value through the primary field's own validation (its type
and constraints), so a hex string finds the document whose ``ObjectId`` it spells and ``"5"``
the one of ``int`` id 5; a value the field refuses (an operator document, a wrong pattern)
cannot be anyone's id. :func:`primary_key_filter` does it to the primary-key equalities of
an engine's filter.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from odm.model import Model

_COMPARISONS = frozenset({"$eq", "$ne"})
_MEMBERSHIPS = frozenset({"$in", "$nin"})


class _Invalid:
    """The result of a value no id can have."""

    def __repr__(self) -> str:
        return "INVALID_ID"


INVALID_ID: Any = _Invalid()
"""What :func:`primary_key_value` returns for a value the primary field refuses."""


@functools.cache
def _adapter(model: type[Model]) -> TypeAdapter[Any]:
    info = model.model_fields[model.__primary_field__]
    annotation: Any = info.annotation
    typed: Any = Annotated[(annotation, *info.metadata)] if info.metadata else annotation
    return TypeAdapter(typed)


def primary_key_value(model: type[Model], value: Any) -> Any:
    """``value`` as the primary field validates it, or :data:`INVALID_ID` if it refuses it."""
    try:
        return _adapter(model).validate_python(value)
    except ValidationError:
        return INVALID_ID


def _coerced(model: type[Model], value: Any) -> Any:
    valid = primary_key_value(model, value)
    return value if valid is INVALID_ID else valid


def _condition(model: type[Model], condition: Any) -> Any:
    if not isinstance(condition, Mapping):
        return _coerced(model, condition)
    if not condition or not all(key in _COMPARISONS or key in _MEMBERSHIPS for key in condition):
        return condition  # a document or other operators: the user's, left alone
    converted: dict[str, Any] = {}
    for operator, operand in condition.items():
        if operator in _MEMBERSHIPS and isinstance(operand, list | tuple):
            converted[operator] = [_coerced(model, item) for item in operand]
        else:
            converted[operator] = _coerced(model, operand)
    return converted


def primary_key_filter(model: type[Model], filter_: dict[str, Any]) -> dict[str, Any]:
    """``filter_`` with the values its top level (or its top ``$and``) compares the primary
    key to (``==``, ``!=``, ``in_``, ``not_in``) validated by the primary field; a value the
    field refuses stays as it is (and matches nothing)."""
    key = model.__primary_key__
    if key in filter_:
        filter_ = {**filter_, key: _condition(model, filter_[key])}
    clauses = filter_.get("$and")
    if isinstance(clauses, list) and any(
        isinstance(clause, Mapping) and key in clause for clause in clauses
    ):
        filter_ = {
            **filter_,
            "$and": [
                primary_key_filter(model, dict(clause)) if isinstance(clause, Mapping) else clause
                for clause in clauses
            ],
        }
    return filter_


__all__ = ["INVALID_ID", "primary_key_filter", "primary_key_value"]
