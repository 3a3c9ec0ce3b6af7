"""Indexes: parsing createIndexes specs, default names, index keys, and the ordered entries.

An ``IndexSpec`` is what listIndexes shows; unique ones are enforced through the
collection's unique tables. ``IndexEntries`` holds an index's keys in MongoDB's order
(``mongolet.index_order``), one entry ``(key fields..., record seq)`` per distinct key of
every version a record retains, plus an open transaction's uncommitted version: so any
reader finds through it every document its snapshot can see, and checks each candidate
against its own visible version (``mongolet.planner`` plans, ``mongolet.plan_execution``
runs the scans). Text, hashed and geo indexes have no entries.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import Int64
from sortedcontainers import SortedList

from mongolet.errors import MongoError
from mongolet.index_order import OrderKey, directed, order_key
from mongolet.query import collation as collations
from mongolet.query import matcher, paths, values

# Index types accepted as metadata (their special semantics are not implemented).
_SPECIAL_TYPES = {"text", "2dsphere", "2d", "hashed"}
# Options stored and listed back verbatim.
_KNOWN_OPTIONS = {
    "unique", "sparse", "partialFilterExpression", "expireAfterSeconds", "hidden",
    "collation", "weights", "default_language", "language_override", "textIndexVersion",
    "2dsphereIndexVersion", "bits", "min", "max", "wildcardProjection", "storageEngine",
}
_TEXT_OPTIONS = ("weights", "default_language", "language_override", "textIndexVersion")
# Options that make two specs with the same key pattern different indexes.
_IDENTITY_OPTIONS = ("unique", "sparse", "partialFilterExpression", "collation")


@dataclass
class IndexSpec:
    name: str
    key: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    _filter: Callable[[Mapping[str, Any]], bool] | None = field(default=None, repr=False)

    @property
    def unique(self) -> bool:
        return bool(self.options.get("unique"))

    @property
    def sparse(self) -> bool:
        return bool(self.options.get("sparse"))

    @property
    def ordered(self) -> bool:
        """Whether the index holds ordered entries (not text, hashed or geo)."""
        return all(not isinstance(d, str) for d in self.key.values())

    @property
    def collation(self) -> collations.Collation | None:
        return collations.parse(self.options["collation"]) \
            if self.options.get("collation") is not None else None

    def to_document(self) -> dict[str, Any]:
        """The index as listIndexes shows it (mongod's field order; a text index's fields
        as ``_fts``/``_ftsx`` and its weights, as mongod stores them)."""
        text_fields = [f for f, d in self.key.items() if d == "text"]
        if not text_fields:
            doc: dict[str, Any] = {"v": 2, "key": dict(self.key), "name": self.name}
            doc.update(self.options)
            return doc
        key: dict[str, Any] = {}
        for field_name, direction in self.key.items():
            if direction != "text":
                key[field_name] = direction
            elif "_fts" not in key:
                key["_fts"], key["_ftsx"] = "text", 1
        doc = {"v": 2, "key": key, "name": self.name}
        doc.update({k: v for k, v in self.options.items() if k not in _TEXT_OPTIONS})
        doc["weights"] = dict(self.options.get("weights") or {f: 1 for f in text_fields})
        doc["default_language"] = self.options.get("default_language", "english")
        doc["language_override"] = self.options.get("language_override", "language")
        doc["textIndexVersion"] = self.options.get("textIndexVersion", 3)
        return doc

    def same_definition(self, other: IndexSpec) -> bool:
        if list(self.key.items()) != list(other.key.items()):
            return False
        return all(_normalized(self.options.get(o)) == _normalized(other.options.get(o))
                   for o in (*_IDENTITY_OPTIONS, "expireAfterSeconds", "hidden"))

    def same_key_and_identity(self, other: IndexSpec) -> bool:
        return list(self.key.items()) == list(other.key.items()) and all(
            _normalized(self.options.get(o)) == _normalized(other.options.get(o))
            for o in _IDENTITY_OPTIONS)

    def covers(self, doc: Mapping[str, Any]) -> bool:
        """Whether ``doc`` has an entry in this index (sparse and partial indexes skip some)."""
        if self.sparse and all(not paths.path_values(doc, f) for f in self.key):
            return False
        partial = self.options.get("partialFilterExpression")
        if partial is not None:
            if self._filter is None:
                self._filter = matcher.compile_filter(partial)
            return self._filter(doc)
        return True

    def keys_of(self, doc: Mapping[str, Any]) -> list[Hashable]:
        """The index keys of ``doc``: one per combination of array elements (multikey);
        a missing field indexes as null."""
        if not self.covers(doc):
            return []
        collation = self.options.get("collation")
        if collation is not None:
            # A unique index with a collation holds strings equal under it as one key.
            with collations.applied(collations.parse(collation)):
                return self._keys(doc)
        return self._keys(doc)

    def _keys(self, doc: Mapping[str, Any]) -> list[Hashable]:
        per_field: list[list[Any]] = []
        for field_name in self.key:
            found = _index_values(doc, field_name)
            per_field.append(found)
        if len(per_field) == 1:
            return list({values.canonical_key(v): None for v in per_field[0]})
        combos = {
            tuple(values.canonical_key(v) for v in combo): None
            for combo in itertools.product(*per_field)
        }
        return list(combos)

    def key_value(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """``{field: value}`` for a duplicate key error (first value of arrays)."""
        shown: dict[str, Any] = {}
        for field_name in self.key:
            found = _index_values(doc, field_name)
            shown[field_name] = found[0] if found else None
        return shown


def _index_values(doc: Mapping[str, Any], path: str) -> list[Any]:
    found = paths.path_values(doc, path)
    flat: list[Any] = []
    for value in found:
        if isinstance(value, list):
            flat.extend(value if value else [None])
        else:
            flat.append(value)
    return flat or [None]


def _normalized(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return bool(value) if value is not None else None
    return value


def id_index() -> IndexSpec:
    return IndexSpec("_id_", {"_id": 1})


def default_name(key: Mapping[str, Any]) -> str:
    """mongod's default index name: ``a_1_b_-1``, ``loc_2dsphere``."""
    parts = []
    for field_name, direction in key.items():
        if isinstance(direction, float) and direction.is_integer():
            direction = int(direction)
        parts.append(f"{field_name}_{direction}")
    return "_".join(parts)


