"""The engines and their sessions: sync and async shells (``sync``, ``aio``) driving one core
of effect generators (``operations``, ``session``, ``effects``)."""

from odm.engine.aio import AIOCursor, AIOEngine, AIOSession, AIOTransaction
from odm.engine.sync import SyncCursor, SyncEngine, SyncSession, SyncTransaction

__all__ = [
    "AIOCursor",
    "AIOEngine",
    "AIOSession",
    "AIOTransaction",
    "SyncCursor",
    "SyncEngine",
    "SyncSession",
    "SyncTransaction",
]
