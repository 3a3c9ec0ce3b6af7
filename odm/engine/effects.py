"""The I/O odm (and the unit of work built on it) asks for, and the two drivers running it.

Logic that does I/O is written once, as generators that *yield* these effects and receive
their results (:data:`Steps`); :func:`drive_sync` runs each effect with the sync driver,
:func:`drive_async` awaits it with the async one. Each effect is one driver call, nothing
more; ``engine`` is an ``odm.SyncEngine`` or an ``odm.AIOEngine``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")


async def maybe_await(value: Any) -> Any:
    """PyMongo's async API and Motor differ on which calls are coroutines; accept both."""
    if inspect.isawaitable(value):
        return await value
    return value


class Effect:
    """One I/O step."""

    def run_sync(self, engine: Any) -> Any:
        raise NotImplementedError

    async def run_async(self, engine: Any) -> Any:
        raise NotImplementedError


Steps = Generator[Effect, Any, T]
"""A piece of logic: yields effects, receives their results, returns a ``T``."""


def drive_sync(steps: Steps[T], engine: Any) -> T:
    """Run ``steps`` to the end, each effect with the sync driver; return their result."""
    send: Callable[[Any], Effect] = steps.send
    try:
        effect = next(steps)
        while True:
            try:
                value = effect.run_sync(engine)
            except BaseException as error:
                effect = steps.throw(error)
            else:
                effect = send(value)
    except StopIteration as stop:
        result: T = stop.value
        return result


async def drive_async(steps: Steps[T], engine: Any) -> T:
    """Run ``steps`` to the end, awaiting each effect with the async driver."""
    send: Callable[[Any], Effect] = steps.send
    try:
        effect = next(steps)
        while True:
            try:
                value = await effect.run_async(engine)
            except BaseException as error:
                effect = steps.throw(error)
            else:
                effect = send(value)
    except StopIteration as stop:
        result: T = stop.value
        return result


class Stepper:
    """Drives :data:`Steps` one effect at a time: ``effect`` is what to run next; report its
    outcome with ``succeed`` / ``fail``; when ``effect`` is ``None`` the steps returned
    ``result``. (For drivers that interleave other work between effects.)"""

    def __init__(self, steps: Steps[Any]) -> None:
        self._steps = steps
        self.effect: Effect | None = None
        self.result: Any = None
        self._advance(lambda: next(steps))

    def _advance(self, resume: Callable[[], Effect]) -> None:
        try:
            self.effect = resume()
        except StopIteration as stop:
            self.effect, self.result = None, stop.value

    def succeed(self, value: Any) -> None:
        self._advance(lambda: self._steps.send(value))

    def fail(self, error: BaseException) -> None:
        self._advance(lambda: self._steps.throw(error))


# ---------------------------------------------------------------- driver calls


@dataclass(frozen=True, slots=True)
class DriverCall(Effect):
    """``function(*args, **kwargs)``: a driver method (awaited when it is a coroutine)."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def run_sync(self, engine: Any) -> Any:
        return self.function(*self.args, **self.kwargs)

    async def run_async(self, engine: Any) -> Any:
        return await maybe_await(self.function(*self.args, **self.kwargs))


@dataclass(frozen=True, slots=True)
class ReadAll(Effect):
    """Every document of the cursor ``function(*args, **kwargs)`` opens."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def run_sync(self, engine: Any) -> list[Any]:
        return list(self.function(*self.args, **self.kwargs))

    async def run_async(self, engine: Any) -> list[Any]:
        cursor = await maybe_await(self.function(*self.args, **self.kwargs))
        return list(await cursor.to_list(None))


# ---------------------------------------------------------------- sessions and transactions


@dataclass(frozen=True)
class CheckTransactions(Effect):
    """Refuse a server that cannot run transactions (``TransactionsNotSupportedError``)."""

    def run_sync(self, engine: Any) -> None:
        engine.check_transactions_supported()

    async def run_async(self, engine: Any) -> None:
        await engine.check_transactions_supported()


@dataclass(frozen=True)
class StartSession(Effect):
    """A driver session; ``snapshot=True``: every read sees the point in time of the first."""

    snapshot: bool = False

    def run_sync(self, engine: Any) -> Any:
        if self.snapshot:
            return engine.client.start_session(snapshot=True)
        return engine.client.start_session()

    async def run_async(self, engine: Any) -> Any:
        if self.snapshot:
            return await maybe_await(engine.client.start_session(snapshot=True))
        return await maybe_await(engine.client.start_session())


@dataclass(frozen=True)
class _SessionCall(Effect):
    """One call of a driver session's method, named by the subclass."""

    session: Any
    method: ClassVar[str] = ""

    def run_sync(self, engine: Any) -> None:
        getattr(self.session, self.method)()

    async def run_async(self, engine: Any) -> None:
        await maybe_await(getattr(self.session, self.method)())


class StartTransaction(_SessionCall):
    method = "start_transaction"


class Commit(_SessionCall):
    method = "commit_transaction"


class Abort(_SessionCall):
    method = "abort_transaction"


class EndSession(_SessionCall):
    method = "end_session"


__all__ = [
    "Abort",
    "CheckTransactions",
    "Commit",
    "DriverCall",
    "Effect",
    "EndSession",
    "ReadAll",
    "StartSession",
    "StartTransaction",
    "Stepper",
    "Steps",
    "drive_async",
    "drive_sync",
    "maybe_await",
]