def parse_index_spec(raw: Any) -> IndexSpec:
    """Validate one element of createIndexes' ``indexes`` array."""
    if not isinstance(raw, Mapping):
        raise MongoError(14, "Each element of the 'indexes' array must be an object")
    key = raw.get("key")
    if not isinstance(key, Mapping) or not key:
        raise MongoError(67 if key is not None else 9,
                         "The 'key' field is a required property of an index specification"
                         if key is None else "Index keys cannot be an empty field")
    normalized_key: dict[str, Any] = {}
    for field_name, direction in key.items():
        if not field_name:
            raise MongoError(67, "Index keys cannot be an empty field")
        if isinstance(direction, bool):
            raise MongoError(67, f"Values in the index key pattern can't be booleans: {field_name}")
        if isinstance(direction, int | float | Int64):
            if direction == 0:
                raise MongoError(67, f"Values in the index key pattern must be non-zero: "
                                     f"{field_name}: 0")
            normalized_key[field_name] = direction
        elif isinstance(direction, str) and direction in _SPECIAL_TYPES:
            normalized_key[field_name] = direction
        else:
            raise MongoError(67, f"Unknown index plugin '{direction}'"
                             if isinstance(direction, str) else
                             f"Values in index key pattern must be numbers or strings: "
                             f"{field_name}")
    name = raw.get("name")
    if name is None:
        name = default_name(normalized_key)
    if not isinstance(name, str) or not name:
        raise MongoError(67, "The index name must be a non-empty string")
    options: dict[str, Any] = {}
    for option, value in raw.items():
        if option in ("key", "name", "v", "ns", "background"):
            continue
        if option not in _KNOWN_OPTIONS:
            raise MongoError(197, f"The field '{option}' is not valid for an index "
                                  f"specification. Specification: {dict(raw)}")
        options[option] = value
    if "partialFilterExpression" in options:
        partial = options["partialFilterExpression"]
        if not isinstance(partial, Mapping):
            raise MongoError(2, "partialFilterExpression must be an object")
        matcher.compile_filter(partial)  # reject bad filters now
        if options.get("sparse"):
            raise MongoError(67, "cannot mix \"partialFilterExpression\" and \"sparse\" options")
    collations.parse(options.get("collation"))  # a collation mongolet can apply
    if "expireAfterSeconds" in options:
        ttl = options["expireAfterSeconds"]
        if isinstance(ttl, bool) or not isinstance(ttl, int | float | Int64) or ttl < 0:
            raise MongoError(2, "TTL index 'expireAfterSeconds' option must be numeric and "
                                "non-negative")
    if name == "_id_" and list(normalized_key) != ["_id"]:
        raise MongoError(67, "The index name '_id_' is reserved for the _id index")
    return IndexSpec(name, normalized_key, options)


