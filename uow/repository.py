"""``Repository[T]`` and ``AsyncRepository[T]``: typed access to one model inside a unit.

A repository is bound to a unit of work: every method works in the unit's current
transaction and identity map. Subclass it for domain queries, which see the same
transaction::

    class TransferRepository(Repository[Transfer]):
        def by_account(self, account_id):
            return self.find(Transfer.source == account_id)

Queries flush the unit's pending changes first, and return the tracked object for any
document the unit already holds; ``track=False``, ``into=`` (a projection) and ``stream``
read without tracking (see :mod:`uow`).

A repository reaches its unit only through the unit's public seam, :class:`uow.core.UnitPort`
(``unit.core``, the unit's logic, and ``unit.drive(steps)``, its sync or async driver): a
repository of your own can do what these do. The :mod:`repositories` package is their
public face.
"""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from odm import Model, tracking
from odm.query_compiler import SortArg

if TYPE_CHECKING:
    from uow.core import UnitCore

ModelT = TypeVar("ModelT", bound=Model)
T = TypeVar("T")

DEFAULT_BATCH_SIZE = 1000
"""``stream``'s documents per server round trip (and the most an untracked stream holds)."""


def _model_argument(cls: type) -> type[Model] | None:
    """``T`` of ``class X(Repository[T])`` (through any number of subclasses)."""
    for base in getattr(cls, "__orig_bases__", ()):
        origin = typing.get_origin(base)
        if isinstance(origin, type) and issubclass(origin, BaseRepository):
            args = typing.get_args(base)
            if args and isinstance(args[0], type) and issubclass(args[0], Model):
                return args[0]
    return None


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


