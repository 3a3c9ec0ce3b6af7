"""Update operators, replacements and upsert seed documents."""
from collections.abc import Mapping, Sequence
from typing import Any


def apply_update(
    doc: dict[str, Any],
    update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    array_filters: Sequence[Mapping[str, Any]] | None = None,
    is_insert: bool = False,
    query: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a new document: ``doc`` changed by an operator update, a replacement, or an
    update pipeline. ``is_insert`` applies ``$setOnInsert`` (upserts)."""
    raise NotImplementedError


def upsert_seed(query: Mapping[str, Any]) -> dict[str, Any]:
    """The document an upsert starts from: the query's equality conditions."""
    raise NotImplementedError
