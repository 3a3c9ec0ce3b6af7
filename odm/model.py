"""``Model`` (a document in a collection) and ``EmbeddedModel`` (a sub-document).

Models are plain pydantic v2 models named by their **field names**, as in ODMantic:
``model_dump`` (with or without ``by_alias``), ``model_dump_json``, ``model_json_schema`` and
FastAPI show ``id`` and ``title``. Stored documents use **stored keys** (``_id``, a field's
``key_name``): ``model_dump_doc`` writes them and ``model_validate_doc`` reads them, through
a second serializer and validator (:mod:`odm.document_codec`). ``Model(id=...)`` and
``model_validate`` take field names (stored keys are accepted too). What odm adds is computed
once per class at class creation:

- ``__collection__`` (``model_config["collection"]`` or the snake-cased class name without a
  trailing ``Model``), ``__primary_field__`` (``id`` stored as ``_id`` unless a field says
  ``primary_field=True``), ``__odm_fields__`` and the class-level field proxies that build
  queries (``User.name == "x"``, ``+User.name``, ``+User``);
- annotations of BSON-specific types (``bson.ObjectId``, ``decimal.Decimal``, ``datetime``,
  enums, UUIDs) are replaced by their odm counterparts, see :mod:`odm.bson`.

Each instance loaded from (or saved to) the database keeps that raw document as its
snapshot; ``engine.save`` sends only what differs from it (see :mod:`odm.tracking`).

>>> from odm import Model, EmbeddedModel, Field
>>> class Address(EmbeddedModel):
...     city: str
>>> class User(Model):
...     name: str = Field(key_name="n")
...     address: Address | None = None
>>> +User, +User.name
('user', 'n')
>>> sorted(User(name="Ann").model_dump_doc())
['_id', 'address', 'n']
"""

from __future__ import annotations

import collections.abc
import copy
import enum
import functools
import re
import sys
import types
import typing
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, ClassVar, Self

import bson
import pydantic
import pymongo
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic._internal._decorators import PydanticDescriptorProxy
from pydantic._internal._model_construction import ModelMetaclass, build_lenient_weakvaluedict
from pydantic.errors import PydanticSchemaGenerationError
from pydantic_core import PydanticUndefined

from odm.bson import (
    DOC_CONTEXT,
    SUBSTITUTED_TYPES,
    BaseBSONModel,
    ObjectId,
    SerializedBy,
    enum_serializer,
    reference_serializer,
    uuid_from_bson,
    uuid_serializer,
)
from odm.document_codec import DocumentCodec, build_codec
from odm.exceptions import DocumentParsingError, PrimaryKeyChangeError
from odm.fields import (
    Field,
    FieldProxy,
    ODMField,
    ODMFieldInfo,
    ODMReferenceInfo,
    Reference,
    make_proxy,
    validate_key_name,
)
from odm.query import to_bson_value

if typing.TYPE_CHECKING:
    from pydantic.main import IncEx

    from odm.index import Index


class ODMConfigDict(ConfigDict, total=False):
    """pydantic's ConfigDict plus odm's keys."""

    collection: str
    """The collection name (default: the snake-cased class name without ``Model``)."""
    indexes: Callable[[], Iterable[Index | pymongo.IndexModel]]
    """A callable returning the model's compound/custom indexes."""
    parse_doc_with_default_factories: bool
    """Fill fields missing from a stored document with their ``default_factory``
    (default ``False``: such a document is a parsing error, as in ODMantic)."""
    version_field: str
    """The integer field the unit of work uses for optimistic concurrency (see :mod:`uow`):
    updates and deletes match the loaded version and each update bumps it."""


# ---------------------------------------------------------------- type substitution


