"""The change history on disk: ``DIR/changes``, so change streams resume after a restart.

With ``--dbpath`` the server keeps its change history (``mongolet.changes``) in a file of
its own beside the data journal (``mongolet.durability``), which it does not touch: each
recorded batch of entries is appended as one record (written, not fsynced: a killed
process loses nothing, the page cache has it). When the retained history has been written
twice over, the file is rewritten with the entries kept (``.tmp``, fsync, rename).

A power loss may lose the newest entries while their commits survive in the fsynced data
journal: start-up sees commits newer than the history (``reconcile``) and declares the
history lost up to then, so a consumer resuming there gets ChangeStreamHistoryLost rather
than silently missing events. Entries of document writes the data journal does not hold
(never acknowledged) are dropped.

Record: body length (uint32 LE), CRC32 of the body (uint32 LE), body (BSON:
``{"e": [entries]}`` or ``{"lost": position}``). A torn tail is cut off.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import bson

from mongolet.changes import ChangeHistory
from mongolet.wire import CODEC_OPTIONS

FILE = "changes"
_FRAME = struct.Struct("<II")
_DOCUMENT_OPS = ("insert", "update", "replace", "delete")


def _record(body: dict[str, Any]) -> bytes:
    data = bson.encode(body, codec_options=CODEC_OPTIONS)
    return _FRAME.pack(len(data), zlib.crc32(data)) + data


class HistoryFile:
    """Appends a history's entries to ``DIR/changes`` (a ``changes.ChangeSink``)."""

    def __init__(self, dbpath: str | os.PathLike[str], history: ChangeHistory) -> None:
        self.path = Path(dbpath) / FILE
        self.history = history
        self._fd = -1
        self._written = 0  # entries appended since the file was last rewritten

    def load(self, clock: int) -> None:
        """Fill the history from the file (``clock``: the data's newest commit time), then
        record its new entries here."""
        data = self.path.read_bytes() if self.path.exists() else b""
        pos = 0
        while len(data) - pos >= _FRAME.size:
            length, crc = _FRAME.unpack_from(data, pos)
            body = data[pos + _FRAME.size:pos + _FRAME.size + length]
            if len(body) != length or zlib.crc32(body) != crc:
                break
            record = bson.decode(body, codec_options=CODEC_OPTIONS)
            if "lost" in record:
                self.history.load_state({"lost": record["lost"], "e": []}, append=True)
            else:
                self.history.restore(record["e"])
            pos += _FRAME.size + length
        reconcile(self.history, clock)
        self._rewrite() if pos != len(data) or self.history.entries else self._open()
        self.history.sink = self

    def changes_recorded(self, entries: list[dict[str, Any]]) -> None:
        if self._written >= self.history.size:
            self._rewrite()
        os.write(self._fd, _record({"e": entries}))
        self._written += len(entries)

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _rewrite(self) -> None:
        """Replace the file by the entries kept (and where history was lost)."""
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            out.write(_record({"lost": list(self.history.lost_before)}))
            entries = list(self.history.entries)
            for start in range(0, len(entries), 1000):
                out.write(_record({"e": entries[start:start + 1000]}))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        if self._fd >= 0:
            os.close(self._fd)
        self._open()
        self._written = 0

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
        self.history.sink = None


def reconcile(history: ChangeHistory, clock: int) -> None:
    """Make ``history`` agree with data whose newest commit is at ``clock``: drop events of
    writes the data lacks, and declare lost the commits the history lacks."""
    entries = history.entries
    while entries and entries[-1]["op"] in _DOCUMENT_OPS and entries[-1]["t"].inc - 1 > clock:
        entries.pop()
    last_ts = entries[-1]["t"].inc - 1 if entries else 0
    if clock > last_ts:
        history.lose_through(clock)


__all__ = ["FILE", "HistoryFile", "reconcile"]
