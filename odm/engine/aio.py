"""``AIOEngine``: the asynchronous shell (PyMongo's ``AsyncMongoClient``, or Motor: the
``motor`` extra)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pymongo import AsyncMongoClient
from pymongo.errors import InvalidOperation, PyMongoError

from odm import client_writes, commands
from odm.engine.base import (
    BaseEngine,
    after_delete,
    after_save,
    driver_session,
    is_motor_client,
    maybe_await,
    wrong_client,
)
from odm.ids import primary_key_filter
from odm.model import Model

if TYPE_CHECKING:
    from odm.engine.session import AIOSession, AIOTransaction

ModelT = TypeVar("ModelT", bound=Model)


class AIOCursor(Generic[ModelT]):
    """The result of ``AIOEngine.find``: ``await`` it for a list, or ``async for`` over it."""

    def __init__(self, request: commands.FindRequest[ModelT], collection: Any, session: Any) -> None:
        self._request = request
        self._collection = collection
        self._session = session

    async def _open(self) -> Any:
        request = self._request
        if request.pipeline is not None:
            return await maybe_await(
                self._collection.aggregate(request.pipeline, session=self._session)
            )
        return self._collection.find(request.filter, session=self._session, **request.find_kwargs())

    async def _to_list(self) -> list[ModelT]:
        cursor = await self._open()
        documents = await cursor.to_list(None)
        return commands.instances_from_documents(self._request.model, documents)

    def __await__(self) -> Generator[Any, None, list[ModelT]]:
        return self._to_list().__await__()

    async def _iterate(self) -> AsyncIterator[ModelT]:
        cursor = await self._open()
        try:
            async for raw in cursor:
                yield commands.instance_from_document(self._request.model, raw)
        finally:
            await maybe_await(cursor.close())

    def __aiter__(self) -> AsyncIterator[ModelT]:
        return self._iterate()


class AIOEngine(BaseEngine[Any]):
    """Save and query models asynchronously.

    >>> from pymongo import AsyncMongoClient
    >>> from odm import AIOEngine, Model
    >>> class Player(Model):
    ...     name: str
    >>> engine = AIOEngine(AsyncMongoClient("mongodb://localhost:27017"), database="game")
    >>> async def demo() -> None:
    ...     await engine.save(Player(name="Leeroy"))
    ...     players = await engine.find(Player, Player.name == "Leeroy")
    ...     async with engine.transaction() as transaction:
    ...         await engine.save(Player(name="Jenkins"), session=transaction)
    """

    def __init__(self, client: Any = None, database: str = "test") -> None:
        if client is not None and not (
            isinstance(client, AsyncMongoClient) or is_motor_client(client)
        ):
            raise wrong_client("AIOEngine", client)
        super().__init__(client if client is not None else AsyncMongoClient(), database)

    def session(self) -> AIOSession:
        """A session to pass as ``session=`` (``async with engine.session() as s``)."""
        from odm.engine.session import AIOSession

        return AIOSession(self)

    def transaction(self) -> AIOTransaction:
        """A transaction: commits when its block ends cleanly, aborts when it raises."""
        from odm.engine.session import AIOTransaction

        return AIOTransaction(self)

    def find(
        self,
        model: type[ModelT],
        *queries: Any,
        sort: commands.SortArg = None,
        skip: int = 0,
        limit: int | None = None,
        session: Any = None,
    ) -> AIOCursor[ModelT]:
        """Instances of ``model`` matching every query (``await`` or ``async for``)."""
        request = commands.find_request(model, queries, sort=sort, skip=skip, limit=limit)
        return AIOCursor(request, self.get_collection(model), driver_session(session))

    async def find_one(
        self, model: type[ModelT], *queries: Any, sort: commands.SortArg = None, session: Any = None
    ) -> ModelT | None:
        """The first matching instance, or ``None``."""
        found = await self.find(model, *queries, sort=sort, limit=1, session=session)
        return found[0] if found else None

    async def count(self, model: type[ModelT], *queries: Any, session: Any = None) -> int:
        """How many documents of ``model`` match every query."""
        commands.check_model_class(model, "count")
        filter_ = primary_key_filter(model, commands.compile_filter(queries))
        collection = self.get_collection(model)
        return int(await collection.count_documents(filter_, session=driver_session(session)))

    async def save(self, instance: ModelT, *, session: Any = None) -> ModelT:
        """Insert or update ``instance`` (only its changes) and the models it references."""
        await self.save_all([instance], session=session)
        return instance

    async def save_all(self, instances: Iterable[ModelT], *, session: Any = None) -> list[ModelT]:
        """Save many instances: one write (a ``bulk_write`` or a plain call) per collection."""
        instances = list(instances)
        groups = commands.save_operations(instances)
        if len(groups) > 1 and self.client_bulk_write_supported() is not False \
                and await self._write_all(groups, session):
            return instances  # MongoDB 8.0: one command for every collection
        for collection, operations in groups:
            await self._write(collection, operations, session)
        return instances

    async def _write_all(
        self, groups: Sequence[tuple[str, Sequence[commands.SaveOperation]]], session: Any
    ) -> bool:
        """One ``client.bulk_write`` of every group; False (nothing sent) when the server
        turned out older than 8.0."""
        models, operations = client_writes.requests(
            groups, self.database_name, self._codec_options
        )
        try:
            await self.client.bulk_write(models, ordered=True, session=driver_session(session))
        except InvalidOperation:
            if self.client_bulk_write_supported() is False:  # refused before sending
                return False
            raise
        except PyMongoError as error:
            raise client_writes.translate_error(error, operations) from error
        after_save(operations, session)
        return True

    async def _write(
        self, collection: str, operations: Sequence[commands.SaveOperation], session: Any
    ) -> None:
        method, arguments, keywords = commands.write_call(operations)
        write = getattr(self._collection(collection), method)
        try:
            await write(*arguments, session=driver_session(session), **keywords)
        except PyMongoError as error:
            raise commands.translate_write_error(error, operations) from error
        after_save(operations, session)

    async def delete(self, instance: ModelT, *, session: Any = None) -> None:
        """Delete ``instance``'s document; :class:`DocumentNotFoundError` if it is missing."""
        filter_ = commands.delete_filter(instance)
        collection = self.get_collection(type(instance))
        result = await collection.delete_one(filter_, session=driver_session(session))
        after_delete(instance, result.deleted_count)

    async def remove(
        self, model: type[ModelT], *queries: Any, just_one: bool = False, session: Any = None
    ) -> int:
        """Delete the matching documents (the first one with ``just_one``); returns the count."""
        commands.check_model_class(model, "remove")
        filter_ = commands.compile_filter(queries)
        collection = self.get_collection(model)
        delete = collection.delete_one if just_one else collection.delete_many
        result = await delete(filter_, session=driver_session(session))
        return int(result.deleted_count)

    async def configure_database(
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
            cursor = await maybe_await(collection.list_indexes(session=raw_session))
            to_drop, to_create = commands.index_plan(
                model, await cursor.to_list(None), update_existing_indexes=update_existing_indexes
            )
            for name in to_drop:
                await collection.drop_index(name, session=raw_session)
            if to_create:
                await collection.create_indexes(to_create, session=raw_session)

    async def check_transactions_supported(self) -> None:
        """Raise :class:`TransactionsNotSupportedError` on a standalone server."""
        if self._hello is None:
            self._hello = await self.client.admin.command("hello")
        self._raise_unless_transactions()