def _substitute(annotation: Any) -> Any:
    """Replace BSON-specific types (also inside Optional/list/dict...) by odm's."""
    try:
        substitute = SUBSTITUTED_TYPES.get(annotation)
    except TypeError:  # unhashable annotation
        substitute = None
    if substitute is not None:
        return substitute
    if typing.get_origin(annotation) is re.Pattern:  # re.Pattern[str]
        return SUBSTITUTED_TYPES[re.Pattern]
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return Annotated[annotation, SerializedBy(enum_serializer)]
        if annotation is uuid.UUID:
            return Annotated[
                uuid.UUID,
                pydantic.BeforeValidator(uuid_from_bson),
                SerializedBy(uuid_serializer),
            ]
        return annotation
    return _map_type_arguments(annotation, _substitute, opaque=(typing.Literal, ClassVar))


def _map_type_arguments(annotation: Any, transform: Callable[[Any], Any],
                        opaque: tuple[Any, ...] = (typing.Literal,)) -> Any:
    """``annotation`` with ``transform`` applied to its type arguments (of ``Annotated``,
    unions and generics; ``opaque`` origins are left alone), itself when nothing changes."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is None or not args or any(origin is kept for kept in opaque):
        return annotation
    if origin is Annotated:
        inner = transform(args[0])
        return annotation if inner is args[0] else Annotated[(inner, *annotation.__metadata__)]
    new_args = tuple(transform(arg) for arg in args)
    if all(new is old for new, old in zip(new_args, args)):
        return annotation
    if origin in (typing.Union, types.UnionType):
        return typing.Union[new_args]  # noqa: UP007
    try:
        return annotation.copy_with(new_args)  # typing generics (typing.List[...])
    except AttributeError:
        return origin[new_args]  # builtin generics (list[...])


def _resolve(
    annotation: Any,
    module: str | None,
    namespace: dict[str, Any],
    local_namespace: Mapping[str, Any] | None = None,
) -> Any:
    """Evaluate a string annotation when possible (``from __future__ import annotations``),
    in the class body, the function defining the class (if any), then the module."""
    if not isinstance(annotation, str):
        return annotation
    module_globals = getattr(sys.modules.get(module or ""), "__dict__", {})
    try:
        return eval(annotation, dict(module_globals), {**(local_namespace or {}), **namespace})
    except Exception:
        return annotation  # a forward reference: pydantic resolves it later


def _is_classvar(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return annotation is ClassVar or typing.get_origin(annotation) is ClassVar


def _model_class(annotation: Any) -> type[Model] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, Model) else None


def _to_snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _collection_name(name: str, namespace: dict[str, Any]) -> str:
    config = namespace.get("model_config") or {}
    collection = config.get("collection")
    if collection is None:
        base = name[:-5] if name.endswith("Model") and len(name) > 5 else name
        collection = _to_snake_case(base)
    reason = None
    if not isinstance(collection, str):
        reason = f"must be a string, got {collection!r}"
    elif "$" in collection:
        reason = "cannot contain '$'"
    elif not collection:
        reason = "cannot be empty"
    elif collection.startswith("system."):
        reason = "cannot start with 'system.'"
    if reason is not None:  # ODMantic's messages
        raise TypeError(f"Invalid collection name for {name}: {reason}")
    return typing.cast(str, collection)


# ---------------------------------------------------------------- definition checks

# pydantic's options a model may set, as in ODMantic; odm's own options come on top.
_ALLOWED_PYDANTIC_OPTIONS = frozenset(
    {"title", "json_schema_extra", "str_strip_whitespace", "arbitrary_types_allowed", "extra",
     "json_encoders"}
)
_ODM_OPTIONS = frozenset(ODMConfigDict.__annotations__) - frozenset(ConfigDict.__annotations__)
_ENFORCED_OPTIONS = {"validate_assignment": True, "validate_default": True}


def _check_config(name: str, config: Mapping[str, Any]) -> None:
    """Refuse options odm does not support, with ODMantic's messages (``ValueError``)."""
    for key, value in config.items():
        if key in _ENFORCED_OPTIONS:
            if value == _ENFORCED_OPTIONS[key]:
                continue
            raise ValueError(
                f"'{name}': configuration attribute '{key}' is enforced to "
                f"{_ENFORCED_OPTIONS[key]} by odm and cannot be changed"
            )
        if key in _ALLOWED_PYDANTIC_OPTIONS or key in _ODM_OPTIONS:
            continue
        if key in ConfigDict.__annotations__:
            raise ValueError(
                f"'{name}': configuration attribute '{key}' from Pydantic is not supported"
            )
        raise ValueError(f"'{name}': unknown configuration attribute '{key}'")


