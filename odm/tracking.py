"""Change tracking: snapshots of stored documents and the minimal update between two.

Pure functions, no I/O; ``engine.save`` and the unit of work both use them.

An instance loaded from the database (or saved) keeps the raw document as its *snapshot*.
Saving it dumps the instance again and sends only :func:`diff` (snapshot, dump): a
``$set`` of the changed dotted paths and an ``$unset`` of the removed ones. Because the
comparison is on documents, in-place changes (``user.tags.append(...)``,
``order.address.city = ...``) are seen like assignments.

>>> diff({"_id": 1, "a": {"b": 1, "c": 2}, "l": [1]}, {"_id": 1, "a": {"b": 1, "c": 3}, "l": [1, 2]})
{'$set': {'a.c': 3, 'l': [1, 2]}}
>>> diff({"a": 1, "b": 2}, {"a": 1})
{'$unset': {'b': ''}}
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from odm.model import _BaseODMModel

_SNAPSHOT: Any = getattr(_BaseODMModel, "__odm_snapshot__")  # noqa: B009 - a slot descriptor
_set_snapshot = _SNAPSHOT.__set__
_get_snapshot = _SNAPSHOT.__get__


def same_value(old: Any, new: Any) -> bool:
    """Equal as BSON values: same types (1 vs 1.0 vs True differ in BSON) and contents."""
    kind = type(old)
    if kind is not type(new):
        return False
    if kind is list or (kind is not dict and isinstance(old, list)):
        return len(old) == len(new) and all(map(same_value, old, new))
    if kind is dict or isinstance(old, dict):
        return old.keys() == new.keys() and all(same_value(v, new[k]) for k, v in old.items())
    return bool(old == new)


def _plain_keys(document: Mapping[str, Any]) -> bool:
    """Keys usable in a dotted update path (no '.', no leading '$', not empty)."""
    return all(key and "." not in key and not key.startswith("$") for key in document)


def _diff_into(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    prefix: str,
    set_: dict[str, Any],
    unset: dict[str, Any],
    unset_missing: bool,
) -> None:
    for key, value in new.items():
        path = prefix + key
        if key not in old:
            set_[path] = value
            continue
        before = old[key]
        kind = type(before)
        if kind is not type(value):
            set_[path] = value
        elif kind is dict and _plain_keys(value) and _plain_keys(before):
            _diff_into(before, value, path + ".", set_, unset, True)
        elif kind is dict or kind is list or isinstance(before, dict | list):
            if not same_value(before, value):
                set_[path] = value
        elif before != value:  # scalars of one type: plain equality (the common case)
            set_[path] = value
    if unset_missing:
        for key in old:
            if key not in new:
                unset[prefix + key] = ""


def diff(
    old_doc: Mapping[str, Any], new_doc: Mapping[str, Any], *, unset_missing: bool = True
) -> dict[str, dict[str, Any]]:
    """The update document turning ``old_doc`` into ``new_doc`` (``{}`` when equal).

    Embedded documents are compared key by key (dotted paths); a changed list is set
    whole. ``unset_missing=False`` leaves the top-level keys missing from ``new_doc``
    alone (keys a model does not declare), while still unsetting removed sub-keys.
    """
    set_: dict[str, Any] = {}
    unset: dict[str, Any] = {}
    _diff_into(old_doc, new_doc, "", set_, unset, unset_missing)
    update: dict[str, dict[str, Any]] = {}
    if set_:
        update["$set"] = set_
    if unset:
        update["$unset"] = unset
    return update


def snapshot_of(instance: _BaseODMModel) -> dict[str, Any] | None:
    """The document ``instance`` was loaded from or last saved as; ``None`` if new."""
    try:
        snapshot: dict[str, Any] = _get_snapshot(instance)
    except AttributeError:
        return None
    return snapshot


def mark_persisted(instance: _BaseODMModel, document: dict[str, Any]) -> None:
    """Record ``document`` (as stored) as the snapshot of ``instance``."""
    _set_snapshot(instance, document)


def forget(instance: _BaseODMModel) -> None:
    """Make ``instance`` new again (after its document was deleted)."""
    with contextlib.suppress(AttributeError):
        _SNAPSHOT.__delete__(instance)


def restore(previous: Iterable[tuple[_BaseODMModel, dict[str, Any] | None]]) -> None:
    """Put back snapshots taken before writes that were rolled back (latest first)."""
    for instance, snapshot in reversed(list(previous)):
        if snapshot is None:
            forget(instance)
        else:
            mark_persisted(instance, snapshot)


def is_new(instance: _BaseODMModel) -> bool:
    """True when ``instance`` was never loaded nor saved (``save`` sends it whole)."""
    return snapshot_of(instance) is None


def changes(instance: _BaseODMModel) -> tuple[dict[str, Any], dict[str, dict[str, Any]] | None]:
    """``(document, update)`` for saving ``instance``.

    ``update`` is ``None`` for a new instance (send the whole document) and ``{}`` when
    nothing changed. Keys that the model does not declare are never unset, unless the model
    allows extra fields (``extra="allow"``).
    """
    document = instance.model_dump_doc()
    snapshot = snapshot_of(instance)
    if snapshot is None:
        return document, None
    allow_extra = type(instance).__odm_extra_allowed__
    return document, diff(snapshot, document, unset_missing=allow_extra)


__all__ = [
    "changes",
    "diff",
    "forget",
    "is_new",
    "mark_persisted",
    "restore",
    "same_value",
    "snapshot_of",
]
