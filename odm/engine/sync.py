"""``SyncEngine``: the synchronous shell (PyMongo's ``MongoClient``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pymongo import MongoClient
from pymongo.errors import InvalidOperation, PyMongoError

from odm import client_writes, commands
from odm.engine.base import BaseEngine, after_delete, after_save, driver_session, wrong_client
from odm.ids import primary_key_filter
from odm.model import Model

if TYPE_CHECKING:
    from odm.engine.session import SyncSession, SyncTransaction

ModelT = TypeVar("ModelT", bound=Model)


class SyncCursor(Generic[ModelT]):
    """The result of ``SyncEngine.find``: iterate over it (``list(engine.find(...))``)."""

    def __init__(self, request: commands.FindRequest[ModelT], collection: Any, session: Any) -> None:
        self._request = request
        self._collection = collection
        self._session = session

    def _open(self) -> Any:
        request = self._request
        if request.pipeline is not None:
            return self._collection.aggregate(request.pipeline, session=self._session)
        return self._collection.find(request.filter, session=self._session, **request.find_kwargs())

    def to_list(self) -> list[ModelT]:
        """Every result at once (fastest: one parsing pass)."""
        with self._open() as cursor:
            return commands.instances_from_documents(self._request.model, cursor)

    def __iter__(self) -> Iterator[ModelT]:
        with self._open() as cursor:
            yield from commands.iter_instances(self._request.model, cursor)


class SyncEngine(BaseEngine[Any]):
    """Save and query models synchronously.

    >>> from pymongo import MongoClient
    >>> from odm import SyncEngine, Model
    >>> class Player(Model):
    ...     name: str
    >>> engine = SyncEngine(MongoClient("mongodb://localhost:27017"), database="game")
    >>> def demo() -> None:
    ...     engine.save(Player(name="Leeroy"))
    ...     players = list(engine.find(Player, Player.name == "Leeroy"))
    ...     with engine.transaction() as transaction:
    ...         engine.save(Player(name="Jenkins"), session=transaction)
    """

    def __init__(self, client: Any = None, database: str = "test") -> None:
        if client is not None and not isinstance(client, MongoClient):
            raise wrong_client("SyncEngine", client)
        super().__init__(client if client is not None else MongoClient(), database)

    def session(self) -> SyncSession:
        """A session to pass as ``session=`` (``with engine.session() as s``)."""
        from odm.engine.session import SyncSession

        return SyncSession(self)

    def transaction(self) -> SyncTransaction:
        """A transaction: commits when its block ends cleanly, aborts when it raises."""
        from odm.engine.session import SyncTransaction

        return SyncTransaction(self)

    def find(
        self,
        model: type[ModelT],
        *queries: Any,
        sort: commands.SortArg = None,
        skip: int = 0,
        limit: int | None = None,
        session: Any = None,
    ) -> SyncCursor[ModelT]:
        """Instances of ``model`` matching every query (an iterable cursor)."""
        request = commands.find_request(model, queries, sort=sort, skip=skip, limit=limit)
        return SyncCursor(request, self.get_collection(model), driver_session(session))

    def find_one(
        self, model: type[ModelT], *queries: Any, sort: commands.SortArg = None, session: Any = None
    ) -> ModelT | None:
        """The first matching instance, or ``None``."""
        found = self.find(model, *queries, sort=sort, limit=1, session=session).to_list()
        return found[0] if found else None

    def count(self, model: type[ModelT], *queries: Any, session: Any = None) -> int:
        """How many documents of ``model`` match every query."""
        commands.check_model_class(model, "count")
        filter_ = primary_key_filter(model, commands.compile_filter(queries))
        collection = self.get_collection(model)
        return int(collection.count_documents(filter_, session=driver_session(session)))

    def save(self, instance: ModelT, *, session: Any = None) -> ModelT:
        """Insert or update ``instance`` (only its changes) and the models it references."""
        self.save_all([instance], session=session)
        return instance

    def save_all(self, instances: Iterable[ModelT], *, session: Any = None) -> list[ModelT]:
        """Save many instances: one write (a ``bulk_write`` or a plain call) per collection."""
        instances = list(instances)
        groups = commands.save_operations(instances)
        if len(groups) > 1 and self.client_bulk_write_supported() is not False \
                and self._write_all(groups, session):
            return instances  # MongoDB 8.0: one command for every collection
        for collection, operations in groups:
            self._write(collection, operations, session)
        return instances

    def _write_all(
        self, groups: Sequence[tuple[str, Sequence[commands.SaveOperation]]], session: Any
    ) -> bool:
        """One ``client.bulk_write`` of every group; False (nothing sent) when the server
        turned out older than 8.0."""
        models, operations = client_writes.requests(
            groups, self.database_name, self._codec_options
        )
        try:
            self.client.bulk_write(models, ordered=True, session=driver_session(session))
        except InvalidOperation:
            if self.client_bulk_write_supported() is False:  # refused before sending
                return False
            raise
        except PyMongoError as error:
            raise client_writes.translate_error(error, operations) from error
        after_save(operations, session)
        return True

    def _write(
        self, collection: str, operations: Sequence[commands.SaveOperation], session: Any
    ) -> None:
        method, arguments, keywords = commands.write_call(operations)
        write = getattr(self._collection(collection), method)
        try:
            write(*arguments, session=driver_session(session), **keywords)
        except PyMongoError as error:
            raise commands.translate_write_error(error, operations) from error
        after_save(operations, session)

    def delete(self, instance: ModelT, *, session: Any = None) -> None:
        """Delete ``instance``'s document; :class:`DocumentNotFoundError` if it is missing."""
        filter_ = commands.delete_filter(instance)
        collection = self.get_collection(type(instance))
        result = collection.delete_one(filter_, session=driver_session(session))
        after_delete(instance, result.deleted_count)

    def remove(
        self, model: type[ModelT], *queries: Any, just_one: bool = False, session: Any = None
    ) -> int:
        """Delete the matching documents (the first one with ``just_one``); returns the count."""
        commands.check_model_class(model, "remove")
        filter_ = commands.compile_filter(queries)
        collection = self.get_collection(model)
        delete = collection.delete_one if just_one else collection.delete_many
        return int(delete(filter_, session=driver_session(session)).deleted_count)

    def configure_database(
        self,
        models: Iterable[type[Model]],
        *,
        update_existing_indexes: bool = False,
        session: Any = None,
    ) -> None:
        """Create the indexes every model declares.

        An existing index with the same name or keys but other options raises
        :class:`IndexConflictError`, unless ``update_existing_indexes`` replaces it.
        """
        raw_session = driver_session(session)
        for model in models:
            collection = self.get_collection(model)
            existing = list(collection.list_indexes(session=raw_session))
            to_drop, to_create = commands.index_plan(
                model, existing, update_existing_indexes=update_existing_indexes
            )
            for name in to_drop:
                collection.drop_index(name, session=raw_session)
            if to_create:
                collection.create_indexes(to_create, session=raw_session)

    def check_transactions_supported(self) -> None:
        """Raise :class:`TransactionsNotSupportedError` on a standalone server."""
        if self._hello is None:
            self._hello = self.client.admin.command("hello")
        self._raise_unless_transactions()