# Class attributes that are not fields (methods, properties, validators...), as in ODMantic.
_NOT_FIELDS = (
    types.FunctionType,
    property,
    classmethod,
    staticmethod,
    functools.cached_property,
    PydanticDescriptorProxy,
    type,
)


def _is_function_type(annotation: Any) -> bool:
    return annotation is types.FunctionType or annotation is types.MethodType


def _check_supported(cls_name: str, field_name: str, annotation: Any) -> None:
    """``Callable`` fields (also inside a list...) cannot be stored: ``TypeError``."""
    if isinstance(annotation, str):
        return
    if annotation is typing.Callable or annotation is collections.abc.Callable or (
        typing.get_origin(annotation) is collections.abc.Callable
    ):
        raise TypeError(
            f"{annotation} fields are not supported ({cls_name}.{field_name})"
        )
    if typing.get_origin(annotation) is not typing.Literal:
        for arg in typing.get_args(annotation):
            _check_supported(cls_name, field_name, arg)


def _check_untyped(name: str, namespace: Mapping[str, Any], annotations: Mapping[str, Any]) -> None:
    for attribute, value in namespace.items():
        if (
            attribute not in annotations
            and not attribute.startswith("_")
            and not attribute.startswith("model_")
            and not isinstance(value, _NOT_FIELDS)
        ):
            raise TypeError(
                f"field {attribute} is defined without type annotation (in {name})"
            )


def _check_default(cls_name: str, field_name: str, annotation: Any, value: Any) -> None:
    """A plain default must fit its type (ODMantic's ``TypeError`` at class creation)."""
    if isinstance(annotation, str):
        return  # a forward reference: checked when an instance is built
    # The common defaults need no validator (building one costs ~0.5 ms per field).
    if type(value) is annotation or (
        value is None and type(None) in typing.get_args(annotation)
    ) or (
        type(value) in (list, dict, set) and not value
        and typing.get_origin(annotation) is type(value)
    ):
        return
    try:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(annotation)
    except Exception:
        return  # pydantic reports the type itself when it builds the class
    try:
        adapter.validate_python(value)
    except ValidationError:
        raise TypeError(
            f"Unhandled field definition {cls_name}: {annotation!r} = {value!r} "
            f"(the default of {field_name} is not a valid {field_name} value)"
        ) from None


