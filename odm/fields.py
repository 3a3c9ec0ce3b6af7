"""Field declarations (``Field``, ``Reference``) and the field proxies that build queries.

``User.name`` (class attribute access) is a :class:`FieldProxy`: compare it to build a
:class:`~odm.query.QueryExpression`; ``+User.name`` is the stored key name; attribute
access walks into embedded models (``Order.address.city``).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic_core import PydanticUndefined

from odm import query


@dataclass(frozen=True)
class ODMField:
    """What odm knows about one declared field (beyond pydantic's FieldInfo)."""

    name: str
    key_name: str
    primary_field: bool = False
    index: bool = False
    unique: bool = False
    reference: type[Any] | None = None
    """The referenced Model class for a ``Reference()`` field."""


class ODMFieldInfo:
    """What ``Field()`` returns: pydantic arguments plus odm's own (key name, indexes)."""

    __slots__ = ("index", "key_name", "primary_field", "pydantic_kwargs", "unique")

    def __init__(
        self,
        *,
        key_name: str | None,
        primary_field: bool,
        index: bool,
        unique: bool,
        pydantic_kwargs: dict[str, Any],
    ) -> None:
        self.key_name = key_name
        self.primary_field = primary_field
        self.index = index
        self.unique = unique
        self.pydantic_kwargs = pydantic_kwargs

    def to_pydantic(self, field_name: str, key_name: str) -> Any:
        """The pydantic FieldInfo of the field (named by its field name, as in ODMantic).

        Validation also accepts the stored key; dumps, JSON and JSON schemas use the field
        name. Stored documents use ``key_name`` through :mod:`odm.document_codec`.
        """
        kwargs = dict(self.pydantic_kwargs)
        if key_name != field_name:
            kwargs["validation_alias"] = pydantic.AliasChoices(field_name, key_name)
        return pydantic.Field(**kwargs)


def validate_key_name(key_name: str, where: str) -> None:
    """MongoDB keys cannot start with ``$`` or contain ``.`` (they would be operators/paths)."""
    if not isinstance(key_name, str) or not key_name:
        raise TypeError(f"key_name of {where} must be a non-empty string, got {key_name!r}")
    if key_name.startswith("$") or "." in key_name or "\x00" in key_name:
        raise TypeError(
            f"key_name {key_name!r} of {where} is invalid: it cannot start with '$' "
            "nor contain '.'"
        )


def Field(  # ODMantic's public name
    default: Any = PydanticUndefined,
    *,
    key_name: str | None = None,
    primary_field: bool = False,
    index: bool = False,
    unique: bool = False,
    default_factory: Callable[[], Any] | None = None,
    title: str | None = None,
    description: str | None = None,
    json_schema_extra: dict[str, Any] | Callable[[dict[str, Any]], None] | None = None,
    examples: list[Any] | None = None,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    multiple_of: float | None = None,
    min_items: int | None = None,
    max_items: int | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | re.Pattern[str] | None = None,
    regex: str | None = None,
) -> Any:
    """Declare a model field with MongoDB options and pydantic constraints.

    ``key_name`` is the key used in the stored document (the attribute keeps its name);
    ``primary_field=True`` makes the field the document's ``_id``; ``index``/``unique``
    declare a single-field index created by ``engine.configure_database``.

    >>> from odm import Model, Field
    >>> class Book(Model):
    ...     isbn: str = Field(primary_field=True)
    ...     title: str = Field(key_name="t", min_length=1)
    ...     pages: int = Field(0, ge=0, index=True)
    """
    if default is Ellipsis and default_factory is not None:
        default = PydanticUndefined  # ``Field(..., default_factory=f)``, as pydantic allows
    if default is not PydanticUndefined and default_factory is not None:
        raise TypeError("cannot specify both default and default_factory")
    if primary_field:
        if key_name is not None and key_name != "_id":
            raise ValueError(
                "cannot specify a primary field with a custom key_name, key_name='_id' "
                "enforced"
            )
        key_name = "_id"
    elif key_name == "_id":
        raise ValueError("cannot specify key_name='_id' without defining the field as primary")
    if key_name is not None:
        validate_key_name(key_name, "Field()")
    candidates: dict[str, Any] = {
        "title": title,
        "description": description,
        "json_schema_extra": json_schema_extra,
        "examples": examples,
        "gt": gt,
        "ge": ge,
        "lt": lt,
        "le": le,
        "multiple_of": multiple_of,
        "min_length": min_items if min_items is not None else min_length,
        "max_length": max_items if max_items is not None else max_length,
        "pattern": regex if regex is not None else pattern,
    }
    kwargs = {name: value for name, value in candidates.items() if value is not None}
    if default_factory is not None:
        kwargs["default_factory"] = default_factory
    else:
        kwargs["default"] = default
        if default is not PydanticUndefined and default is not Ellipsis:
            # As in ODMantic, a default must pass the field's own validation
            # (``Field(3, gt=5)`` fails when an instance needs it).
            kwargs["validate_default"] = True
    return ODMFieldInfo(
        key_name=key_name,
        primary_field=primary_field,
        index=index,
        unique=unique,
        pydantic_kwargs=kwargs,
    )


class ODMReferenceInfo:
    """What ``Reference()`` returns."""

    __slots__ = ("key_name",)

    def __init__(self, key_name: str | None) -> None:
        self.key_name = key_name


def Reference(*, key_name: str | None = None) -> Any:  # ODMantic's public name
    """Declare a field referencing another ``Model``.

    The document stores the referenced instance's primary key under ``key_name``; finds
    load the referenced instance with ``$lookup``; ``save`` saves it first.

    >>> from odm import Model, Reference
    >>> class Publisher(Model):
    ...     name: str
    >>> class Book(Model):
    ...     title: str
    ...     publisher: Publisher = Reference()
    """
    if key_name is not None:
        validate_key_name(key_name, "Reference()")
    return ODMReferenceInfo(key_name)


def embedded_model_in(annotation: Any) -> type[Any] | None:
    """The EmbeddedModel/Model class inside ``annotation`` (``Optional[X]``, ``list[X]``...)."""
    if isinstance(annotation, type) and hasattr(annotation, "__odm_proxies__"):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is None:
        return None
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        args = args[:1]
    elif origin in (dict, Mapping) or (isinstance(origin, type) and issubclass(origin, Mapping)):
        args = args[1:]
    for arg in args:
        found = embedded_model_in(arg)
        if found is not None:
            return found
    return None


class KeyName(str):
    """A stored key path (``+User.name``); ``++User.name`` is ``"$name"``, the form
    aggregation expressions use (as in ODMantic)."""

    __slots__ = ()

    def __pos__(self) -> str:
        return f"${self}"


class FieldProxy:
    """A model field seen from the class: builds queries, sorts and key paths.

    >>> from odm import Model, EmbeddedModel
    >>> class Address(EmbeddedModel):
    ...     city: str
    >>> class Order(Model):
    ...     address: Address
    >>> Order.address.city == "Paris"
    QueryExpression({'address.city': {'$eq': 'Paris'}})
    >>> +Order.address.city
    'address.city'
    """

    __slots__ = ("_odm_field", "_odm_owner", "_odm_path")

    def __init__(self, owner: type[Any], field: ODMField, path: str) -> None:
        self._odm_owner = owner
        self._odm_field = field
        self._odm_path = path

    def __pos__(self) -> KeyName:
        return KeyName(self._odm_path)

    def __repr__(self) -> str:
        return f"FieldProxy({self._odm_owner.__name__}.{self._odm_field.name}, key={self._odm_path!r})"

    def __getattr__(self, name: str) -> FieldProxy:
        if name.startswith("__"):
            raise AttributeError(name)
        referenced = self._odm_field.reference
        if referenced is not None and name in referenced.__odm_fields__:
            raise NotImplementedError(
                "filtering across references is not supported "
                f"({self._odm_owner.__name__}.{self._odm_field.name}.{name})"
            )
        annotation = self._odm_owner.model_fields[self._odm_field.name].annotation
        model = embedded_model_in(annotation)
        if model is None or referenced is not None:
            raise AttributeError(
                f"{self._odm_owner.__name__}.{self._odm_field.name} is not an embedded model: "
                f"it has no sub-field {name!r}"
            )
        proxies: Mapping[str, FieldProxy] = model.__odm_proxies__
        if name not in proxies:
            raise AttributeError(f"{model.__name__} has no field {name!r}")
        sub = proxies[name]
        return make_proxy(sub._odm_owner, sub._odm_field, f"{self._odm_path}.{sub._odm_path}")

    # Comparisons build queries, as in ODMantic. Values are always data.
    def __eq__(self, value: object) -> query.QueryExpression:  # type: ignore[override]
        return query.eq(self, value)

    def __ne__(self, value: object) -> query.QueryExpression:  # type: ignore[override]
        return query.ne(self, value)

    def __gt__(self, value: Any) -> query.QueryExpression:
        return query.gt(self, value)

    def __ge__(self, value: Any) -> query.QueryExpression:
        return query.gte(self, value)

    def __lt__(self, value: Any) -> query.QueryExpression:
        return query.lt(self, value)

    def __le__(self, value: Any) -> query.QueryExpression:
        return query.lte(self, value)

    __hash__ = None  # type: ignore[assignment]

    def eq(self, value: Any) -> query.QueryExpression:
        return query.eq(self, value)

    def ne(self, value: Any) -> query.QueryExpression:
        return query.ne(self, value)

    def gt(self, value: Any) -> query.QueryExpression:
        return query.gt(self, value)

    def gte(self, value: Any) -> query.QueryExpression:
        return query.gte(self, value)

    def lt(self, value: Any) -> query.QueryExpression:
        return query.lt(self, value)

    def lte(self, value: Any) -> query.QueryExpression:
        return query.lte(self, value)

    def in_(self, values: Iterable[Any]) -> query.QueryExpression:
        return query.in_(self, values)

    def not_in(self, values: Iterable[Any]) -> query.QueryExpression:
        return query.not_in(self, values)

    def match(self, pattern: str | re.Pattern[str]) -> query.QueryExpression:
        return query.match(self, pattern)

    def exists(self, present: bool = True) -> query.QueryExpression:
        return query.exists(self, present)

    def size(self, length: int) -> query.QueryExpression:
        return query.size(self, length)

    def all(self, values: Iterable[Any]) -> query.QueryExpression:
        return query.all_(self, values)

    def elem_match(self, *queries: Mapping[str, Any]) -> query.QueryExpression:
        return query.elem_match(self, *queries)

    def asc(self) -> query.SortExpression:
        return query.asc(self)

    def desc(self) -> query.SortExpression:
        return query.desc(self)

_REFERENCE_REFUSED = frozenset(
    {"gt", "gte", "lt", "lte", "match", "exists", "size", "all", "elem_match", "asc", "desc"}
)


def _not_allowed(operator: str) -> Any:
    def refuse(self: FieldProxy, *args: Any) -> Any:
        raise AttributeError(f"operator {operator} not allowed for ODMReference fields")

    return refuse


class ReferenceProxy(FieldProxy):
    """A ``Reference()`` field seen from the class: only equality and membership, as in
    ODMantic (its documents hold the referenced primary key)."""

    __slots__ = ()

    # Hidden methods: a property raising AttributeError sends Python to __getattr__.
    for _operator in _REFERENCE_REFUSED:
        locals()[_operator] = property(_not_allowed(_operator))
    del _operator

    def __getattr__(self, name: str) -> FieldProxy:
        if name in _REFERENCE_REFUSED:
            _not_allowed(name)(self)
        return super().__getattr__(name)
    __gt__ = _not_allowed("gt")
    __ge__ = _not_allowed("gte")
    __lt__ = _not_allowed("lt")
    __le__ = _not_allowed("lte")


def make_proxy(owner: type[Any], field: ODMField, path: str) -> FieldProxy:
    """The proxy of ``field`` (a reference's is a :class:`ReferenceProxy`)."""
    if field.reference is not None:
        return ReferenceProxy(owner, field, path)
    return FieldProxy(owner, field, path)


__all__ = [
    "Field",
    "FieldProxy",
    "KeyName",
    "ODMField",
    "ODMFieldInfo",
    "ODMReferenceInfo",
    "Reference",
    "ReferenceProxy",
    "embedded_model_in",
    "make_proxy",
    "validate_key_name",
]