class IndexEntries:
    """The ordered entries of one index, kept in step with its collection's records.

    ``entries`` holds ``(field keys..., seq)`` tuples (``Record.seq`` breaks ties, in
    insertion order); ``records`` finds the record of a seq. ``multikey`` turns on for good
    the first time an indexed path crosses an array, as on mongod."""

    __slots__ = ("_collation", "_fields", "_simple", "_single", "directions", "entries", "held",
                 "multikey", "records", "spec")

    def __init__(self, spec: IndexSpec) -> None:
        self.spec = spec
        self._fields = [(f, paths.split_path(f)) for f in spec.key]
        self.directions = [-1 if float(d) < 0 else 1 for d in spec.key.values()]
        self._collation = spec.collation
        self._simple = (not spec.sparse and "partialFilterExpression" not in spec.options)
        only = self._fields[0][1] if len(self._fields) == 1 else ()
        self._single: str | None = only[0] if (
            len(only) == 1 and self._simple and self._collation is None
            and self.directions[0] > 0) else None
        self.entries: SortedList = SortedList()
        self.records: dict[int, Any] = {}
        self.held: dict[int, frozenset[OrderKey]] = {}
        self.multikey = False

    def keys(self, doc: Mapping[str, Any]) -> list[OrderKey]:
        """The stored keys (without seq) of ``doc``: none when sparse or partial skip it."""
        single = self._single
        if single is not None:  # the common case, kept short: {field: 1} on a top-level field
            value = doc.get(single)
            if not isinstance(value, list | dict):
                return [(order_key(value),)]
        if not self._simple and not self.spec.covers(doc):
            return []
        if self._collation is not None:
            with collations.applied(self._collation):
                return self._keys(doc)
        return self._keys(doc)

    def _keys(self, doc: Mapping[str, Any]) -> list[OrderKey]:
        per_field: list[list[Any]] = []
        for (name, parts), direction in zip(self._fields, self.directions):
            if len(parts) == 1:
                value = doc.get(name, None)
                if not isinstance(value, list):
                    per_field.append([directed(order_key(value), direction)])
                    continue
            if _crosses_array(doc, parts):
                self.multikey = True
            found = {order_key(v): None for v in _entry_values(doc, parts)}
            per_field.append([directed(k, direction) for k in found])
        if len(per_field) == 1:
            return [(k,) for k in per_field[0]]
        return [tuple(combo) for combo in itertools.product(*per_field)]

    def sync(self, record: Any, docs: list[dict[str, Any]]) -> None:
        """Hold exactly the keys of ``docs`` (a record's retained and pending versions)."""
        seq = record.seq
        if len(docs) == 1:
            new = frozenset(self.keys(docs[0]))
        else:
            new = frozenset(k for doc in docs for k in self.keys(doc))
        old = self.held.get(seq)
        entries = self.entries
        if old is None:
            for key in new:
                entries.add((*key, seq))
        elif new == old:
            return
        else:
            for key in old - new:
                entries.remove((*key, seq))
            for key in new - old:
                entries.add((*key, seq))
        if new:
            self.held[seq] = new
            self.records[seq] = record
        else:
            self.held.pop(seq, None)
            self.records.pop(seq, None)

    def build(self, items: list[tuple[Any, list[dict[str, Any]]]]) -> None:
        """Fill an empty index from ``(record, docs)`` pairs at once."""
        collected: list[tuple[Any, ...]] = []
        for record, docs in items:
            keys = frozenset(k for doc in docs for k in self.keys(doc))
            if keys:
                self.held[record.seq] = keys
                self.records[record.seq] = record
                collected.extend((*key, record.seq) for key in keys)
        self.entries = SortedList(collected)


def _entry_values(doc: Any, parts: tuple[str, ...]) -> list[Any]:
    """The values an index holds for a path: array elements one by one, null where an
    element lacks the path (so ``{"a.b": null}`` finds ``{a: [{}, {b: 1}]}``)."""
    flat: list[Any] = []
    for value in paths.match_values(doc, parts):
        if value is paths.MISSING:
            flat.append(None)
        elif isinstance(value, list):
            flat.extend(value if value else [None])
        else:
            flat.append(value)
    return flat


def _crosses_array(doc: Any, parts: tuple[str, ...]) -> bool:
    current = doc
    for part in parts:
        if isinstance(current, list):
            return True
        if not isinstance(current, Mapping):
            return False
        current = current.get(part)
    return isinstance(current, list)
