"""Pure builders for everything the engines send and receive (no I/O here).

The sync and async engines are thin shells around these functions: they build a request
here, make one driver call, and hand the reply back here. The unit of work uses the same
builders (``save_operations``, ``write_requests``, ``mark_saved``...).

- reading: :func:`find_request` (filter, sort, skip, limit, and the ``$lookup`` pipeline
  when the model has references), :func:`instances_from_documents`;
- writing: :func:`save_operations` (what ``save``/``save_all`` send, per collection, in
  reference order), :func:`write_call` (the driver call sending one collection's),
  :func:`delete_filter`, :func:`translate_write_error`;
- schema: :func:`index_models`, :func:`conflicting_index_name`;
- servers: :func:`supports_transactions`.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pymongo
from pydantic import ValidationError
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError, WriteError

from odm.exceptions import DocumentParsingError, DuplicateKeyError, IndexConflictError
from odm.fields import FieldProxy, ODMField
from odm.ids import primary_key_filter
from odm.index import Index
from odm.model import Model, document_codec
from odm.query import SortExpression, key_of
from odm.tracking import changes_and_snapshot, mark_persisted

ModelT = TypeVar("ModelT", bound=Model)

SortArg = FieldProxy | SortExpression | Sequence[FieldProxy | SortExpression] | Any | None
"""``sort=``: a field (ascending), ``asc(f)``/``desc(f)``, or a tuple of them. ``Any``
because a type checker reads ``User.name`` as a ``str`` (as in ODMantic); :func:`compile_sort`
checks at run time."""

# MongoDB error codes (see the server's error_codes.yml).
DUPLICATE_KEY = 11000
ILLEGAL_OPERATION = 20


# ---------------------------------------------------------------- reading


def check_model_class(model: Any, operation: str) -> None:
    """Engines take Model classes; anything else is a clear TypeError."""
    if not (isinstance(model, type) and issubclass(model, Model)):
        raise TypeError(f"{operation} expects a Model class, got {model!r}")


def check_instance(instance: Any, operation: str) -> None:
    if not isinstance(instance, Model):
        raise TypeError(f"{operation} expects a Model instance, got {type(instance).__name__}")


def compile_filter(queries: Iterable[Any]) -> dict[str, Any]:
    """One filter document from query expressions / raw dicts (``$and`` when several)."""
    filters: list[dict[str, Any]] = []
    for query in queries:
        if isinstance(query, bool) or not isinstance(query, Mapping):
            raise TypeError(
                "A query must be a QueryExpression (like User.name == 'x') or a dict, got "
                f"{query!r}; was a model field compared outside the model class?"
            )
        if query:
            filters.append(dict(query))
    if not filters:
        return {}
    if len(filters) == 1:
        return filters[0]
    return {"$and": filters}


def compile_sort(sort: SortArg) -> list[tuple[str, int]] | None:
    """PyMongo's sort list from ``sort=``; ``None`` for no sort."""
    if sort is None:
        return None
    items = sort if isinstance(sort, tuple | list) else (sort,)
    keys: list[tuple[str, int]] = []
    for item in items:
        if isinstance(item, SortExpression):
            keys.extend(item.items())
        elif isinstance(item, FieldProxy):
            keys.append((key_of(item), pymongo.ASCENDING))
        else:
            raise TypeError(
                f"sort expects a model field, asc()/desc() or a tuple of them, got {item!r}"
            )
    return keys or None


def lookup_stages(model: type[Model]) -> list[dict[str, Any]]:
    """``$lookup`` + ``$unwind`` stages loading the model's references (recursively)."""
    stages: list[dict[str, Any]] = []
    for reference in model.__odm_references__:
        target: type[Model] = reference.reference  # type: ignore[assignment]
        nested = lookup_stages(target)
        lookup: dict[str, Any]
        if nested:
            lookup = {
                "from": target.__collection__,
                "let": {"ref": f"${reference.key_name}"},
                "pipeline": [
                    {"$match": {"$expr": {"$eq": [f"${target.__primary_key__}", "$$ref"]}}},
                    *nested,
                ],
                "as": reference.key_name,
            }
        else:
            lookup = {
                "from": target.__collection__,
                "localField": reference.key_name,
                "foreignField": target.__primary_key__,
                "as": reference.key_name,
            }
        stages.append({"$lookup": lookup})
        stages.append(
            {"$unwind": {"path": f"${reference.key_name}", "preserveNullAndEmptyArrays": True}}
        )
    return stages


