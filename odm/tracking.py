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
import datetime
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import bson

from odm.facts import version_key
from odm.model import _BaseODMModel

_SNAPSHOT: Any = getattr(_BaseODMModel, "__odm_snapshot__")  # noqa: B009 - a slot descriptor
_set_snapshot = _SNAPSHOT.__set__
_get_snapshot = _SNAPSHOT.__get__


# Values compared with == once their types match (the common case: no isinstance checks).
_SCALARS = frozenset(
    {str, int, float, bool, type(None), bytes, datetime.datetime, bson.ObjectId, bson.Int64,
     bson.Decimal128, bson.Binary, bson.Regex}
)
_MISSING: Any = object()


def _same_instant(old: Any, new: Any) -> bool:
    """Datetimes that differ only by being naive (UTC) and aware name the same instant:
    MongoDB stores both alike, so they are no change."""
    if type(old) is not datetime.datetime or type(new) is not datetime.datetime or (
        (old.tzinfo is None) == (new.tzinfo is None)
    ):
        return False
    if old.tzinfo is None:
        old = old.replace(tzinfo=datetime.UTC)
    else:
        new = new.replace(tzinfo=datetime.UTC)
    return bool(old == new)


def same_value(old: Any, new: Any) -> bool:
    """Equal as BSON values: same types (1 vs 1.0 vs True differ in BSON) and contents."""
    kind = type(old)
    if kind is not type(new):
        return False
    if kind is list or (kind is not dict and isinstance(old, list)):
        if len(old) != len(new):
            return False
        for item, other in zip(old, new):
            item_kind = type(item)
            if item_kind in _SCALARS:  # no call per item for lists of scalars
                if (item is not other or item_kind is float) and (
                    item_kind is not type(other) or item != other
                ) and not _same_instant(item, other):
                    return False
            elif not same_value(item, other):
                return False
        return True
    if kind is dict or isinstance(old, dict):
        return old.keys() == new.keys() and all(same_value(v, new[k]) for k, v in old.items())
    return bool(old == new) or _same_instant(old, new)


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
    found = 0  # keys of new also in old: when all of old's, none was removed
    for key, value in new.items():
        before = old.get(key, _MISSING)
        if before is _MISSING:
            set_[prefix + key] = value
            continue
        found += 1
        kind = type(before)
        if kind is not type(value):
            set_[prefix + key] = value
        elif kind in _SCALARS:
            # The same object is an equal value (ObjectId's != is Python code), NaN aside.
            if (before is not value or kind is float) and before != value and (
                not _same_instant(before, value)
            ):
                set_[prefix + key] = value
        elif kind is dict and _plain_keys(value) and _plain_keys(before):
            _diff_into(before, value, prefix + key + ".", set_, unset, True)
        elif kind is dict or kind is list or isinstance(before, dict | list):
            if not same_value(before, value):
                set_[prefix + key] = value
        elif before != value:  # other values of one type: plain equality
            set_[prefix + key] = value
    if unset_missing and found != len(old):
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


mark_persisted: Callable[[_BaseODMModel, dict[str, Any]], None] = _set_snapshot
"""``mark_persisted(instance, document)``: record ``document`` (as stored) as the snapshot of
``instance``. The slot's own setter, not a wrapper: loads call it once per document."""


def forget(instance: _BaseODMModel) -> None:
    """Make ``instance`` new again (after its document was deleted)."""
    with contextlib.suppress(AttributeError):
        _SNAPSHOT.__delete__(instance)


Restorable = (
    tuple[_BaseODMModel, dict[str, Any] | None] | tuple[_BaseODMModel, dict[str, Any] | None, Any]
)
"""What a write changed on an instance: ``(instance, previous snapshot)``, plus the previous
value of its version field when the write bumped it (the unit of work's writes)."""


def restore(previous: Iterable[Restorable]) -> None:
    """Undo writes that were rolled back (latest first): each instance gets its previous
    snapshot back (or is new again), and its previous version where the entry has one. The
    engines' transactions and the unit of work both roll back through here."""
    for entry in reversed(list(previous)):
        instance, snapshot = entry[0], entry[1]
        if snapshot is None:
            forget(instance)
        else:
            mark_persisted(instance, snapshot)
        if len(entry) == 3:
            versioned = version_key(type(instance))
            if versioned is not None:
                instance.__dict__[versioned[0]] = entry[2]


def is_new(instance: _BaseODMModel) -> bool:
    """True when ``instance`` was never loaded nor saved (``save`` sends it whole)."""
    return snapshot_of(instance) is None


def changes(instance: _BaseODMModel) -> tuple[dict[str, Any], dict[str, dict[str, Any]] | None]:
    """``(document, update)`` for saving ``instance``.

    ``update`` is ``None`` for a new instance (send the whole document) and ``{}`` when
    nothing changed. Keys that the model does not declare are never unset, unless the model
    allows extra fields (``extra="allow"``).
    """
    document, _, update = changes_and_snapshot(instance)
    return document, update


def changes_and_snapshot(
    instance: _BaseODMModel,
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, dict[str, Any]] | None]:
    """``(document, snapshot, update)``: :func:`changes` and the snapshot it compared with
    (what to restore if the write is rolled back), read once."""
    document = instance.model_dump_doc()
    try:
        snapshot: dict[str, Any] = _get_snapshot(instance)
    except AttributeError:
        return document, None, None
    update = diff(snapshot, document, unset_missing=_extra_allowed(type(instance)))
    return document, snapshot, update


@functools.cache
def _extra_allowed(model: type[_BaseODMModel]) -> bool:
    # Looked up once per class: class attributes of pydantic models cost ~0.1 us.
    return model.__odm_extra_allowed__


__all__ = [
    "changes",
    "changes_and_snapshot",
    "diff",
    "forget",
    "is_new",
    "mark_persisted",
    "restore",
    "same_value",
    "snapshot_of",
]
