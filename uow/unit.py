"""``UnitOfWork`` (sync) and ``AsyncUnitOfWork``: thin shells running :mod:`uow.core`.

Each shell only says how to run an effect (call it, or await it); the logic lives once in
:class:`~uow.core.UnitCore`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar, Concatenate, ParamSpec, Self, TypeVar

from odm import AIOEngine, Model, SyncEngine
from uow import declarations
from uow.core import Status, UnitCore
from uow.effects import Steps, drive_async, drive_sync
from uow.errors import UnknownRepositoryError
from uow.events import Handler, HandlerRegistry
from uow.outbox.records import Outbox, as_outbox
from uow.repository import AsyncRepository, BaseRepository, Repository
from uow.retry import DEFAULT_BUDGET

P = ParamSpec("P")
R = TypeVar("R")
ModelT = TypeVar("ModelT", bound=Model)

Handlers = Mapping[type, Handler | Sequence[Handler]]


class BaseUnitOfWork:
    """Repositories, handlers and state, shared by both twins (no I/O)."""

    _repository_flavour: ClassVar[type[BaseRepository[Any]]] = BaseRepository
    _engine_class: ClassVar[type[Any]] = object
    _twin: ClassVar[tuple[str, str]] = ("", "")  # (the other unit class, its engine class)

    def __init__(
        self,
        engine: Any,
        *,
        repositories: Mapping[str, Any] | None = None,
        handlers: Handlers | None = None,
        retry_budget: float = DEFAULT_BUDGET,
        read_only: bool = False,
        outbox: Outbox | str | bool | None = None,
    ) -> None:
        flavour = type(self)._repository_flavour
        _check_engine(type(self), engine)
        self.engine = engine
        self._core = UnitCore(
            self,
            engine,
            HandlerRegistry(handlers),
            retry_budget,
            read_only=bool(read_only),
            outbox=as_outbox(outbox),
        )
        specs = declarations.declared(type(self), flavour)
        specs.update(declarations.registered(repositories, flavour))
        self._repositories: dict[str, BaseRepository[Any]] = {}
        self._by_model: dict[type[Model], BaseRepository[Any]] = {}
        for name, (repository_class, model) in specs.items():
            repository = repository_class(self, model)
            self._repositories[name] = repository
            self._by_model.setdefault(model, repository)
            setattr(self, name, repository)

    def __getattr__(self, name: str) -> Any:
        # Only reached for missing attributes: an undeclared repository.
        if name.startswith("_"):
            raise AttributeError(name)
        known = ", ".join(sorted(self.__dict__.get("_repositories", {}))) or "none"
        raise UnknownRepositoryError(
            f"{type(self).__name__} has no repository {name!r} (known: {known}); declare it "
            f"as an annotation (`{name}: Repository[MyModel]`) or pass repositories="
        )

    @property
    def core(self) -> UnitCore:
        """The unit's state and logic, written once for both twins; with :meth:`drive`, the
        public seam repositories use (:class:`~uow.core.UnitPort`)."""
        return self._core

    @property
    def is_active(self) -> bool:
        """True inside the unit's block."""
        return self._core.status is Status.ACTIVE

    @property
    def read_only(self) -> bool:
        """True for a unit opened with ``read_only=True``: one snapshot, no writes."""
        return self._core.read_only

    def expunge_all(self) -> None:
        """Stop tracking every model (each flushed already): a long job's memory is freed."""
        self._core.expunge_all()

    @property
    def outbox(self) -> Outbox | None:
        """Where the unit stores its events before each commit (``None``: no outbox)."""
        return self._core.outbox

    @property
    def repositories(self) -> dict[str, BaseRepository[Any]]:
        """The unit's repositories by name."""
        return dict(self._repositories)

    def repository(self, model: type[ModelT]) -> Any:
        """The repository of ``model``; :class:`UnknownRepositoryError` if the unit has none."""
        repository = self._by_model.get(model)
        if repository is None:
            known = ", ".join(m.__name__ for m in self._by_model) or "none"
            raise UnknownRepositoryError(
                f"{type(self).__name__} has no repository for {getattr(model, '__name__', model)!r}"
                f" (it knows: {known})"
            )
        return repository

    def on(self, event_type: type, handler: Handler) -> None:
        """Call ``handler(event)`` for each ``event_type`` event after a successful commit."""
        self._core.handlers.add(event_type, handler)

    def close(self) -> None:
        """Refuse any later use (outside a block)."""
        self._core.close()

    def __repr__(self) -> str:
        mode = ", read-only" if self._core.read_only else ""
        tracked = len(self._core.identity_map)
        return f"{type(self).__name__}({self._core.status.value}{mode}, {tracked} tracked)"


