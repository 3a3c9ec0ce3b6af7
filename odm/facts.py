"""Per-class facts: what a model class is, looked up once (pydantic class attributes cost
~0.1 us each: their metaclass has a __getattr__), and the checks that a value is a model."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from odm.fields import ODMField
from odm.model import Model


def check_model_class(model: Any, operation: str) -> None:
    """Engines take Model classes; anything else is a clear TypeError."""
    if not (isinstance(model, type) and issubclass(model, Model)):
        raise TypeError(f"{operation} expects a Model class, got {model!r}")


def check_instance(instance: Any, operation: str) -> None:
    if not isinstance(instance, Model):
        raise TypeError(f"{operation} expects a Model instance, got {type(instance).__name__}")


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What writing instances of one model class needs from it, looked up once (see
    :func:`model_facts`): class attributes of pydantic models cost ~0.1 us each (their
    metaclass has a __getattr__)."""

    collection: str
    primary_key: str
    primary_field: str
    references: tuple[ODMField, ...]
    depth: int  # how deep its references go: referenced collections are written first


def _reference_depth(model: type[Model]) -> int:
    refs = [r.reference for r in model.__odm_references__]
    return 1 + max(_reference_depth(ref) for ref in refs) if refs else 0  # type: ignore[arg-type]


@functools.cache
def model_facts(model: type[Any]) -> ModelFacts:
    """The :class:`ModelFacts` of a model class (the engine's saves and the unit of work's
    flushes); a TypeError for any other class, as ``save`` of a non-model gets."""
    if not (isinstance(model, type) and issubclass(model, Model)):
        raise TypeError(f"save expects a Model instance, got {model.__name__}")
    return ModelFacts(
        model.__collection__,
        model.__primary_key__,
        model.__primary_field__,
        model.__odm_references__,
        _reference_depth(model),
    )


@functools.cache
def version_key(model: type[Model]) -> tuple[str, str] | None:
    """``(field name, stored key)`` of the model's version field (``model_config["version_field"]``,
    declared here, used by the unit of work's optimistic concurrency), or ``None``."""
    name = model.model_config.get("version_field")
    if name is None:
        return None
    fields = model.__odm_fields__
    if not isinstance(name, str) or name not in fields:
        raise TypeError(
            f"{model.__name__}.model_config['version_field'] = {name!r} is not a field of "
            f"{model.__name__}; declare it, e.g. `version: int = 0`"
        )
    return name, fields[name].key_name
