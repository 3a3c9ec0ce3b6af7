"""The engines' operations, written once as generators of :mod:`odm.engine.effects`.

``SyncEngine`` and ``AIOEngine`` run these with their driver; everything but the driver
calls (request building, reply handling, error translation, change tracking) lives here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from pymongo.errors import InvalidOperation, PyMongoError

from odm import client_writes
from odm.engine.base import BaseEngine, after_delete, after_save, driver_session
from odm.engine.effects import DriverCall, ReadAll, Steps
from odm.facts import check_model_class
from odm.ids import primary_key_filter
from odm.index_planning import index_plan
from odm.model import Model
from odm.query_compiler import FindRequest, compile_filter
from odm.saving import SaveOperation, delete_filter, save_operations, write_call
from odm.write_errors import translate_client_write_error, translate_write_error

ModelT = TypeVar("ModelT", bound=Model)


def open_cursor(request: FindRequest[Any], collection: Any, session: Any) -> Steps[Any]:
    """The driver cursor of a find request (an aggregation when it has a pipeline)."""
    if request.pipeline is not None:
        return (yield DriverCall(collection.aggregate, (request.pipeline,), {"session": session}))
    kwargs = request.find_kwargs()
    kwargs["session"] = session
    return (yield DriverCall(collection.find, (request.filter,), kwargs))


def count(engine: BaseEngine[Any], model: type[Model], queries: tuple[Any, ...],
          session: Any) -> Steps[int]:
    check_model_class(model, "count")
    filter_ = primary_key_filter(model, compile_filter(queries))
    collection = engine.get_collection(model)
    found = yield DriverCall(
        collection.count_documents, (filter_,), {"session": driver_session(session)}
    )
    return int(found)


def save_all(engine: BaseEngine[Any], instances: Iterable[ModelT],
             session: Any) -> Steps[list[ModelT]]:
    instances = list(instances)
    groups = save_operations(instances)
    if (len(groups) > 1 and engine.client_bulk_write_supported() is not False
            and (yield from _write_all(engine, groups, session))):
        return instances  # MongoDB 8.0: one command for every collection
    for collection, operations in groups:
        yield from _write(engine, collection, operations, session)
    return instances


def _write_all(engine: BaseEngine[Any],
               groups: Sequence[tuple[str, Sequence[SaveOperation]]],
               session: Any) -> Steps[bool]:
    """One ``client.bulk_write`` of every group; False (nothing sent) when the server
    turned out older than 8.0."""
    models, operations = client_writes.requests(groups, engine.database_name,
                                                engine.codec_options)
    try:
        yield DriverCall(engine.client.bulk_write, (models,),
                         {"ordered": True, "session": driver_session(session)})
    except InvalidOperation:
        if engine.client_bulk_write_supported() is False:  # refused before sending
            return False
        raise
    except PyMongoError as error:
        raise translate_client_write_error(error, operations) from error
    after_save(operations, session)
    return True


def _write(engine: BaseEngine[Any], collection: str,
           operations: Sequence[SaveOperation], session: Any) -> Steps[None]:
    method, arguments, keywords = write_call(operations)
    write = getattr(engine._collection(collection), method)
    try:
        yield DriverCall(write, tuple(arguments), {**keywords, "session": driver_session(session)})
    except PyMongoError as error:
        raise translate_write_error(error, operations) from error
    after_save(operations, session)


def delete(engine: BaseEngine[Any], instance: Model, session: Any) -> Steps[None]:
    filter_ = delete_filter(instance)
    collection = engine.get_collection(type(instance))
    result = yield DriverCall(collection.delete_one, (filter_,),
                              {"session": driver_session(session)})
    after_delete(instance, result.deleted_count)


def remove(engine: BaseEngine[Any], model: type[Model], queries: tuple[Any, ...],
           just_one: bool, session: Any) -> Steps[int]:
    check_model_class(model, "remove")
    filter_ = compile_filter(queries)
    collection = engine.get_collection(model)
    delete = collection.delete_one if just_one else collection.delete_many
    result = yield DriverCall(delete, (filter_,), {"session": driver_session(session)})
    return int(result.deleted_count)


def configure_database(engine: BaseEngine[Any], models: Iterable[type[Model]],
                       update_existing_indexes: bool, session: Any) -> Steps[None]:
    raw_session = driver_session(session)
    for model in models:
        collection = engine.get_collection(model)
        existing = yield ReadAll(collection.list_indexes, (), {"session": raw_session})
        to_drop, to_create = index_plan(
            model, existing, update_existing_indexes=update_existing_indexes
        )
        for name in to_drop:
            yield DriverCall(collection.drop_index, (name,), {"session": raw_session})
        if to_create:
            yield DriverCall(collection.create_indexes, (to_create,), {"session": raw_session})


def check_transactions_supported(engine: BaseEngine[Any]) -> Steps[None]:
    if engine._hello is None:
        engine._hello = yield DriverCall(engine.client.admin.command, ("hello",))
    engine._raise_unless_transactions()