class BaseRepository(Generic[ModelT]):
    """What both twins share: the model, the unit, and the calls that need no I/O."""

    model: ClassVar[type[Model] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = _model_argument(cls)
        if declared is not None:
            cls.model = declared

    def __init__(self, unit: Any, model: type[ModelT] | None = None) -> None:
        chosen = model if model is not None else type(self).model
        if not (isinstance(chosen, type) and issubclass(chosen, Model)):
            raise TypeError(
                f"{type(self).__name__} needs a Model class: declare it as "
                f"{type(self).__name__}[MyModel] or pass model=, got {chosen!r}"
            )
        self.model_class: type[ModelT] = chosen  # type: ignore[assignment]
        self.unit = unit
        self._core: UnitCore = unit.core

    def __repr__(self) -> str:
        return f"{type(self).__name__}[{self.model_class.__name__}]"

    def _check(self, instance: Any, operation: str) -> ModelT:
        if not isinstance(instance, self.model_class):
            raise TypeError(
                f"{self!r}.{operation} expects {_article(self.model_class.__name__)} "
                f"{self.model_class.__name__}, "
                f"got {type(instance).__name__}"
            )
        return instance

    def _add(self, instances: Iterable[ModelT]) -> None:
        self._core.check_active()
        self._core.check_writable("add models")
        checked = [self._check(instance, "add") for instance in instances]
        for instance in checked:
            self._core.identity_map.add(instance)

    def _attach(self, instance: ModelT) -> None:
        self._check(instance, "attach")
        if tracking.is_new(instance):
            raise TypeError(
                f"{self!r}.attach expects {_article(self.model_class.__name__)} "
                f"{self.model_class.__name__} loaded from the "
                "database (it keeps the snapshot it was loaded with); use add() for a new one"
            )
        self._core.check_active()
        self._core.check_writable("attach models")
        self._core.identity_map.add(instance, new=False)

    def _remove(self, instance: ModelT) -> None:
        self._core.check_active()
        self._core.check_writable("remove models")
        self._core.identity_map.remove(self._check(instance, "remove"))


    def expunge(self, instance: ModelT) -> None:
        """Stop tracking ``instance`` (flushed already): the unit no longer holds it, so a
        long job reading in chunks keeps its memory bounded."""
        self._core.expunge([self._check(instance, "expunge")])


class Done:
    """An already finished call that may be awaited or not (the async twin's ``add``...)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


class Repository(BaseRepository[ModelT]):
    """The sync repository of ``ModelT`` (on a :class:`~uow.UnitOfWork`)."""

    def get(self, id: Any) -> ModelT:
        """The model with this id; :class:`~uow.NotFoundError` if there is none."""
        result: ModelT = self.unit.drive(self._core.get(self.model_class, id))
        return result

    def get_or_none(self, id: Any) -> ModelT | None:
        """The model with this id, or ``None``."""
        result: ModelT | None = self.unit.drive(self._core.get_or_none(self.model_class, id))
        return result

    def get_many(self, ids: Iterable[Any]) -> list[ModelT]:
        """The models of ``ids`` in that order; :class:`~uow.NotFoundError` for a missing one."""
        result: list[ModelT] = self.unit.drive(self._core.get_many(self.model_class, ids))
        return result

    @overload
    def find(
        self, *queries: Any, sort: SortArg = ..., skip: int = ..., limit: int | None = ...,
        track: bool = ..., into: None = ...,
    ) -> list[ModelT]: ...
    @overload
    def find(
        self, *queries: Any, sort: SortArg = ..., skip: int = ..., limit: int | None = ...,
        track: bool = ..., into: type[T],
    ) -> list[T]: ...
    @overload
    def find(
        self, *queries: Any, sort: SortArg = ..., skip: int = ..., limit: int | None = ...,
        track: bool = ..., into: Sequence[Any],
    ) -> list[dict[str, Any]]: ...

    def find(
        self, *queries: Any, sort: SortArg = None, skip: int = 0, limit: int | None = None,
        track: bool = True, into: Any = None,
    ) -> list[Any]:
        """Every model matching all ``queries`` (after flushing pending changes).

        ``track=False``: new models the unit does not track (changes to one are written
        only through ``attach``); ``into=``: a projection, untracked (a smaller model class,
        or a list of fields for plain dicts as stored)."""
        steps = self._core.find(self.model_class, queries, sort, skip, limit, track=track, into=into)
        result: list[Any] = self.unit.drive(steps)
        return result

    @overload
    def find_one(
        self, *queries: Any, sort: SortArg = ..., track: bool = ..., into: None = ...
    ) -> ModelT | None: ...
    @overload
    def find_one(
        self, *queries: Any, sort: SortArg = ..., track: bool = ..., into: type[T]
    ) -> T | None: ...
    @overload
    def find_one(
        self, *queries: Any, sort: SortArg = ..., track: bool = ..., into: Sequence[Any]
    ) -> dict[str, Any] | None: ...

    def find_one(
        self, *queries: Any, sort: SortArg = None, track: bool = True, into: Any = None
    ) -> Any:
        """The first match, or ``None`` (``track=`` and ``into=`` as in :meth:`find`)."""
        return self.unit.drive(
            self._core.find_one(self.model_class, queries, sort, track=track, into=into)
        )

    @overload
    def stream(
        self, *queries: Any, sort: SortArg = ..., skip: int = ..., limit: int | None = ...,
        batch_size: int = ..., track: bool = ..., into: None = ...,
    ) -> Iterator[ModelT]: ...
    @overload
    def stream(
        self, *queries: Any, sort: SortArg = ..., skip: int = ..., limit: int | None = ...,
        batch_size: int = ..., track: bool = ..., into: type[T],
    ) -> Iterator[T]: ...
    @overload
    def stream(
        self, *queries: Any, sort: SortArg = ..., skip: int = ..., limit: int | None = ...,
        batch_size: int = ..., track: bool = ..., into: Sequence[Any],
    ) -> Iterator[dict[str, Any]]: ...

    def stream(
        self, *queries: Any, sort: SortArg = None, skip: int = 0, limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE, track: bool = True, into: Any = None,
    ) -> Iterator[Any]:
        """The matches one by one, read from a server cursor ``batch_size`` at a time.

        Untracked (``track=False`` or ``into=``), memory stays bounded by the batch size;
        tracked, :meth:`expunge` (or ``uow.expunge_all()``) releases models once flushed."""
        core, drive = self._core, self.unit.drive
        opened = drive(core.open_stream(
            self.model_class, queries, sort, skip, limit, batch_size, track=track, into=into
        ))
        try:
            while batch := drive(core.next_batch(opened)):
                yield from batch
        finally:
            drive(core.close_stream(opened))

    def count(self, *queries: Any) -> int:
        """How many documents match (after flushing pending changes)."""
        result: int = self.unit.drive(self._core.count(self.model_class, queries))
        return result

    def add(self, instance: ModelT) -> None:
        """Track ``instance``: a new one is inserted at flush, a loaded one sends its changes."""
        self._add([instance])

    def add_all(self, instances: Iterable[ModelT]) -> None:
        """``add`` each of ``instances``."""
        self._add(instances)

    def attach(self, instance: ModelT) -> None:
        """Track a model loaded earlier (another unit, the engine): flush sends what changed
        since it was loaded, guarded by its version field when it has one."""
        self._attach(instance)

    def remove(self, instance: ModelT) -> None:
        """Delete ``instance``'s document at flush."""
        self._remove(instance)


class AsyncRepository(BaseRepository[ModelT]):
    """The async twin of :class:`Repository` (on an :class:`~uow.AsyncUnitOfWork`).

    Queries are awaited; ``add``/``add_all``/``attach``/``remove`` act at once and may be
    awaited or not.
    """

    async def get(self, id: Any) -> ModelT:
        """The model with this id; :class:`~uow.NotFoundError` if there is none."""
        result: ModelT = await self.unit.drive(self._core.get(self.model_class, id))
        return result

    async def get_or_none(self, id: Any) -> ModelT | None:
        """The model with this id, or ``None``."""
        result: ModelT | None = await self.unit.drive(
            self._core.get_or_none(self.model_class, id)
        )
        return result

    async def get_many(self, ids: Iterable[Any]) -> list[ModelT]:
        """The models of ``ids`` in that order; :class:`~uow.NotFoundError` for a missing one."""
        result: list[ModelT] = await self.unit.drive(self._core.get_many(self.model_class, ids))
        return result

    @overload
    async def find(
        self, *queries: Any, sort: SortArg = ..., skip: int = ..., limit: int | None = ...,
        track: bool = ..., into: None = ...,
    ) -> list[ModelT]: ...
    @overload
    async def find(
        self, *queries: Any, sort: SortArg = ..., skip: int = ..., limit: int | None = ...,
        track: bool = ..., into: type[T],
    ) -> list[T]: ...
    @overload
    async def find(
        self, *queries: Any, sort: SortArg = ..., skip: int = ..., limit: int | None = ...,
        track: bool = ..., into: Sequence[Any],
    ) -> list[dict[str, Any]]: ...

    async def find(
        self, *queries: Any, sort: SortArg = None, skip: int = 0, limit: int | None = None,
        track: bool = True, into: Any = None,
    ) -> list[Any]:
        """Every model matching all ``queries`` (after flushing pending changes).

        ``track=False``: new models the unit does not track (changes to one are written
        only through ``attach``); ``into=``: a projection, untracked (a smaller model class,
        or a list of fields for plain dicts as stored)."""
        steps = self._core.find(self.model_class, queries, sort, skip, limit, track=track, into=into)
        result: list[Any] = await self.unit.drive(steps)
        return result

    @overload
    async def find_one(
        self, *queries: Any, sort: SortArg = ..., track: bool = ..., into: None = ...
    ) -> ModelT | None: ...
    @overload
    async def find_one(
        self, *queries: Any, sort: SortArg = ..., track: bool = ..., into: type[T]
    ) -> T | None: ...
    @overload
    async def find_one(
        self, *queries: Any, sort: SortArg = ..., track: bool = ..., into: Sequence[Any]
    ) -> dict[str, Any] | None: ...

    async def find_one(
        self, *queries: Any, sort: SortArg = None, track: bool = True, into: Any = None
    ) -> Any:
        """The first match, or ``None`` (``track=`` and ``into=`` as in :meth:`find`)."""
        steps = self._core.find_one(self.model_class, queries, sort, track=track, into=into)
        return await self.unit.drive(steps)

    @overload
    def stream(
        self, *queries: Any, sort: SortArg = ..., skip: int = ..., limit: int | None = ...,
        batch_size: int = ..., track: bool = ..., into: None = ...,
    ) -> AsyncIterator[ModelT]: ...
    @overload
    def stream(
        self, *queries: Any, sort: SortArg = ..., skip: int = ..., limit: int | None = ...,
        batch_size: int = ..., track: bool = ..., into: type[T],
    ) -> AsyncIterator[T]: ...
    @overload
    def stream(
        self, *queries: Any, sort: SortArg = ..., skip: int = ..., limit: int | None = ...,
        batch_size: int = ..., track: bool = ..., into: Sequence[Any],
    ) -> AsyncIterator[dict[str, Any]]: ...

    async def stream(
        self, *queries: Any, sort: SortArg = None, skip: int = 0, limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE, track: bool = True, into: Any = None,
    ) -> AsyncIterator[Any]:
        """``async for`` form of :meth:`Repository.stream`."""
        core, drive = self._core, self.unit.drive
        opened = await drive(core.open_stream(
            self.model_class, queries, sort, skip, limit, batch_size, track=track, into=into
        ))
        try:
            while batch := await drive(core.next_batch(opened)):
                for item in batch:
                    yield item
        finally:
            await drive(core.close_stream(opened))

    async def count(self, *queries: Any) -> int:
        """How many documents match (after flushing pending changes)."""
        result: int = await self.unit.drive(self._core.count(self.model_class, queries))
        return result

    def add(self, instance: ModelT) -> Done:
        """Track ``instance``: a new one is inserted at flush, a loaded one sends its changes."""
        self._add([instance])
        return Done()

    def add_all(self, instances: Iterable[ModelT]) -> Done:
        """``add`` each of ``instances``."""
        self._add(instances)
        return Done()

    def attach(self, instance: ModelT) -> Done:
        """Track a model loaded earlier (another unit, the engine): flush sends what changed
        since it was loaded, guarded by its version field when it has one."""
        self._attach(instance)
        return Done()

    def remove(self, instance: ModelT) -> Done:
        """Delete ``instance``'s document at flush."""
        self._remove(instance)
        return Done()


__all__ = ["AsyncRepository", "BaseRepository", "Done", "Repository"]
