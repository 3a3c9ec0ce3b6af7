"""Durable mongolet: a data directory (``--dbpath``) holding a journal and a checkpoint.

A ``Durability`` is the ``CommitSink`` of a ``Store`` (``mongolet.storage``): the store hands
it every committed change before publishing it, and it appends one journal record per change
(``write``; a failed write publishes nothing). The server calls ``sync()`` (fsync) before it
sends any reply, so no client is acknowledged, or shown data, that is not on disk, and the
writes of one command (an ``insert_many``) share one fsync: group commit. A crash keeps a
prefix of the journal. A transaction's writes to all its collections are one record, so a
crash keeps all of them or none; uncommitted transactions never reach it. It knows storage
(collections, records, indexes), not commands.

A commit may carry a *session record* (opaque here: the command layer's note of a session's
outcome, ``mongolet.commands.session_history``): it is stored in the commit's own record, so
it is on disk exactly when the commit is. At start-up ``load(on_session_record)`` hands the
session records back in commit order (the checkpoint's first); a checkpoint stores the ones
``session_records()`` (set by the server) gives for the sessions still alive.

Files in the directory:

- ``mongolet.lock``: ``flock``-ed while a server uses the directory (it holds the pid).
- ``journal``: a header, then records appended in commit order, each numbered (``n``).
- ``checkpoint``: a header, then the committed state as of journal record ``n``: written to
  ``checkpoint.tmp``, fsynced, renamed over the old one, the directory fsynced; then a fresh
  journal holding the records after ``n`` replaces the old one the same way. Start-up =
  checkpoint + the journal's records after its ``n``. A checkpoint the journal's growth
  triggers is written by a thread from a snapshot taken on the event loop (the latest
  committed documents are never changed in place, so a list of them is a consistent copy),
  and clients are served meanwhile; records journaled during it go to the fresh journal.

Every file operation goes through a ``mongolet.files.Files`` (the OS by default), so a test
can replay them as a power cut would leave them.

Header (16 bytes): magic ``MONGOLET``, format version and file kind (uint32 little endian;
kind 1 journal, 2 checkpoint). Record: body length (uint32), CRC32 of length and body
(uint32), body (one BSON document, ``{"k": kind, "n": number, "ts": clock, ...}``, encoded
and decoded as the wire does: every BSON type and key order kept). A journal ending in a
torn or damaged record (a crash mid-append) is cut back to its last whole record.

Session records are optional fields, so format version 1 is unchanged (a reader that does
not know them ignores them): ``"s"`` in a journal ``commit`` record (one document), ``"s"``
in a checkpoint's ``end`` record (a list of documents).

    >>> durability = Durability("/var/lib/mongolet")   # doctest: +SKIP
    >>> store = durability.load()                       # replayed; changes now recorded
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument

from mongolet.files import Files
from mongolet.indexes import IndexSpec
from mongolet.storage import Collection, Record, Store, Write, canonical_id
from mongolet.wire import CODEC_OPTIONS

FORMAT_VERSION = 1
MAGIC = b"MONGOLET"
JOURNAL_KIND = 1
CHECKPOINT_KIND = 2
_KIND_NAMES = {JOURNAL_KIND: "journal", CHECKPOINT_KIND: "checkpoint"}

JOURNAL = "journal"
CHECKPOINT = "checkpoint"
LOCK = "mongolet.lock"
# A checkpoint replaces the journal once it has grown past this size and past the last
# checkpoint's (so rewriting the state costs at most as much as journaling did), and at a
# clean stop.
CHECKPOINT_BYTES = 64 * 1024 * 1024

# Receives, at start-up, each session record found (``Durability.load``).
SessionRecordSink = Callable[[dict[str, Any]], None]

_HEADER = struct.Struct("<8sII")
_LENGTH = struct.Struct("<I")
_FRAME = struct.Struct("<II")  # body length, CRC32
_BATCH_BYTES = 1 << 20  # documents per checkpoint record


class DurabilityError(Exception):
    """A data directory mongolet cannot use, or a journal it can no longer write."""


class DataFormatError(DurabilityError):
    """A file of the data directory this mongolet cannot read: not mongolet's, written in
    another format version, or damaged."""


class DbpathLockedError(DurabilityError):
    """Another mongolet has the data directory open."""


# -- files -----------------------------------------------------------------------------------


def _header(kind: int) -> bytes:
    return _HEADER.pack(MAGIC, FORMAT_VERSION, kind)


def _check_header(path: Path, data: bytes, kind: int) -> None:
    if len(data) < _HEADER.size or not data.startswith(MAGIC):
        raise DataFormatError(f"{path} is not a mongolet data file (no MONGOLET header); "
                              "use another --dbpath or move the file away")
    _, version, file_kind = _HEADER.unpack_from(data)
    if version != FORMAT_VERSION:
        newer = " by a newer mongolet" if version > FORMAT_VERSION else ""
        raise DataFormatError(
            f"{path} was written{newer} in data format version {version}; this mongolet "
            f"reads format version {FORMAT_VERSION} only")
    if file_kind != kind:
        raise DataFormatError(f"{path} is a mongolet {_KIND_NAMES.get(file_kind, file_kind)} "
                              f"file, not a {_KIND_NAMES[kind]}")


def _frame(body: bytes) -> bytes:
    length = _LENGTH.pack(len(body))
    return length + _LENGTH.pack(zlib.crc32(body, zlib.crc32(length))) + body


def _encode(record: dict[str, Any]) -> bytes:
    return _frame(bson.encode(record, codec_options=CODEC_OPTIONS))


def _scan(path: Path, data: bytes) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """The whole records after the header, with their offsets, and where they end (a torn
    or damaged record, and everything after it, is past that end)."""
    records: list[tuple[int, dict[str, Any]]] = []
    pos = _HEADER.size
    end = len(data)
    while end - pos >= _FRAME.size:
        length, crc = _FRAME.unpack_from(data, pos)
        stop = pos + _FRAME.size + length
        if stop > end:
            break
        body = data[pos + _FRAME.size:stop]
        if zlib.crc32(body, zlib.crc32(data[pos:pos + 4])) != crc:
            break
        try:
            record = bson.decode(body, codec_options=CODEC_OPTIONS)
        except Exception as exc:  # a checksummed record that is not BSON: not a torn write
            raise DataFormatError(f"{path}: record at offset {pos} is unreadable ({exc})") \
                from None
        records.append((pos, record))
        pos = stop
    return records, pos


def _write_all(files: Files, fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[files.write(fd, view):]


def _lock(path: Path) -> int:
    try:
        fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DurabilityError(f"cannot use {path} as a data directory: {exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise DbpathLockedError(
            f"{path} is in use by another mongolet (pid {holder}): a data directory can be "
            f"open in one server at a time ({path / LOCK} is locked)") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


# -- state <-> records -----------------------------------------------------------------------


def _spec_doc(spec: IndexSpec) -> dict[str, Any]:
    return {"name": spec.name, "key": spec.key, "o": spec.options}


def _collection_doc(coll: Collection) -> dict[str, Any]:
    return {"db": coll.db, "c": coll.name, "o": coll.options, "uuid": coll.uuid,
            "ix": [_spec_doc(s) for s in coll.indexes.values() if s.name != "_id_"]}


def _create(store: Store, entry: dict[str, Any]) -> Collection:
    store.drop_collection(entry["db"], entry["c"])  # replay: the name was free then
    coll = store.create_collection(entry["db"], entry["c"], entry["o"])
    coll.uuid = entry["uuid"]
    for spec in entry["ix"]:
        coll.add_index(IndexSpec(spec["name"], spec["key"], spec["o"]))
    return coll


def _collection(store: Store, db: str, name: str) -> Collection:
    coll = store.collection(db, name)
    return coll if coll is not None else store.create_collection(db, name)


def _put(coll: Collection, doc: dict[str, Any] | None, _id: Any, ts: int) -> None:
    key = canonical_id(doc["_id"] if doc is not None else _id)
    record = coll.records.get(key)
    if record is None:
        if doc is None:
            return
        record = coll.records[key] = Record(key)
    coll.commit(record, doc, ts, ts)


def _apply(store: Store, rec: dict[str, Any],
           on_session_record: SessionRecordSink | None = None) -> None:
    """Replay one journal record into ``store`` (which records nothing meanwhile)."""
    kind, ts = rec["k"], rec["ts"]
    if kind == "commit":
        for entry in rec.get("c", ()):
            _create(store, entry)
        for write in rec["w"]:
            db, name, doc = write[0], write[1], write[2]
            _put(_collection(store, db, name), doc, write[3] if doc is None else None, ts)
        session_record = rec.get("s")
        if session_record is not None and on_session_record is not None:
            on_session_record(session_record)
    elif kind == "create":
        _create(store, rec["coll"])
    elif kind == "drop":
        store.drop_collection(rec["db"], rec["c"])
    elif kind == "dropDatabase":
        store.drop_database(rec["db"])
    elif kind == "rename":
        coll = store.collection(rec["db"], rec["c"])
        if coll is not None:
            store.rename_collection(coll, rec["toDb"], rec["to"])
    elif kind == "index":
        spec = rec["spec"]
        _collection(store, rec["db"], rec["c"]).add_index(
            IndexSpec(spec["name"], spec["key"], spec["o"]))
    elif kind == "dropIndex":
        coll = store.collection(rec["db"], rec["c"])
        if coll is not None:
            coll.drop_index(rec["name"])
    elif kind == "options":
        _collection(store, rec["db"], rec["c"]).options = dict(rec["o"])
    else:
        raise DataFormatError(f"unknown journal record kind {kind!r} (record {rec.get('n')})")
    store.clock = max(store.clock, ts)


@dataclass
class _Snapshot:
    """The committed state as of journal record ``lsn``, detached from the live store:
    collection descriptions and lists of their documents (which commits replace, never
    change), so a thread can write it while the store moves on."""

    lsn: int
    clock: int
    collections: list[tuple[dict[str, Any], list[dict[str, Any]]]] = field(
        default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)


def _snapshot(store: Store, lsn: int,
              session_records: Iterable[dict[str, Any]] = ()) -> _Snapshot:
    snapshot = _Snapshot(lsn, store.clock, sessions=list(session_records))
    for colls in store.databases.values():
        for coll in colls.values():
            if coll.created_by is not None:
                continue  # created by an open transaction: not committed
            description = _collection_doc(coll)
            description["o"] = dict(coll.options)  # collMod changes the live dict
            snapshot.collections.append((description, list(coll.latest_documents())))
    return snapshot


def _checkpoint_records(snapshot: _Snapshot) -> Iterator[bytes]:
    """The framed records of a checkpoint of ``snapshot``."""
    yield _encode({"k": "checkpoint", "n": snapshot.lsn, "ts": snapshot.clock})
    documents = 0
    for description, docs in snapshot.collections:
        yield _encode({"k": "coll", "coll": description})
        db, name = description["db"], description["c"]
        batch: list[RawBSONDocument] = []
        size = 0
        for doc in docs:
            raw = bson.encode(doc, codec_options=CODEC_OPTIONS)
            batch.append(RawBSONDocument(raw))
            size += len(raw)
            documents += 1
            if size >= _BATCH_BYTES:
                yield _encode({"k": "docs", "db": db, "c": name, "d": batch})
                batch, size = [], 0
        if batch:
            yield _encode({"k": "docs", "db": db, "c": name, "d": batch})
    end: dict[str, Any] = {"k": "end", "collections": len(snapshot.collections),
                           "documents": documents}
    if snapshot.sessions:
        end["s"] = snapshot.sessions
    yield _encode(end)


def _load_checkpoint(store: Store, path: Path, data: bytes,
                     on_session_record: SessionRecordSink | None = None) -> int:
    """Fill ``store`` from ``data``, checkpoint file ``path``; the journal record it ends
    at."""
    _check_header(path, data, CHECKPOINT_KIND)
    records, end = _scan(path, data)
    if end != len(data) or not records or records[0][1].get("k") != "checkpoint" \
            or records[-1][1].get("k") != "end":
        raise DataFormatError(f"{path} is damaged (a checkpoint is complete or absent: "
                              f"readable up to offset {end} of {len(data)})")
    first = records[0][1]
    ts = first["ts"]
    for offset, rec in records[1:-1]:
        try:
            if rec["k"] == "coll":
                _create(store, rec["coll"])
            elif rec["k"] == "docs":
                coll = _collection(store, rec["db"], rec["c"])
                for doc in rec["d"]:
                    _put(coll, doc, None, ts)
            else:
                raise DataFormatError(f"{path}: unknown checkpoint record kind {rec['k']!r}")
        except DataFormatError:
            raise
        except Exception as exc:
            raise DataFormatError(f"{path}: record at offset {offset} cannot be loaded "
                                  f"({type(exc).__name__}: {exc})") from None
    if on_session_record is not None:
        offset, end_record = records[-1]
        try:
            for session_record in end_record.get("s", ()):
                on_session_record(session_record)
        except Exception as exc:
            raise DataFormatError(f"{path}: the session records at offset {offset} cannot be "
                                  f"loaded ({type(exc).__name__}: {exc})") from None
    store.clock = max(store.clock, ts)
    return int(first["n"])


# -- the sink ----------------------------------------------------------------------------------


class Durability:
    """One data directory: replays it into a ``Store``, then journals the store's changes.

    Creating it locks the directory (``DbpathLockedError`` when another server has it);
    ``load()`` reads it (``DataFormatError`` for files it cannot read); ``close()`` writes a
    checkpoint and unlocks it. ``files`` is how it touches the directory's files.
    """

    def __init__(self, dbpath: str | os.PathLike[str], *,
                 checkpoint_bytes: int | None = None, files: Files | None = None) -> None:
        self.path = Path(dbpath)
        self.checkpoint_bytes = checkpoint_bytes or CHECKPOINT_BYTES
        self.files = files if files is not None else Files()
        self.store: Store | None = None
        # The session records a checkpoint keeps (the server's live sessions); None: none.
        self.session_records: Callable[[], Iterable[dict[str, Any]]] | None = None
        # What load() found: replayed journal records, torn bytes dropped.
        self.replayed = 0
        self.dropped_bytes = 0
        # Checkpoints completed (the journal replaced), by the thread or not.
        self.checkpoints = 0
        self._fd = -1
        self._size = 0
        self._lsn = 0  # number of the last record written
        self._checkpoint_lsn = 0  # no checkpoint: the empty state before record 1
        self._checkpoint_size = 0
        self._failed: BaseException | None = None
        self._dirty = False  # records written since the last fsync
        self._broken = False  # an fsync failed: what is on disk is unknown
        # A checkpoint being written by the thread: its future (the file's size, or None
        # when writing failed), and the records journaled since its snapshot.
        self._executor: ThreadPoolExecutor | None = None
        self._writing: Future[int | None] | None = None
        self._writing_lsn = 0
        self._tail: list[bytes] = []
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DurabilityError(f"cannot use {self.path} as a data directory: {exc}") \
                from None
        self._lock_fd = _lock(self.path)

    # -- start and stop ------------------------------------------------------------------------

    def load(self, on_session_record: SessionRecordSink | None = None) -> Store:
        """A store holding the directory's committed state, recording its changes here.
        ``on_session_record`` gets every session record kept, oldest first."""
        try:
            return self._load(on_session_record)
        except BaseException:
            self.close(checkpoint=False)
            raise

    def _load(self, on_session_record: SessionRecordSink | None) -> Store:
        files = self.files
        store = Store()
        for leftover in (CHECKPOINT + ".tmp", JOURNAL + ".tmp"):
            with contextlib.suppress(FileNotFoundError):
                files.unlink(self.path / leftover)  # a checkpoint a crash interrupted
        checkpoint = self.path / CHECKPOINT
        lsn = 0
        if files.exists(checkpoint):
            data = files.read_bytes(checkpoint)
            lsn = self._checkpoint_lsn = _load_checkpoint(store, checkpoint, data,
                                                          on_session_record)
            self._checkpoint_size = len(data)
        journal = self.path / JOURNAL
        if files.exists(journal):
            data = files.read_bytes(journal)
            _check_header(journal, data, JOURNAL_KIND)
            records, end = _scan(journal, data)
            for offset, rec in records:
                n = rec["n"]
                if n <= lsn:
                    continue  # already in the checkpoint
                if n != lsn + 1:
                    raise DataFormatError(
                        f"{journal}: record {n} at offset {offset} follows record {lsn}: "
                        "records are missing (was the checkpoint or journal replaced?)")
                try:
                    _apply(store, rec, on_session_record)
                except DataFormatError:
                    raise
                except Exception as exc:  # a record this version cannot make sense of
                    raise DataFormatError(f"{journal}: record {n} at offset {offset} cannot "
                                          f"be replayed ({type(exc).__name__}: {exc})") from None
                lsn = n
                self.replayed += 1
            self._fd = files.open(journal, os.O_WRONLY)
            if end < len(data):
                self.dropped_bytes = len(data) - end
                print(f"mongolet: {journal}: dropped {self.dropped_bytes} bytes of a torn "
                      f"record at offset {end} (a write cut short by a crash, never "
                      "acknowledged)", file=sys.stderr, flush=True)
                files.truncate(self._fd, end)
                files.fsync(self._fd)
            files.seek(self._fd, end)
            self._size = end
        else:
            self._fd, self._size = self._new_journal()
            files.fsync_dir(self.path)
        self._lsn = lsn
        self.store = store
        store.attach(self)
        return store

    def close(self, *, checkpoint: bool = True) -> None:
        """Write a checkpoint (when something changed since the last one) and unlock."""
        try:
            if self._writing is not None:
                self._finish_checkpoint(wait=True, rotate=checkpoint)
            if checkpoint and self.store is not None and self._failed is None \
                    and self._lsn != self._checkpoint_lsn:
                self.checkpoint()
            if self._dirty and self._failed is None:
                self.sync()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None
            if self.store is not None:
                self.store.attach(None)
                self.store = None
            if self._fd >= 0:
                self.files.close(self._fd)
                self._fd = -1
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    # -- checkpoints -------------------------------------------------------------------------

    def _new_journal(self, records: bytes = b"") -> tuple[int, int]:
        """Replace the journal by one holding ``records`` (atomically); its descriptor and
        size. When this raises, the old journal is still in place; the caller fsyncs the
        directory."""
        files = self.files
        tmp = self.path / (JOURNAL + ".tmp")
        fd = files.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            data = _header(JOURNAL_KIND) + records
            _write_all(files, fd, data)
            files.fsync(fd)
            files.replace(tmp, self.path / JOURNAL)
        except BaseException:
            files.close(fd)
            with contextlib.suppress(OSError):
                files.unlink(tmp)
            raise
        return fd, len(data)

    def _write_checkpoint(self, snapshot: _Snapshot) -> int | None:
        """Write ``snapshot`` as the checkpoint (durably: data fsynced, then renamed, then
        the directory fsynced); its size, or None when that failed. Touches nothing but
        files, so it may run on a thread."""
        files = self.files
        tmp = self.path / (CHECKPOINT + ".tmp")
        try:
            fd = files.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                size = 0
                chunk: list[bytes] = [_header(CHECKPOINT_KIND)]
                pending = len(chunk[0])
                for frame in _checkpoint_records(snapshot):
                    chunk.append(frame)
                    pending += len(frame)
                    if pending >= _BATCH_BYTES:
                        _write_all(files, fd, b"".join(chunk))
                        size, chunk, pending = size + pending, [], 0
                _write_all(files, fd, b"".join(chunk))
                size += pending
                files.fsync(fd)
            finally:
                files.close(fd)
            files.replace(tmp, self.path / CHECKPOINT)
            files.fsync_dir(self.path)
        except OSError as exc:
            # The old checkpoint and the journal still hold everything: carry on with them.
            with contextlib.suppress(OSError):
                files.unlink(tmp)
            print(f"mongolet: checkpoint of {self.path} failed ({exc}); the journal keeps "
                  "growing", file=sys.stderr, flush=True)
            return None
        return size

    def _snapshot(self) -> _Snapshot:
        store = self.store
        assert store is not None, "load() first"
        sessions = self.session_records() if self.session_records is not None else ()
        return _snapshot(store, self._lsn, sessions)

    def checkpoint(self) -> None:
        """Write the committed state as a checkpoint and start an empty journal (waiting
        for a checkpoint the thread is writing first)."""
        if self._writing is not None:
            self._finish_checkpoint(wait=True)
        snapshot = self._snapshot()
        self._checkpointed(snapshot.lsn, self._write_checkpoint(snapshot), b"")

    def _start_checkpoint(self) -> None:
        """Snapshot now, write the checkpoint on the thread (``_finish_checkpoint`` later)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="mongolet-checkpoint")
        snapshot = self._snapshot()
        self._tail = []
        self._writing = self._executor.submit(self._write_checkpoint, snapshot)
        self._writing_lsn = snapshot.lsn

    def _finish_checkpoint(self, *, wait: bool, rotate: bool = True) -> None:
        """Once the thread's checkpoint is written (``wait``: wait for it), start the fresh
        journal with the records journaled meanwhile."""
        writing = self._writing
        assert writing is not None
        if not wait and not writing.done():
            return
        self._writing = None
        tail, self._tail = b"".join(self._tail), []
        size = writing.result()  # an exception other than OSError: a bug, raised here
        if rotate:
            self._checkpointed(self._writing_lsn, size, tail)

    def _checkpointed(self, lsn: int, size: int | None, tail: bytes) -> None:
        """A checkpoint as of record ``lsn`` was written (``size`` bytes; None: it failed):
        replace the journal by one holding ``tail``, the records after ``lsn``."""
        if size is None:
            self._checkpoint_size = 2 * max(self._size, self._checkpoint_size)  # retry later
            return
        self._checkpoint_lsn = lsn
        self._checkpoint_size = size
        self.checkpoints += 1
        try:
            fd, journal_size = self._new_journal(tail)
        except OSError as exc:
            # The old journal (records up to the checkpoint, and after) is still valid.
            print(f"mongolet: new journal in {self.path} failed ({exc}); appending to the old "
                  "one", file=sys.stderr, flush=True)
            return
        self.files.close(self._fd)  # its unsynced records are in the checkpoint or the tail
        self._fd, self._size = fd, journal_size
        try:
            self.files.fsync_dir(self.path)
        except OSError as exc:  # the new journal may not be the one a restart finds
            self._failed = exc
            self._broken = True
            return
        self._dirty = False

    # -- appending ---------------------------------------------------------------------------

    def _refused(self) -> DurabilityError:
        return DurabilityError(f"the journal in {self.path} failed ({self._failed}); "
                               "restart the server")

    def _append(self, kind: str, ts: int, fields: dict[str, Any]) -> None:
        if self._failed is not None:
            raise self._refused()
        if self._writing is not None:
            self._finish_checkpoint(wait=False)
        if self._writing is None and self._size >= self.checkpoint_bytes \
                and self._size >= self._checkpoint_size:
            # Everything journaled so far is published: a consistent state to snapshot.
            self._start_checkpoint()
        frame = _encode({"k": kind, "n": self._lsn + 1, "ts": ts, **fields})
        try:
            _write_all(self.files, self._fd, frame)
        except OSError as exc:  # (a full disk) nothing of it is published; writes stop
            self._failed = exc
            with contextlib.suppress(OSError):
                self.files.truncate(self._fd, self._size)
            raise DurabilityError(f"cannot write the journal in {self.path}: {exc}") from None
        self._size += len(frame)
        self._lsn += 1
        self._dirty = True
        if self._writing is not None:
            self._tail.append(frame)  # for the journal that follows the checkpoint

    def sync(self) -> None:
        """Make every record written so far durable (fsync); call it before any reply.

        Raises ``DurabilityError`` when that fails, and from then on: records already
        published may not be on disk, so nothing more may be acknowledged or shown."""
        if self._broken:
            raise self._refused()
        if not self._dirty:
            return
        try:
            self.files.fdatasync(self._fd)
        except OSError as exc:  # a failed fsync may have dropped the pages: stop
            self._failed = exc
            self._broken = True
            raise DurabilityError(f"cannot write the journal in {self.path}: {exc}") from None
        self._dirty = False

    def _clock(self) -> int:
        return self.store.clock if self.store is not None else 0

    def commit(self, ts: int, created: Sequence[Collection], writes: Sequence[Write],
               session_record: dict[str, Any] | None = None) -> None:
        fields: dict[str, Any] = {}
        if created:
            fields["c"] = [_collection_doc(c) for c in created]
        fields["w"] = [[c.db, c.name, doc] if doc is not None else [c.db, c.name, None, _id]
                       for c, _id, doc in writes]
        if session_record is not None:
            fields["s"] = session_record
        self._append("commit", ts, fields)

    def collection_created(self, coll: Collection) -> None:
        self._append("create", self._clock(), {"coll": _collection_doc(coll)})

    def collection_dropped(self, db: str, name: str) -> None:
        self._append("drop", self._clock(), {"db": db, "c": name})

    def database_dropped(self, db: str) -> None:
        self._append("dropDatabase", self._clock(), {"db": db})

    def collection_renamed(self, coll: Collection, db: str, name: str) -> None:
        self._append("rename", self._clock(),
                     {"db": coll.db, "c": coll.name, "toDb": db, "to": name})

    def index_added(self, coll: Collection, spec: IndexSpec) -> None:
        self._append("index", self._clock(),
                     {"db": coll.db, "c": coll.name, "spec": _spec_doc(spec)})

    def index_dropped(self, coll: Collection, name: str) -> None:
        self._append("dropIndex", self._clock(), {"db": coll.db, "c": coll.name, "name": name})

    def options_changed(self, coll: Collection, options: dict[str, Any]) -> None:
        self._append("options", self._clock(), {"db": coll.db, "c": coll.name, "o": options})


def read_records(dbpath: str | os.PathLike[str], file: str = JOURNAL) -> list[dict[str, Any]]:
    """The whole records of the journal (``file=CHECKPOINT``: of the checkpoint) in
    ``dbpath`` (for tests and inspection)."""
    path = Path(dbpath) / file
    data = path.read_bytes()
    _check_header(path, data, CHECKPOINT_KIND if file == CHECKPOINT else JOURNAL_KIND)
    return [rec for _, rec in _scan(path, data)[0]]


__all__ = ["CHECKPOINT", "CHECKPOINT_BYTES", "FORMAT_VERSION", "JOURNAL", "DataFormatError",
           "DbpathLockedError", "Durability", "DurabilityError", "read_records"]