@dataclass(frozen=True)
class FindRequest(Generic[ModelT]):
    """A find, ready for the driver: ``pipeline`` is set when references need ``$lookup``."""

    model: type[ModelT]
    filter: dict[str, Any]
    sort: list[tuple[str, int]] | None
    skip: int
    limit: int
    pipeline: list[dict[str, Any]] | None

    def find_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``collection.find`` (when ``pipeline`` is None)."""
        kwargs: dict[str, Any] = {"skip": self.skip, "limit": self.limit}
        if self.sort:
            kwargs["sort"] = self.sort
        return kwargs


def find_request(
    model: type[ModelT],
    queries: Iterable[Any],
    *,
    sort: SortArg = None,
    skip: int = 0,
    limit: int | None = None,
) -> FindRequest[ModelT]:
    """Build the find for ``engine.find(model, *queries, sort=, skip=, limit=)``."""
    check_model_class(model, "find")
    if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
        raise TypeError(f"skip must be a non-negative integer, got {skip!r}")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise TypeError(f"limit must be a non-negative integer or None, got {limit!r}")
    filter_ = primary_key_filter(model, compile_filter(queries))
    sort_keys = compile_sort(sort)
    pipeline: list[dict[str, Any]] | None = None
    lookups = lookup_stages(model)
    if lookups:
        pipeline = [{"$match": filter_}]
        if sort_keys:
            pipeline.append({"$sort": dict(sort_keys)})
        if skip:
            pipeline.append({"$skip": skip})
        if limit:
            pipeline.append({"$limit": limit})
        pipeline.extend(lookups)
    return FindRequest(model, filter_, sort_keys, skip, limit or 0, pipeline)


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


# ---------------------------------------------------------------- writing


class WriteKind(enum.Enum):
    """How a save reaches the server."""

    INSERT = "insert"  # insert the document (a new instance with a generated id)
    UPDATE = "update"  # upsert with an update document ($set/$unset)
    REPLACE = "replace"  # upsert the whole document (a new instance with nothing but its id)


# The members as module globals: an enum member lookup costs ~0.1 us (EnumType.__getattr__).
_INSERT, _UPDATE, _REPLACE = WriteKind.INSERT, WriteKind.UPDATE, WriteKind.REPLACE


@dataclass(slots=True)
class SaveOperation:
    """The write that saves one instance, the document it leaves stored, and the snapshot
    the instance had before (restored if a transaction aborts)."""

    instance: Model
    collection: str
    document: dict[str, Any]
    kind: WriteKind
    filter: dict[str, Any]
    update: dict[str, Any] | None
    previous: dict[str, Any] | None

    @property
    def request(self) -> pymongo.InsertOne[Any] | pymongo.UpdateOne | pymongo.ReplaceOne:
        """The ``bulk_write`` request (built only when one is needed: they cost ~1 us)."""
        if self.kind is _INSERT:
            return pymongo.InsertOne(self.document)
        if self.kind is _UPDATE:
            return pymongo.UpdateOne(self.filter, self.update, upsert=True)  # type: ignore[arg-type]
        return pymongo.ReplaceOne(self.filter, self.document, upsert=True)


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


def save_operation(instance: Model) -> SaveOperation | None:
    """The write saving ``instance``; ``None`` when it has not changed since loaded/saved.

    A new instance is inserted when its id was generated (a fresh ObjectId: no stored
    document can have it, and servers insert much faster than they upsert), upserted whole
    when the user chose it (saving over a stored document, as ODMantic does); a tracked one
    sends only the diff against its snapshot (``$set`` of changed dotted paths, ``$unset``
    of removed ones).
    """
    return _save_operation(instance, model_facts(type(instance)))


def _save_operation(instance: Model, writes: ModelFacts) -> SaveOperation | None:
    document, snapshot, update = changes_and_snapshot(instance)
    primary_key = writes.primary_key
    filter_ = {primary_key: document[primary_key]}
    if snapshot is not None:
        if not update:
            return None
        kind = _UPDATE
    elif writes.primary_field not in instance.__pydantic_fields_set__:  # a generated id
        kind, update = _INSERT, None
    else:
        fields = {key: value for key, value in document.items() if key != primary_key}
        kind, update = (_UPDATE, {"$set": fields}) if fields else (_REPLACE, None)
    return SaveOperation(instance, writes.collection, document, kind, filter_, update, snapshot)


def _with_references(instance: Model, seen: set[int]) -> Iterator[Model]:
    """``instance`` after the models it references (depth first), each once."""
    if id(instance) in seen:
        return
    seen.add(id(instance))
    for reference in model_facts(type(instance)).references:
        referenced = getattr(instance, reference.name)
        if referenced is not None:
            yield from _with_references(referenced, seen)
    yield instance


def save_operations(instances: Iterable[Model]) -> list[tuple[str, list[SaveOperation]]]:
    """The writes of ``save_all(instances)``: per collection, referenced collections first.

    Referenced models are saved too (cascade, as ODMantic does); unchanged instances are
    skipped. Each collection's list goes out in one round trip (see :func:`write_call`),
    inserts first: a ``bulk_write`` sends one command per run of same-kind requests.
    """
    seen: set[int] = set()
    groups: dict[str, tuple[list[SaveOperation], list[SaveOperation]]] = {}  # inserts, others
    depth: dict[str, int] = {}
    for instance in instances:
        writes = model_facts(type(instance))  # a TypeError for anything but a Model
        items: Iterable[tuple[Model, ModelFacts]]
        if writes.references:
            items = [(item, model_facts(type(item))) for item in _with_references(instance, seen)]
        elif id(instance) in seen:
            continue
        else:
            seen.add(id(instance))
            items = ((instance, writes),)
        for item, item_writes in items:
            operation = _save_operation(item, item_writes)
            if operation is None:
                continue
            group = groups.get(item_writes.collection)
            if group is None:
                group = groups[item_writes.collection] = ([], [])
            group[operation.kind is not _INSERT].append(operation)
            depth[item_writes.collection] = item_writes.depth
    ordered = sorted(groups, key=depth.__getitem__)
    return [(name, groups[name][0] + groups[name][1]) for name in ordered]


def write_call(
    operations: Sequence[SaveOperation],
) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """``(method, arguments, keywords)`` of the collection call writing ``operations`` (one
    collection's) in one round trip.

    The server gets the same command either way; the plain calls skip PyMongo's per-request
    objects and bulk machinery (~25 us of client time for one save, ~0.5 us per inserted
    document). A refused single write raises ``bulk_write``'s error (see
    :func:`translate_write_error`); only a write-concern failure of a single save outside a
    transaction differs: PyMongo's ``WriteConcernError`` (its counts are not known).
    """
    if len(operations) == 1:
        operation = operations[0]
        if operation.kind is _INSERT:
            return "insert_one", (operation.document,), {}
        if operation.kind is _UPDATE:
            return "update_one", (operation.filter, operation.update), {"upsert": True}
        return "replace_one", (operation.filter, operation.document), {"upsert": True}
    if all(operation.kind is _INSERT for operation in operations):
        return "insert_many", ([operation.document for operation in operations],), {"ordered": True}
    return "bulk_write", (write_requests(operations),), {"ordered": True}


def write_requests(operations: Sequence[SaveOperation]) -> list[Any]:
    """The driver requests of a ``bulk_write``."""
    return [operation.request for operation in operations]


def mark_saved(operations: Iterable[SaveOperation]) -> list[tuple[Model, dict[str, Any] | None]]:
    """After a successful write: the sent documents become the instances' snapshots.

    Returns the previous snapshots, for :func:`odm.tracking.restore` if a transaction
    aborts.
    """
    previous: list[tuple[Model, dict[str, Any] | None]] = []
    for operation in operations:
        previous.append((operation.instance, operation.previous))
        mark_persisted(operation.instance, operation.document)
    return previous


def translate_write_error(
    error: PyMongoError, operations: Sequence[SaveOperation]
) -> Exception:
    """Our error for a failed write; marks the operations applied before it as saved."""
    if len(operations) == 1 and isinstance(error, WriteError):
        error = _as_bulk_write_error(error, operations[0])
    if isinstance(error, BulkWriteError):
        write_errors = error.details.get("writeErrors") or [{}]
        index = write_errors[0].get("index", 0)
        mark_saved(operations[:index])
        if write_errors[0].get("code") == DUPLICATE_KEY and index < len(operations):
            return DuplicateKeyError(operations[index].instance, error)
    elif isinstance(error, OperationFailure) and error.code == DUPLICATE_KEY and operations:
        return DuplicateKeyError(operations[0].instance, error)
    return error


def _as_bulk_write_error(error: WriteError, operation: SaveOperation) -> BulkWriteError:
    """What ``bulk_write`` raises when the server refuses its one request: a single save
    written with a plain call fails as a batch of one did."""
    op: dict[str, Any]
    if operation.kind is _INSERT:
        op = operation.document
    elif operation.kind is _UPDATE:
        op = {"q": operation.filter, "u": operation.update, "multi": False, "upsert": True}
    else:
        op = {"q": operation.filter, "u": operation.document, "upsert": True}
    details = error.details or {}
    return BulkWriteError({
        "writeErrors": [{**details, "op": op}],
        "writeConcernErrors": [],
        "nInserted": 0,
        "nUpserted": 0,
        "nMatched": 0,
        "nModified": 0,
        "nRemoved": 0,
        "upserted": [],
    })


def delete_filter(instance: Model) -> dict[str, Any]:
    """The filter deleting ``instance``'s document."""
    check_instance(instance, "delete")
    model = type(instance)
    return {model.__primary_key__: getattr(instance, model.__primary_field__)}


