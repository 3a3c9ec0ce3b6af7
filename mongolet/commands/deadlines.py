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


class Deadline:
    """A point in time a command must finish by."""

    __slots__ = ("at",)

    def __init__(self, seconds: float | None) -> None:
        self.at = time.monotonic() + seconds if seconds is not None else None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Deadline:
        return cls(budget(body))

    def check(self) -> None:
        if self.at is not None and time.monotonic() > self.at:
            raise expired()


def check(seconds: float | None, started: float) -> None:
    """MaxTimeMSExpired when more than ``seconds`` passed since ``started``."""
    if seconds is not None and time.monotonic() - started > seconds:
        raise expired()


def limited(items: Iterator[T], seconds: float | None, started: float) -> Iterator[T]:
    """``items``, raising MaxTimeMSExpired once producing them took more than ``seconds``
    (counted from ``started`` for the work done before the first one)."""
    if seconds is None:
        yield from items
        return
    spent = time.monotonic() - started
    clock = time.monotonic
    while True:
        t0 = clock()
        try:
            item = next(items)
        except StopIteration:
            if spent + clock() - t0 > seconds:
                raise expired() from None
            return
        spent += clock() - t0
        if spent > seconds:
            raise expired()
        yield item
