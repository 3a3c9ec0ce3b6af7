"""``maxTimeMS``: a command's time budget, checked while it works (50 MaxTimeMSExpired).

A cursor's budget covers the command that opened it and every getMore after it, as on
mongod: only the time spent producing documents counts, not the time the client waits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from mongolet.errors import MongoError

T = TypeVar("T")
_INT32_MAX = 2**31 - 1


def expired() -> MongoError:
    return MongoError(50, "operation exceeded time limit")


def budget(body: Mapping[str, Any]) -> float | None:
    """The command's ``maxTimeMS`` in seconds (None: no limit); BadValue when malformed."""
    value = body.get("maxTimeMS")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or (isinstance(value, float) and not value.is_integer()) \
            or not 0 <= value <= _INT32_MAX:
        raise MongoError(2, f"{value} value for maxTimeMS is out of range "
                            f"[0, {_INT32_MAX}]")
    return value / 1000.0 if value else None


class Budget:
    """The time a command (and its cursor's getMores) may still spend working."""

    __slots__ = ("seconds", "since", "spent")

    def __init__(self, seconds: float | None, started: float | None = None) -> None:
        self.seconds = seconds
        self.spent = 0.0
        # When the current stretch of work began (None: paused, waiting for the client).
        self.since: float | None = started if started is not None else time.monotonic()

    @classmethod
    def of(cls, body: Mapping[str, Any], started: float | None = None) -> Budget:
        return cls(budget(body), started)

    def check(self) -> None:
        """MaxTimeMSExpired when the work so far took longer than the budget."""
        if self.seconds is not None and self.since is not None \
                and self.spent + time.monotonic() - self.since > self.seconds:
            raise expired()

    def pause(self) -> None:
        if self.since is not None:
            self.spent += time.monotonic() - self.since
            self.since = None

    def resume(self) -> None:
        if self.since is None:
            self.since = time.monotonic()


def limited(items: Iterator[T], spending: Budget) -> Iterator[T]:
    """``items``, raising MaxTimeMSExpired once producing them overran ``spending``; the
    time between two documents (the client's) does not count."""
    if spending.seconds is None:
        yield from items
        return
    while True:
        spending.resume()
        try:
            item = next(items)
        except StopIteration:
            spending.check()
            return
        spending.check()
        spending.pause()
        yield item