# ---------------------------------------------------------------- indexes


def index_models(model: type[Model]) -> list[pymongo.IndexModel]:
    """Every index ``model`` declares: ``Field(index=/unique=)`` and ``model_config["indexes"]``."""
    check_model_class(model, "configure_database")
    indexes: list[pymongo.IndexModel] = []
    for field in model.__odm_fields__.values():
        if field.primary_field or not (field.index or field.unique):
            continue
        options = {"unique": True} if field.unique else {}
        indexes.append(pymongo.IndexModel([(field.key_name, pymongo.ASCENDING)], **options))
    declared = model.model_config.get("indexes")
    if declared is not None:
        for index in declared():  # type: ignore[operator]
            if isinstance(index, Index):
                indexes.append(index.to_index_model())
            elif isinstance(index, pymongo.IndexModel):
                indexes.append(index)
            else:
                raise TypeError(
                    f"{model.__name__}.model_config['indexes'] must return Index or "
                    f"pymongo.IndexModel objects, got {index!r}"
                )
    return indexes


_INDEX_OPTIONS = ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression", "hidden")


def _same_index(wanted: Mapping[str, Any], existing: Mapping[str, Any]) -> bool:
    if wanted["name"] != existing.get("name"):
        return False
    if list(wanted["key"].items()) != list(existing["key"].items()):
        return False
    return all(
        (wanted.get(option) or None) == (existing.get(option) or None) for option in _INDEX_OPTIONS
    )


