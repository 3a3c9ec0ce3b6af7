"""The codec of stored documents: a serializer and a validator that use stored key names.

A model class speaks two languages. Its own pydantic schema uses **field names**
(``id``, ``title``): ``model_dump``, ``model_dump_json``, ``model_json_schema`` and FastAPI
see ODMantic's shapes. The documents MongoDB holds use **stored keys** (``_id``, a field's
``key_name``): ``model_dump_doc`` and ``model_validate_doc`` go through a second
pydantic-core serializer and validator, built once per class from a copy of the class's core
schema in which every odm model (the class and its embedded models, wherever they sit in
``definitions``) names its fields by their stored keys. Both run in pydantic-core, so
documents cost what plain pydantic validations cost; dumps mostly skip the serializer
through a dumper compiled from the same schema (:mod:`odm.dumper`).

The document validator accepts stored keys only, as ODMantic's ``model_validate_doc``:
a stored ``id`` key next to ``_id`` is an unknown key, never the primary key.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from pydantic_core import CoreConfig, CoreSchema, SchemaSerializer, SchemaValidator, core_schema

from odm.bson import DOC_VALIDATORS, as_bson_array
from odm.dumper import Dumper, compile_dumper


@dataclass(frozen=True)
class DocumentCodec:
    """The document serializer and validator of one model class, and its compiled dumper
    (None when the class needs the serializer)."""

    serializer: SchemaSerializer
    validator: SchemaValidator
    dump: Dumper | None = None


def _stored_keys(model_schema: dict[str, Any]) -> bool:
    """Rename, in place, the fields of an odm ``model`` schema (a copy) to their stored keys.

    False for a model that is not odm's (its document is its ``model_dump(by_alias=True)``).
    """
    odm_fields = getattr(model_schema.get("cls"), "__odm_fields__", None)
    fields_schema = model_schema.get("schema", {})
    if odm_fields is None or fields_schema.get("type") != "model-fields":
        return False
    for name, field_schema in fields_schema["fields"].items():
        odm_field = odm_fields.get(name)
        key_name = odm_field.key_name if odm_field is not None else name
        field_schema.pop("validation_alias", None)
        field_schema.pop("serialization_alias", None)
        if key_name != name:
            field_schema["validation_alias"] = key_name
            field_schema["serialization_alias"] = key_name
    # Stored keys only: a field's own name in a document is not that field.
    model_schema["config"] = {
        **model_schema.get("config", {}),
        "validate_by_name": False,
        "validate_by_alias": True,
    }
    return True


_ARRAY_TYPES = frozenset({"tuple", "set", "frozenset"})


def _copy_with_stored_keys(node: Any, renamed: set[type[Any]]) -> Any:
    """Copy the dicts and lists of a core schema; odm models get their stored keys, tuples
    and sets are dumped as lists, and validators of values as the client returns them
    (``DOC_VALIDATORS``) replace those of values as users give them."""
    if isinstance(node, list):
        return [_copy_with_stored_keys(item, renamed) for item in node]
    if not isinstance(node, dict):
        return node  # classes, functions, defaults: shared, never modified
    copied = {key: _copy_with_stored_keys(value, renamed) for key, value in node.items()}
    if copied.get("type") == "model" and _stored_keys(copied):
        renamed.add(copied["cls"])
    elif copied.get("type") in ("no-info", "with-info") and (
        copied.get("function") in DOC_VALIDATORS
    ):
        copied["function"] = DOC_VALIDATORS[copied["function"]]
    elif copied.get("type") in _ARRAY_TYPES and "serialization" not in copied:
        inner = {key: value for key, value in copied.items() if key not in ("ref", "metadata")}
        copied["serialization"] = core_schema.wrap_serializer_function_ser_schema(
            as_bson_array, schema=cast(core_schema.CoreSchema, inner)
        )
    return copied


def document_schema(schema: CoreSchema) -> tuple[CoreSchema, set[type[Any]]]:
    """A copy of a model's core schema reading and writing stored documents, and the odm
    classes renamed in it.

    The original schema (shared with pydantic and with other classes' schemas) is left
    untouched.
    """
    renamed: set[type[Any]] = set()
    copied: CoreSchema = _copy_with_stored_keys(schema, renamed)
    return copied, renamed


_BUILDING = threading.Lock()


@contextmanager
def _own_build_for(classes: set[type[Any]]) -> Iterator[None]:
    """Make pydantic-core build ``classes``' model schemas from the schema it is given.

    For the ``model`` schema of a complete class, pydantic-core reuses the class's own
    ``__pydantic_validator__``/``__pydantic_serializer__`` (its "prebuilt" shortcut, decided
    by ``__pydantic_complete__`` in the class ``__dict__``), which would ignore the stored
    keys. The flag is lowered for the duration of the build only; meanwhile pydantic at
    worst builds a fresh (identical) validator instead of reusing the class's.
    """
    flagged = [cls for cls in classes if cls.__dict__.get("__pydantic_complete__")]
    with _BUILDING:
        try:
            for cls in flagged:
                cls.__pydantic_complete__ = False
            yield
        finally:
            for cls in flagged:
                cls.__pydantic_complete__ = True


def _top_model_config(schema: CoreSchema) -> CoreConfig | None:
    node: Any = schema
    while isinstance(node, dict) and node.get("type") == "definitions":
        node = node.get("schema")
    config = node.get("config") if isinstance(node, dict) else None
    return config


def build_codec(schema: CoreSchema) -> DocumentCodec:
    """The document serializer and validator for a model whose core schema is ``schema``."""
    stored, renamed = document_schema(schema)
    config = _top_model_config(stored)
    with _own_build_for(renamed):
        return DocumentCodec(
            SchemaSerializer(stored, config),
            SchemaValidator(stored, config),
            compile_dumper(stored),  # may build serializers of single fields
        )


__all__ = ["DocumentCodec", "build_codec", "document_schema"]
