"""Loading: model instances from stored (or looked-up) documents, tracked for ``save``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from odm.exceptions import DocumentParsingError
from odm.model import Model, document_codec
from odm.tracking import mark_persisted

ModelT = TypeVar("ModelT", bound=Model)


def _stored_form(model: type[Model], raw: dict[str, Any], instance: Model) -> dict[str, Any]:
    """The stored document behind a looked-up one; marks referenced instances persisted."""
    document = dict(raw)
    for reference in model.__odm_references__:
        target: type[Model] = reference.reference  # type: ignore[assignment]
        sub_raw = document.get(reference.key_name)
        if isinstance(sub_raw, dict):
            sub_instance = getattr(instance, reference.name)
            mark_persisted(sub_instance, _stored_form(target, sub_raw, sub_instance))
            document[reference.key_name] = sub_raw.get(target.__primary_key__)
    return document


def _missing_reference(model: type[Model], raw: Mapping[str, Any]) -> str | None:
    for reference in model.__odm_references__:
        sub_raw = raw.get(reference.key_name)
        if not isinstance(sub_raw, dict):
            return reference.name
        target: type[Model] = reference.reference  # type: ignore[assignment]
        missing = _missing_reference(target, sub_raw)
        if missing is not None:
            return f"{reference.name}.{missing}"
    return None


def instance_from_document(model: type[ModelT], raw: dict[str, Any]) -> ModelT:
    """A model instance from a stored (or looked-up) document, tracked for ``save``."""
    if model.__odm_references__:
        missing = _missing_reference(model, raw)
        if missing is not None:
            raise DocumentParsingError(
                model, raw.get("_id", "<unknown>"), missing, "referenced document not found"
            )
        instance = model.model_validate_doc(raw)
        mark_persisted(instance, _stored_form(model, raw, instance))
        return instance
    instance = model.model_validate_doc(raw)
    mark_persisted(instance, raw)
    return instance


def instances_from_documents(model: type[ModelT], documents: Iterable[dict[str, Any]]) -> list[ModelT]:
    """Instances from many documents; the hot path is one pydantic call per document."""
    return list(iter_instances(model, documents))


def iter_instances(model: type[ModelT], documents: Iterable[dict[str, Any]]) -> Iterator[ModelT]:
    """Instances one by one as ``documents`` yields them (a cursor streams, never loaded whole)."""
    if _needs_checks(model):
        for document in documents:
            yield instance_from_document(model, document)
        return
    validate = document_codec(model).validator.validate_python
    raw: dict[str, Any] = {}
    try:
        for raw in documents:
            instance = validate(raw)
            mark_persisted(instance, raw)
            yield instance
    except ValidationError as error:
        raise DocumentParsingError.from_validation_error(
            model, raw.get("_id", "<unknown>"), error
        ) from None


def _needs_checks(model: type[Model]) -> bool:
    """References to look up, or keys to check before validating (see instance_from_document)."""
    return bool(model.__odm_references__ or model.__odm_required_keys__ - {"_id"})
