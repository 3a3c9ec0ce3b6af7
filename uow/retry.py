"""When ``uow.run`` tries again, and how long it waits (pure; PyMongo's ``with_transaction``).

- an error labelled ``TransientTransactionError`` (from the function, a flush or the commit)
  re-runs the whole unit;
- a commit error labelled ``UnknownTransactionCommitResult`` (except ``MaxTimeMSExpired``)
  retries only the commit;
- both within a time budget (120 s by default, as PyMongo), with jittered exponential backoff
  between whole attempts (5 ms growing by 1.5x up to 500 ms, times a random factor).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from pymongo.errors import OperationFailure

TRANSIENT = "TransientTransactionError"
UNKNOWN_COMMIT = "UnknownTransactionCommitResult"
MAX_TIME_MS_EXPIRED = 50

DEFAULT_BUDGET = 120.0
BACKOFF_INITIAL = 0.005
BACKOFF_MAX = 0.5


def has_label(error: BaseException, label: str) -> bool:
    """PyMongo's errors and :class:`~uow.ConcurrencyError` (which keeps its cause's labels)."""
    has_error_label = getattr(error, "has_error_label", None)
    return has_error_label is not None and bool(has_error_label(label))


class RetryPolicy:
    """The retry state of one ``run`` call."""

    def __init__(
        self,
        budget: float = DEFAULT_BUDGET,
        *,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if budget < 0:
            raise ValueError(f"retry budget must be >= 0 seconds, got {budget!r}")
        self.budget = budget
        self._clock = clock
        self._jitter = jitter
        self._started = clock()
        self.attempts = 0

    def _within_budget(self, extra: float = 0.0) -> bool:
        return self._clock() + extra - self._started < self.budget

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt (0 before the first); counts it."""
        retry, self.attempts = self.attempts, self.attempts + 1
        if retry == 0:
            return 0.0
        return self._jitter() * min(BACKOFF_INITIAL * 1.5**retry, BACKOFF_MAX)

    def retry_transaction(self, error: BaseException) -> bool:
        """Re-run the whole unit after ``error``?"""
        return has_label(error, TRANSIENT) and self._within_budget()

    def retry_commit(self, error: BaseException) -> bool:
        """Send the commit again after ``error``?"""
        if not has_label(error, UNKNOWN_COMMIT):
            return False
        if isinstance(error, OperationFailure) and error.code == MAX_TIME_MS_EXPIRED:
            return False
        return self._within_budget()


__all__ = ["DEFAULT_BUDGET", "RetryPolicy", "has_label"]