def index_plan(
    model: type[Model],
    existing: Iterable[Mapping[str, Any]],
    *,
    update_existing_indexes: bool = False,
) -> tuple[list[str], list[pymongo.IndexModel]]:
    """``(names to drop, indexes to create)`` to give ``model``'s collection its indexes.

    An existing index with the same name or the same keys but a different definition is a
    conflict: :class:`IndexConflictError`, or with ``update_existing_indexes`` it is dropped
    and recreated. Identical indexes are left alone.
    """
    current = [index for index in existing if index.get("name") != "_id_"]
    to_drop: list[str] = []
    to_create: list[pymongo.IndexModel] = []
    for index in index_models(model):
        spec = index.document
        keys = list(spec["key"].items())
        match = next(
            (
                other
                for other in current
                if other.get("name") == spec["name"] or list(other["key"].items()) == keys
            ),
            None,
        )
        if match is None:
            to_create.append(index)
        elif not _same_index(spec, match):
            if not update_existing_indexes:
                raise IndexConflictError(
                    f"Index {spec['name']!r} of {model.__name__} ({dict(spec)}) conflicts with "
                    f"the existing index {match.get('name')!r} ({dict(match)}); pass "
                    "update_existing_indexes=True to replace it"
                )
            to_drop.append(str(match["name"]))
            to_create.append(index)
    return to_drop, to_create


# ---------------------------------------------------------------- servers


def supports_transactions(hello: Mapping[str, Any]) -> bool:
    """A replica set member (``setName``) or a ``mongos`` (``msg: isdbgrid``) can run them."""
    return bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"


def is_transactions_unsupported(error: BaseException) -> bool:
    """PyMongo's error when a standalone server is asked for a transaction."""
    return (
        isinstance(error, OperationFailure)
        and error.code == ILLEGAL_OPERATION
        and "Transaction numbers" in str(error)
    )


__all__ = [
    "FindRequest",
    "SaveOperation",
    "SortArg",
    "check_instance",
    "check_model_class",
    "compile_filter",
    "compile_sort",
    "delete_filter",
    "find_request",
    "index_models",
    "index_plan",
    "instance_from_document",
    "instances_from_documents",
    "model_facts",
    "is_transactions_unsupported",
    "lookup_stages",
    "mark_saved",
    "save_operation",
    "save_operations",
    "supports_transactions",
    "translate_write_error",
    "write_requests",
]
