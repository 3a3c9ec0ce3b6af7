"""The engines (sync and async shells over the pure builders) and their sessions."""

from odm.engine.aio import AIOCursor, AIOEngine
from odm.engine.session import AIOSession, AIOTransaction, SyncSession, SyncTransaction
from odm.engine.sync import SyncCursor, SyncEngine

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