def _generic_of_embedded(annotation: Any) -> type[Any] | None:
    """The embedded model of ``list[E]``, ``set[E]``, ``tuple[E, ...]``, ``dict[str, E]``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _generic_of_embedded(arg)
            if found is not None:
                return found
        return None
    if origin is None or origin is Annotated:
        return None
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, EmbeddedModel):
            return arg
    return None


class UnsupportedFieldTypeError(PydanticSchemaGenerationError, TypeError):
    """pydantic cannot validate a field's type: a ``TypeError``, as odm's other definition
    errors (and still pydantic's ``PydanticSchemaGenerationError``)."""


# ---------------------------------------------------------------- class creation


def _inherited_fields(bases: tuple[type, ...]) -> dict[str, ODMField]:
    fields: dict[str, ODMField] = {}
    for base in reversed(bases):
        fields.update(getattr(base, "__odm_fields__", {}))
    return fields


def _declare_field(
    cls_name: str, field_name: str, annotation: Any, namespace: dict[str, Any]
) -> tuple[ODMField, Any]:
    """Turn one declaration into (odm description, pydantic annotation); updates namespace."""
    value = namespace.get(field_name, PydanticUndefined)
    where = f"{cls_name}.{field_name}"
    if isinstance(value, pydantic.fields.FieldInfo):
        raise TypeError(f"{where}: please use odm.Field instead of pydantic.Field")
    _check_supported(cls_name, field_name, annotation)
    embedded = _generic_of_embedded(annotation)
    if embedded is not None:
        if isinstance(value, ODMFieldInfo) and value.primary_field:
            raise TypeError(
                "Declaring a generic type of embedded models as a primary field is not "
                f"allowed: {field_name} in {cls_name}"
            )
        if embedded.__odm_references__:
            raise TypeError(
                "Declaring a generic type of embedded models containing references is not "
                f"allowed: {field_name} in {cls_name}"
            )
    referenced = _model_class(annotation)
    if isinstance(value, ODMReferenceInfo):
        if referenced is None:
            raise TypeError(f"{where}: Reference() needs a Model type annotation")
        key_name = value.key_name or field_name
        annotation = Annotated[annotation, SerializedBy(reference_serializer, wrap=True)]
        if key_name != field_name:
            namespace[field_name] = pydantic.Field(
                validation_alias=pydantic.AliasChoices(field_name, key_name)
            )
        else:
            del namespace[field_name]
        return ODMField(field_name, key_name, reference=referenced), annotation
    if referenced is not None:
        raise TypeError(
            f"cannot define a reference {field_name} (in {cls_name}) without a Reference "
            "assigned to it"
        )
    if isinstance(value, ODMFieldInfo):
        key_name = value.key_name or ("_id" if value.primary_field else field_name)
        namespace[field_name] = value.to_pydantic(field_name, key_name)
        field = ODMField(field_name, key_name, value.primary_field, value.index, value.unique)
        return field, annotation
    if value is not PydanticUndefined:
        _check_default(cls_name, field_name, annotation, value)
    return ODMField(field_name, field_name), annotation


def _prepare_namespace(
    name: str,
    bases: tuple[type, ...],
    namespace: dict[str, Any],
    is_document: bool,
    local_namespace: Mapping[str, Any] | None = None,
) -> None:
    """Validate the declarations and rewrite them into a plain pydantic namespace."""
    raw_annotations: dict[str, Any] = namespace.get("__annotations__", {})
    module = namespace.get("__module__")
    _check_config(name, namespace.get("model_config") or {})
    _check_untyped(name, namespace, raw_annotations)
    fields = _inherited_fields(bases)
    annotations: dict[str, Any] = {}
    for field_name, raw in raw_annotations.items():
        if field_name.startswith("_") or _is_classvar(raw):
            annotations[field_name] = raw
            continue
        resolved = _resolve(raw, module, namespace, local_namespace)
        if _is_function_type(resolved):
            continue  # a function stored on the class, not a field (as in ODMantic)
        resolved = _substitute(resolved)
        field, annotation = _declare_field(name, field_name, resolved, namespace)
        validate_key_name(field.key_name, f"{name}.{field_name}")
        fields[field_name] = field
        annotations[field_name] = annotation

    primaries = [field.name for field in fields.values() if field.primary_field]
    if not is_document and primaries:
        raise TypeError(f"cannot define a primary field in {name} embedded document")
    if len(primaries) > 1:
        raise TypeError(f"{name} declares several primary fields: {', '.join(primaries)}")
    if is_document and not primaries:
        if "id" in fields:
            raise TypeError(
                f"{name}: can't automatically generate a primary field since an 'id' field "
                "already exists (declare it with Field(primary_field=True))"
            )
        annotations = {"id": ObjectId, **annotations}
        namespace["id"] = pydantic.Field(
            default_factory=bson.ObjectId, validation_alias=pydantic.AliasChoices("id", "_id")
        )
        fields = {"id": ODMField("id", "_id", primary_field=True), **fields}
        primaries = ["id"]

    seen: dict[str, str] = {}
    for field in fields.values():
        if field.key_name in seen:
            raise TypeError(
                f"Duplicated key_name: {field.key_name} in {name} "
                f"({seen[field.key_name]} and {field.name})"
            )
        seen[field.key_name] = field.name

    namespace["__annotations__"] = annotations
    namespace["__odm_fields__"] = fields
    if is_document:
        namespace["__primary_field__"] = primaries[0]
        namespace["__primary_key__"] = fields[primaries[0]].key_name
        namespace["__collection__"] = _collection_name(name, namespace)


def _defining_namespace(frame: types.FrameType, module: str | None) -> Mapping[str, Any] | None:
    """Names visible where a class statement runs that its module's globals may lack: the
    locals of a function defining the class, or the globals of code run by ``exec``
    (doctests). None for a class defined at the top level of its module."""
    if frame.f_back is not None and frame.f_code.co_name != "<module>":
        return frame.f_locals
    module_globals = getattr(sys.modules.get(module or ""), "__dict__", None)
    return None if frame.f_globals is module_globals else frame.f_globals


@typing.dataclass_transform(
    kw_only_default=True, field_specifiers=(Field, Reference, ODMFieldInfo, ODMReferenceInfo)
)
class _ODMModelMetaclass(ModelMetaclass):
    """Adds odm's per-class metadata and class-level field proxies to pydantic models."""

    def __new__(
        mcs,
        name: str,
        bases: tuple[type[Any], ...],
        namespace: dict[str, Any],
        **kwargs: Any,
    ) -> type:
        is_base = namespace.pop("__odm_base__", False)
        if not is_base:
            local_namespace = None
            if "__pydantic_reset_parent_namespace__" not in kwargs:  # a class statement
                local_namespace = _defining_namespace(
                    sys._getframe(1), namespace.get("__module__")
                )
                # pydantic looks for this namespace one frame up, which is this method
                # when its metaclass is subclassed: hand it the right one.
                kwargs["__pydantic_reset_parent_namespace__"] = False
                namespace["__pydantic_parent_namespace__"] = (
                    None if local_namespace is None
                    else build_lenient_weakvaluedict(dict(local_namespace))
                )
            is_document = any(getattr(base, "__odm_is_document__", False) for base in bases)
            _prepare_namespace(name, bases, namespace, is_document, local_namespace)
            if namespace.get("__doc__") is None:
                # No docstring: no description in JSON schemas, rather than the inherited
                # docstring of odm's own Model (as in ODMantic).
                namespace["__doc__"] = ""
        try:
            cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        except PydanticSchemaGenerationError as error:
            if isinstance(error, UnsupportedFieldTypeError):
                raise
            raise UnsupportedFieldTypeError(f"{name}: {error.message}") from error
        if not is_base:
            _finish_class(cls)
        return cls

    if not typing.TYPE_CHECKING:
        # Hidden from type checkers, as pydantic hides its own: to them a class attribute
        # that is not declared is an error, and a field reads as its value type.

        def __getattr__(cls, name: str) -> Any:
            proxies = cls.__dict__.get("__odm_proxies__")
            if proxies is not None and name in proxies:
                return proxies[name]
            if name == "__pydantic_model__" and proxies is not None:
                pure = _pure_pydantic_model(cls)
                type.__setattr__(cls, "__pydantic_model__", pure)
                return pure
            try:
                return super().__getattr__(name)
            except AttributeError:
                if proxies is None or name.startswith("_"):
                    raise
                raise AttributeError(
                    f"{cls.__name__} has no field {name!r} (its fields: "
                    f"{', '.join(proxies) or 'none'})",
                    name=name,
                    obj=cls,
                ) from None

    def __pos__(cls) -> str:
        collection = cls.__dict__.get("__collection__")
        if collection is None:
            raise TypeError(f"{cls.__name__} is not a Model: it has no collection")
        return typing.cast(str, collection)


def _finish_class(cls: Any) -> None:
    """Precompute, once per class, what the hot paths need."""
    fields: dict[str, ODMField] = cls.__odm_fields__
    cls.__odm_proxies__ = {
        name: make_proxy(cls, field, field.key_name) for name, field in fields.items()
    }
    cls.__odm_references__ = tuple(field for field in fields.values() if field.reference)
    factory_keys = frozenset(
        fields[name].key_name
        for name, info in cls.model_fields.items()
        if name in fields and info.default_factory is not None
    )
    config = cls.model_config
    if config.get("parse_doc_with_default_factories"):
        # A stored document always has its primary key: never invent one.
        factory_keys = factory_keys & {getattr(cls, "__primary_key__", None)}
    cls.__odm_required_keys__ = factory_keys
    cls.__odm_extra_allowed__ = config.get("extra") == "allow"
    # Built now when pydantic could build the class; on first use once forward references
    # are resolved otherwise (see document_codec).
    cls.__odm_codec__ = build_codec(cls.__pydantic_core_schema__) if (
        cls.__pydantic_complete__
    ) else None


def _pure_annotation(annotation: Any) -> Any:
    """``annotation`` with odm models replaced by their ``__pydantic_model__``."""
    if isinstance(annotation, type):
        if issubclass(annotation, _BaseODMModel):
            return annotation.__pydantic_model__
        return annotation
    return _map_type_arguments(annotation, _pure_annotation)


def _pure_pydantic_model(cls: Any) -> type[BaseBSONModel]:
    """ODMantic's ``Model.__pydantic_model__``: the same fields in a plain pydantic model
    (embedded and referenced models as theirs), for FastAPI response models."""
    if not cls.__pydantic_complete__:
        cls.model_rebuild()
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {}
    for field_name, info in cls.model_fields.items():
        annotations[field_name] = _pure_annotation(info.annotation)
        field = copy.copy(info)
        field.annotation = annotations[field_name]
        namespace[field_name] = field
    config = {
        key: value
        for key, value in cls.model_config.items()
        if key in _ALLOWED_PYDANTIC_OPTIONS and value is not None
    }
    config.setdefault("title", cls.__name__)
    namespace.update(
        __annotations__=annotations,
        __module__=cls.__module__,
        __qualname__=cls.__qualname__,
        __doc__=cls.__doc__,
        model_config=ConfigDict(**{**BaseBSONModel.model_config, **config}),
    )
    with warnings.catch_warnings():
        # BaseBSONModel's json_encoders (ODMantic's) are deprecated by pydantic: the
        # fields here are odm's BSON types, which serialize themselves.
        warnings.simplefilter("ignore", pydantic.PydanticDeprecatedSince20)
        pure: type[BaseBSONModel] = ModelMetaclass(cls.__name__, (BaseBSONModel,), namespace)
    return pure


def document_codec(cls: type[_BaseODMModel]) -> DocumentCodec:
    """The stored-document serializer and validator of ``cls`` (built on first need)."""
    codec = cls.__odm_codec__
    if codec is None:
        if not cls.__pydantic_complete__:
            cls.model_rebuild()
        codec = build_codec(cls.__pydantic_core_schema__)
        cls.__odm_codec__ = codec
    return codec


# ---------------------------------------------------------------- base classes


_BASE_CONFIG = ODMConfigDict(
    validate_by_name=True,
    validate_by_alias=True,
    validate_assignment=True,
)


class _BaseODMModel(BaseModel, metaclass=_ODMModelMetaclass):
    """Shared by Model and EmbeddedModel; never instantiated directly."""

    __odm_base__ = True
    # The raw document this instance was loaded from or last saved as (see odm.tracking).
    __slots__ = ("__odm_snapshot__",)
    # Typed as pydantic's ConfigDict (a mixin such as uow.DomainEvents is a pydantic model
    # too): models spell odm's keys with ``model_config = ODMConfigDict(...)``.
    model_config = _BASE_CONFIG

    if typing.TYPE_CHECKING:
        # Type checkers accept odm's keys in ``model_config = {...}`` too.
        __odm_fields__: ClassVar[dict[str, ODMField]]
        __odm_proxies__: ClassVar[dict[str, FieldProxy]]
        __odm_references__: ClassVar[tuple[ODMField, ...]]
        __odm_required_keys__: ClassVar[frozenset[str]]
        __odm_extra_allowed__: ClassVar[bool]
        __odm_codec__: ClassVar[DocumentCodec | None]
        __pydantic_model__: ClassVar[type[BaseBSONModel]]
        """The model's fields in a plain pydantic model (built on first use), as in
        ODMantic: FastAPI response models, schemas without odm's behaviour."""

    @classmethod
    def model_rebuild(
        cls,
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        """pydantic's ``model_rebuild``; the stored-document codec follows the new schema."""
        rebuilt = super().model_rebuild(
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=_parent_namespace_depth + 1,
            _types_namespace=_types_namespace,
        )
        if rebuilt:
            cls.__odm_codec__ = None
        return rebuilt

    def model_update(
        self,
        patch_object: BaseModel | Mapping[str, Any] | None = None,
        *,
        include: IncEx | None = None,
        exclude: IncEx | None = None,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        **values: Any,
    ) -> Self:
        """Update fields from a pydantic model, a dict or keyword arguments; re-validates.

        As in ODMantic, a pydantic ``patch_object`` applies only its explicitly set fields
        (``exclude_unset=True``), and dict/keyword keys that are not fields of this model are
        ignored. Changing the primary key raises :class:`PrimaryKeyChangeError`.
        Returns the instance.

        >>> from odm import Model
        >>> class Account(Model):
        ...     balance: float
        >>> Account(balance=1).model_update(balance=5, unknown=1).balance
        5.0
        """
        patch = self._patch_dict(
            patch_object, values, include, exclude, exclude_unset, exclude_defaults, exclude_none
        )
        primary = getattr(type(self), "__primary_field__", None)
        if primary in patch and patch[primary] != getattr(self, primary):
            raise PrimaryKeyChangeError(
                f"Updating the primary key is not supported ({type(self).__name__}."
                f"{primary}): create a new instance instead, e.g. with model_copy"
            )
        current = {name: getattr(self, name) for name in type(self).model_fields}
        patched = type(self).model_validate({**current, **patch})
        for name, new_value in patched.__dict__.items():
            if self.__dict__.get(name) != new_value:
                self.__dict__[name] = new_value
                self.__pydantic_fields_set__.add(name)
        return self

    def _patch_dict(
        self,
        patch_object: BaseModel | Mapping[str, Any] | None,
        values: dict[str, Any],
        include: IncEx | None,
        exclude: IncEx | None,
        exclude_unset: bool,
        exclude_defaults: bool,
        exclude_none: bool,
    ) -> dict[str, Any]:
        if isinstance(patch_object, BaseModel):
            patch: dict[str, Any] = patch_object.model_dump(
                include=include,
                exclude=exclude,
                exclude_unset=exclude_unset,
                exclude_defaults=exclude_defaults,
                exclude_none=exclude_none,
            )
        elif patch_object is None or isinstance(patch_object, Mapping):
            patch = {**(patch_object or {}), **values}
            patch = {
                key: value
                for key, value in patch.items()
                if (include is None or key in include) and (exclude is None or key not in exclude)
            }
        else:
            raise TypeError(
                f"model_update expects a pydantic model or a dict, got {type(patch_object).__name__}"
            )
        fields = type(self).model_fields
        return {key: value for key, value in patch.items() if key in fields}

    def model_dump_doc(self, include: IncEx | None = None) -> dict[str, Any]:
        """The document stored for this instance: key names, BSON values, references as ids.

        ``include`` names fields by their field names.
        """
        codec = type(self).__odm_codec__ or document_codec(type(self))
        if include is None and codec.dump is not None:
            try:
                return codec.dump(self)
            except Exception:  # a value the compiled code does not expect: the serializer
                pass  # gives its document (or its error, or its warnings)
        document: dict[str, Any] = codec.serializer.to_python(
            self, by_alias=True, include=include, context=DOC_CONTEXT
        )
        extra = self.__pydantic_extra__
        if extra:
            # Extra values have no schema: make them BSON-ready as queries do (Decimal ->
            # Decimal128, tuples and sets -> lists, enums -> values...).
            for key in extra:
                if key in document:
                    document[key] = to_bson_value(document[key])
        return document

    @classmethod
    def model_validate_doc(cls, raw_doc: Mapping[str, Any]) -> Self:
        """Build an instance from a stored document.

        Raises :class:`DocumentParsingError` naming the document and the failing field.
        """
        missing = cls.__odm_required_keys__.difference(raw_doc)
        if missing:
            raise DocumentParsingError(
                cls,
                raw_doc.get("_id", "<unknown>"),
                min(missing),
                "key not found in document (its field has a default_factory; set "
                "model_config['parse_doc_with_default_factories'] = True to use it)",
            )
        try:
            # The document validator (stored keys) called directly: the hot path of every
            # find skips pydantic's model_validate wrapper (~30% of a small model's load).
            codec = cls.__odm_codec__ or document_codec(cls)
            instance: Self = codec.validator.validate_python(raw_doc)
            return instance
        except ValidationError as error:
            raise DocumentParsingError.from_validation_error(
                cls, raw_doc.get("_id", "<unknown>"), error
            ) from None

    # ODMantic 0.x names, kept by ODMantic 1.x as deprecated aliases: ported code still runs.

    def copy(
        self,
        *,
        include: Any = None,
        exclude: Any = None,
        update: dict[str, Any] | None = None,
        deep: bool = False,
    ) -> Self:
        """Deprecated alias of ``model_copy``; ``include``/``exclude`` are refused with
        ``NotImplementedError``, as in ODMantic."""
        warnings.warn(
            "copy is deprecated, please use model_copy instead", DeprecationWarning, 2
        )
        if include is not None or exclude is not None:
            raise NotImplementedError(
                "copy with include or exclude is not supported anymore, "
                "please use `model_copy` instead"
            )
        return self.model_copy(update=update, deep=deep)

    def doc(self, include: IncEx | None = None) -> dict[str, Any]:
        """Deprecated alias of :meth:`model_dump_doc` (as in ODMantic)."""
        warnings.warn(
            "doc is deprecated, please use model_dump_doc instead", DeprecationWarning, 2
        )
        return self.model_dump_doc(include=include)

    @classmethod
    def parse_doc(cls, raw_doc: Mapping[str, Any]) -> Self:
        """Deprecated alias of :meth:`model_validate_doc` (as in ODMantic)."""
        warnings.warn(
            "parse_doc is deprecated, please use model_validate_doc instead",
            DeprecationWarning,
            2,
        )
        return cls.model_validate_doc(raw_doc)

    def update(
        self,
        patch_object: BaseModel | Mapping[str, Any] | None = None,
        *,
        include: IncEx | None = None,
        exclude: IncEx | None = None,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        **values: Any,
    ) -> Self:
        """Deprecated alias of :meth:`model_update` (as in ODMantic)."""
        warnings.warn(
            "update is deprecated, please use model_update instead", DeprecationWarning, 2
        )
        return self.model_update(
            patch_object,
            include=include,
            exclude=exclude,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
            **values,
        )


class EmbeddedModel(_BaseODMModel):
    """A model stored as a sub-document of a ``Model`` (no collection, no primary key)."""

    __odm_base__ = True
    __odm_is_document__ = False


class Model(_BaseODMModel):
    """A model stored in its own collection.

    >>> from odm import Model, Field
    >>> class Player(Model):
    ...     name: str = Field(unique=True)
    ...     level: int = 1
    ...     model_config = {"collection": "players"}
    >>> +Player
    'players'
    """

    __odm_base__ = True
    __odm_is_document__ = True

    if typing.TYPE_CHECKING:
        __collection__: ClassVar[str]
        __primary_field__: ClassVar[str]
        __primary_key__: ClassVar[str]
        # A model that declares its own ``id`` of another type overrides this declaration
        # (``id: str = Field(primary_field=True)  # type: ignore[assignment]``).
        id: bson.ObjectId = Field(default_factory=bson.ObjectId)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == type(self).__primary_field__:
            raise PrimaryKeyChangeError(
                f"Reassigning a new primary key is not supported ({type(self).__name__}."
                f"{name}): create a new instance instead, e.g. with model_copy"
            )
        super().__setattr__(name, value)


__all__ = ["EmbeddedModel", "Model", "ODMConfigDict"]