def _check_engine(unit_class: type[BaseUnitOfWork], engine: Any) -> None:
    """A sync unit on a SyncEngine, an async one on an AIOEngine: said at construction,
    not later as a never-awaited coroutine."""
    wanted = unit_class._engine_class
    if isinstance(engine, wanted):
        return
    base = next(c for c in unit_class.__mro__ if c in (UnitOfWork, AsyncUnitOfWork))
    other_unit, other_engine = base._twin
    hint = (
        f"; an odm.{other_engine} goes with {other_unit}"
        if type(engine).__name__ == other_engine
        else ""
    )
    raise TypeError(
        f"{unit_class.__name__} needs an odm.{wanted.__name__}, got "
        f"{type(engine).__name__}{hint}"
    )


class UnitOfWork(BaseUnitOfWork):
    """A unit of work on an ``odm.SyncEngine``: ``with uow:`` is one transaction."""

    _repository_flavour = Repository
    _engine_class = SyncEngine
    _twin = ("AsyncUnitOfWork", "AIOEngine")

    def drive(self, steps: Steps) -> Any:
        """Run ``steps`` (a generator of :mod:`uow.core`) with the sync engine: the seam
        repositories use (see :class:`~uow.core.UnitPort`)."""
        return drive_sync(steps, self.engine)

    def __enter__(self) -> Self:
        self.drive(self._core.enter())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.drive(self._core.exit(exc))

    def flush(self) -> None:
        """Send pending changes now (queries and commits do it on their own)."""
        self.drive(self._core.flush())

    def commit(self) -> None:
        """Flush and commit now; the block continues in a new transaction."""
        self.drive(self._core.commit())

    def rollback(self) -> None:
        """Abort now and detach every model; the block continues in a new transaction."""
        self.drive(self._core.rollback())

    def run(
        self, function: Callable[Concatenate[Self, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """``function(self, *args, **kwargs)`` in a fresh transaction, retried like
        ``ClientSession.with_transaction``; returns its result."""
        result: R = self.drive(self._core.run(function, args, kwargs))
        return result

    def transactional(self, function: Callable[Concatenate[Self, P], R]) -> Callable[P, R]:
        """Decorator form of :meth:`run`: ``transfer_tx(src, dst, amount)``."""

        @functools.wraps(function)
        def run_in_unit(*args: P.args, **kwargs: P.kwargs) -> R:
            return self.run(function, *args, **kwargs)

        return run_in_unit


class AsyncUnitOfWork(BaseUnitOfWork):
    """A unit of work on an ``odm.AIOEngine``: ``async with uow:`` is one transaction."""

    _repository_flavour = AsyncRepository
    _engine_class = AIOEngine
    _twin = ("UnitOfWork", "SyncEngine")

    async def drive(self, steps: Steps) -> Any:
        """Run ``steps`` (a generator of :mod:`uow.core`) with the async engine: the seam
        repositories use (see :class:`~uow.core.UnitPort`)."""
        return await drive_async(steps, self.engine)

    async def __aenter__(self) -> Self:
        await self.drive(self._core.enter())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.drive(self._core.exit(exc))

    async def flush(self) -> None:
        """Send pending changes now (queries and commits do it on their own)."""
        await self.drive(self._core.flush())

    async def commit(self) -> None:
        """Flush and commit now; the block continues in a new transaction."""
        await self.drive(self._core.commit())

    async def rollback(self) -> None:
        """Abort now and detach every model; the block continues in a new transaction."""
        await self.drive(self._core.rollback())

    async def run(
        self,
        function: Callable[Concatenate[Self, P], Awaitable[R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """``await function(self, *args, **kwargs)`` in a fresh transaction, with retries."""
        result: R = await self.drive(self._core.run(function, args, kwargs))
        return result

    def transactional(
        self, function: Callable[Concatenate[Self, P], Awaitable[R]]
    ) -> Callable[P, Awaitable[R]]:
        """Decorator form of :meth:`run`."""

        @functools.wraps(function)
        async def run_in_unit(*args: P.args, **kwargs: P.kwargs) -> R:
            return await self.run(function, *args, **kwargs)

        return run_in_unit


__all__ = ["AsyncUnitOfWork", "BaseUnitOfWork", "UnitOfWork"]
