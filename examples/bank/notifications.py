"""Where the outbox relay publishes: a stand-in for a message broker (no I/O here).

The relay hands every stored event to :meth:`Notifications.publish`; the "transfer
completed" ones are the notifications, kept by event id: the relay delivers at least once,
so a consumer deduplicates on that id (a redelivery replaces the same entry).
"""

from __future__ import annotations

import threading

from examples.bank.domain import TRANSFER_COMPLETED, TransferCompleted
from uow.outbox import OutboxEvent


class Notifications:
    """The "transfer completed" notifications received, by event id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the sync relay runs in a thread of its own
        self._received: dict[str, TransferCompleted] = {}
        self.deliveries = 0  # every publish, redeliveries included

    def publish(self, event: OutboxEvent) -> None:
        with self._lock:
            self.deliveries += 1
            if event.type == TRANSFER_COMPLETED:
                completed = event.event
                assert isinstance(completed, TransferCompleted)
                self._received[event.id] = completed

    @property
    def received(self) -> list[TransferCompleted]:
        with self._lock:
            return list(self._received.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._received)
