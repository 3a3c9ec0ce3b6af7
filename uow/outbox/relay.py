"""``Relay`` (sync) and ``AsyncRelay``: thin drivers running :mod:`uow.outbox.delivery`."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, Literal

from odm import AIOEngine, SyncEngine
from uow.effects import Steps, drive_async, drive_sync
from uow.outbox.delivery import DeliveryCore, Publisher, RelaySettings
from uow.outbox.records import DEFAULT_COLLECTION, EventRegistry, OutboxEvent, default_registry


class _BaseRelay:
    """Settings and counters shared by both twins (no I/O)."""

    _engine_class: type[Any] = object

    def __init__(
        self,
        engine: Any,
        publisher: Publisher,
        *,
        outbox: str = DEFAULT_COLLECTION,
        registry: EventRegistry | None = None,
        name: str = "relay",
        lease_seconds: float = 30.0,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        poll_interval: float = 1.0,
        batch_size: int = 100,
        follow: Literal["auto", "stream", "poll"] = "auto",
    ) -> None:
        if not isinstance(engine, self._engine_class):
            raise TypeError(
                f"{type(self).__name__} needs an odm.{self._engine_class.__name__}, got "
                f"{type(engine).__name__}"
            )
        self.engine = engine
        settings = RelaySettings(
            outbox=outbox, name=name, lease_seconds=lease_seconds, max_attempts=max_attempts,
            backoff=backoff, max_backoff=max_backoff, poll_interval=poll_interval,
            batch_size=batch_size, follow=follow,
        )
        self._core = DeliveryCore(publisher, settings, registry or default_registry)

    @property
    def owner(self) -> str:
        """This relay's name in the leases it takes (name, host, pid, a random part)."""
        return self._core.owner

    @property
    def delivered(self) -> int:
        """Events this relay delivered so far."""
        return self._core.delivered

    @property
    def failures(self) -> int:
        """Failed publishes so far (each retried later, or parked)."""
        return self._core.failures

    @property
    def leases_lost(self) -> int:
        """Publishes this relay did not mark: its lease lapsed and another relay took it."""
        return self._core.leases_lost

    @property
    def following(self) -> str:
        """``"stream"``, ``"poll"``, or ``"unknown"`` before the first wait."""
        streaming = self._core.streaming
        return "unknown" if streaming is None else "stream" if streaming else "poll"

    def stop(self) -> None:
        """Ask :meth:`run` to return (after the current pass, within ``poll_interval``)."""
        self._core.stopping = True


class Relay(_BaseRelay):
    """Delivers an outbox's events to ``publisher(event)`` at least once, per aggregate in
    commit order, on an ``odm.SyncEngine`` (see :mod:`uow.outbox`)."""

    _engine_class = SyncEngine

    def __init__(self, engine: SyncEngine, publisher: Publisher, **settings: Any) -> None:
        if inspect.iscoroutinefunction(publisher):
            raise TypeError("a coroutine function publishes through AsyncRelay, not Relay")
        super().__init__(engine, publisher, **settings)

    def _drive(self, steps: Steps) -> Any:
        return drive_sync(steps, self.engine)

    def run_once(self) -> int:
        """Deliver what is due now (one pass); returns how many were delivered."""
        result: int = self._drive(self._core.deliver_ready())
        return result

    def drain(self, timeout: float = 10.0) -> int:
        """Deliver until nothing is pending, or ``timeout`` seconds; returns how many."""
        result: int = self._drive(self._core.drain(timeout))
        return result

    def wait(self) -> None:
        """Block until something may be due: a change on the outbox (change stream), or
        ``poll_interval`` seconds (for a loop of one's own around :meth:`run_once`)."""
        self._drive(self._core.wait())

    def run(self) -> None:
        """Deliver and follow the outbox until :meth:`stop` (a thread's target)."""
        self._core.stopping = False
        self._drive(self._core.run())

    def parked(self) -> list[OutboxEvent]:
        """The parked events, with their ``last_error`` and ``attempts``."""
        result: list[OutboxEvent] = self._drive(self._core.events("parked"))
        return result

    def replay(self, event_ids: Iterable[str] = ()) -> int:
        """Parked events (those of ``event_ids``, or all) back to pending; how many."""
        result: int = self._drive(self._core.replay(event_ids))
        return result

    def counts(self) -> dict[str, int]:
        """The outbox's events by state (pending, delivered, parked)."""
        result: dict[str, int] = self._drive(self._core.counts())
        return result

    def close(self) -> None:
        """Close the change stream (``run`` does it when it returns)."""
        self._drive(self._core.close())


class AsyncRelay(_BaseRelay):
    """:class:`Relay` on an ``odm.AIOEngine``; the publisher may be a coroutine function."""

    _engine_class = AIOEngine

    async def _drive(self, steps: Steps) -> Any:
        return await drive_async(steps, self.engine)

    async def run_once(self) -> int:
        result: int = await self._drive(self._core.deliver_ready())
        return result

    async def drain(self, timeout: float = 10.0) -> int:
        result: int = await self._drive(self._core.drain(timeout))
        return result

    async def wait(self) -> None:
        await self._drive(self._core.wait())

    async def run(self) -> None:
        """Deliver until :meth:`stop` or cancellation (a lifespan task)."""
        self._core.stopping = False
        await self._drive(self._core.run())

    async def parked(self) -> list[OutboxEvent]:
        result: list[OutboxEvent] = await self._drive(self._core.events("parked"))
        return result

    async def replay(self, event_ids: Iterable[str] = ()) -> int:
        result: int = await self._drive(self._core.replay(event_ids))
        return result

    async def counts(self) -> dict[str, int]:
        result: dict[str, int] = await self._drive(self._core.counts())
        return result

    async def close(self) -> None:
        await self._drive(self._core.close())


__all__ = ["AsyncRelay", "Relay"]
