"""Index specifications: parsing createIndexes specs, default names, and index keys.

Only unique indexes change behaviour (they are enforced); the others are catalog metadata,
listed as mongod lists them. Queries scan collections and never need an index to be right.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import Int64

from mongolet.errors import MongoError
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

    def to_document(self) -> dict[str, Any]:
        """The index as listIndexes shows it (mongod's field order)."""
        doc: dict[str, Any] = {"v": 2, "key": dict(self.key), "name": self.name}
        doc.update(self.options)
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
