"""A power cut, simulated: what the disk may hold when the machine loses power.

``kill -9`` loses nothing a process wrote (the page cache survives it), so it cannot test
the order of fsyncs. Like Jepsen's LazyFS and the ALICE study, ``RecordingFiles`` (a
``mongolet.files.Files`` handed to the durable store) does every file operation for real
and also logs it. ``power_cuts`` replays the log up to a crash point and keeps, of what was
not yet covered by an fsync (of the file for its data, of the directory for creates,
renames and unlinks), nothing, everything, or an arbitrary prefix, the last write
possibly torn; and writes that disk image to a directory a store is then loaded from.

Two deliberately broken stores are here too, as ``Files`` that reorder the store's calls:
``AckBeforeFsync`` (the journal's fsync happens after the reply) and ``RenameBeforeSync``
(a checkpoint renamed into place before its data is fsynced).
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mongolet.files import Files


@dataclass(frozen=True)
class Op:
    """One logged operation: ``create``/``rename``/``unlink``/``fsync_dir`` (the directory),
    ``write``/``truncate``/``fsync`` (a file, by node number)."""

    kind: str
    node: int = -1
    name: str = ""
    target: str = ""
    offset: int = 0
    data: bytes = b""


DIRECTORY_OPS = frozenset({"create", "rename", "unlink"})
SYNC_OPS = frozenset({"fsync", "fsync_dir"})


class RecordingFiles(Files):
    """The store's file operations, done and logged (thread-safe: checkpoints run on a
    thread). Files are told apart by node, as a rename keeps a file's data."""

    def __init__(self) -> None:
        self.log: list[Op] = []
        self._lock = threading.RLock()
        self._names: dict[str, int] = {}  # directory entry -> node
        self._fds: dict[int, list[int]] = {}  # fd -> [node, position]
        self._nodes = itertools.count()

    def _log(self, op: Op) -> None:
        self.log.append(op)

    def node_name(self, fd: int) -> str:
        node = self._fds[fd][0]
        return next((name for name, n in self._names.items() if n == node), "")

    def open(self, path: Path, flags: int, mode: int = 0o644) -> int:
        with self._lock:
            fd = os.open(path, flags, mode)
            node = self._names.get(path.name)
            if node is None:
                if not flags & os.O_CREAT:
                    raise AssertionError(f"{path} was not created through these Files")
                node = self._names[path.name] = next(self._nodes)
                self._log(Op("create", node, path.name))
            if flags & os.O_TRUNC:
                self._log(Op("truncate", node, offset=0))
            self._fds[fd] = [node, 0]
            return fd

    def write(self, fd: int, data: bytes | memoryview) -> int:
        with self._lock:
            written = os.write(fd, data)
            node, position = self._fds[fd]
            self._log(Op("write", node, offset=position, data=bytes(data[:written])))
            self._fds[fd][1] = position + written
            return written

    def seek(self, fd: int, offset: int) -> None:
        with self._lock:
            os.lseek(fd, offset, os.SEEK_SET)
            self._fds[fd][1] = offset

    def truncate(self, fd: int, size: int) -> None:
        with self._lock:
            os.ftruncate(fd, size)
            self._log(Op("truncate", self._fds[fd][0], offset=size))

    def fsync(self, fd: int) -> None:
        with self._lock:
            os.fsync(fd)
            self._log(Op("fsync", self._fds[fd][0]))

    def fdatasync(self, fd: int) -> None:
        with self._lock:
            os.fdatasync(fd)
            self._log(Op("fsync", self._fds[fd][0]))

    def close(self, fd: int) -> None:
        with self._lock:
            os.close(fd)
            del self._fds[fd]

    def replace(self, source: Path, target: Path) -> None:
        with self._lock:
            os.replace(source, target)
            self._names[target.name] = self._names.pop(source.name)
            self._log(Op("rename", name=source.name, target=target.name))

    def unlink(self, path: Path) -> None:
        with self._lock:
            os.unlink(path)
            self._names.pop(path.name, None)
            self._log(Op("unlink", name=path.name))

    def fsync_dir(self, path: Path) -> None:
        with self._lock:
            super().fsync_dir(path)
            self._log(Op("fsync_dir"))


class AckBeforeFsync(RecordingFiles):
    """Broken on purpose: the journal's fdatasync is put off until the file's next write
    (or close), so the server replies before the record is on disk."""

    def __init__(self) -> None:
        super().__init__()
        self._owed: set[int] = set()

    def fdatasync(self, fd: int) -> None:
        with self._lock:
            self._owed.add(fd)

    def _pay(self, fd: int) -> None:
        if fd in self._owed:
            self._owed.discard(fd)
            super().fdatasync(fd)

    def write(self, fd: int, data: bytes | memoryview) -> int:
        with self._lock:
            self._pay(fd)
            return super().write(fd, data)

    def close(self, fd: int) -> None:
        with self._lock:
            self._pay(fd)
            super().close(fd)


class RenameBeforeSync(RecordingFiles):
    """Broken on purpose: a checkpoint's fsync (and close) is put off until it has been
    renamed into place."""

    def __init__(self) -> None:
        super().__init__()
        self._held: list[int] = []

    def fsync(self, fd: int) -> None:
        with self._lock:
            if self.node_name(fd) == "checkpoint.tmp":
                self._held.append(fd)
                return
            super().fsync(fd)

    def close(self, fd: int) -> None:
        with self._lock:
            if fd not in self._held:
                super().close(fd)

    def replace(self, source: Path, target: Path) -> None:
        with self._lock:
            super().replace(source, target)
            while self._held:
                fd = self._held.pop()
                super().fsync(fd)
                super().close(fd)


# -- the disk, replayed ----------------------------------------------------------------------


@dataclass
class Disk:
    """The log replayed up to some point: what is durable, and what is not yet."""

    names: dict[str, int] = field(default_factory=dict)
    durable_names: dict[str, int] = field(default_factory=dict)
    directory_pending: list[Op] = field(default_factory=list)
    content: dict[int, bytearray] = field(default_factory=dict)
    durable: dict[int, bytes] = field(default_factory=dict)
    pending: dict[int, list[Op]] = field(default_factory=dict)

    def apply(self, op: Op) -> None:
        if op.kind == "create":
            self.content[op.node] = bytearray()
            self.durable[op.node] = b""
            self.pending[op.node] = []
        if op.kind in DIRECTORY_OPS:
            _rename(self.names, op)
            self.directory_pending.append(op)
        elif op.kind in ("write", "truncate"):
            _change(self.content[op.node], op)
            self.pending[op.node].append(op)
        elif op.kind == "fsync":
            self.durable[op.node] = bytes(self.content[op.node])
            self.pending[op.node] = []
        elif op.kind == "fsync_dir":
            self.durable_names = dict(self.names)
            self.directory_pending = []

    def image(self, cut: Cut) -> dict[str, bytes]:
        """File name -> contents after a power cut that keeps what ``cut`` chooses."""
        names = dict(self.durable_names)
        for op in self.directory_pending[:cut.directory(len(self.directory_pending))]:
            _rename(names, op)
        files = {}
        for name, node in names.items():
            data = bytearray(self.durable[node])
            pending = self.pending[node]
            kept = cut.file(len(pending))
            for op in pending[:kept]:
                _change(data, op)
            if kept < len(pending) and pending[kept].kind == "write":
                torn = pending[kept]
                _change(data, Op("write", offset=torn.offset,
                                 data=torn.data[:cut.torn(len(torn.data))]))
            files[name] = bytes(data)
        return files


def _rename(names: dict[str, int], op: Op) -> None:
    if op.kind == "create":
        names[op.name] = op.node
    elif op.kind == "rename":
        names[op.target] = names.pop(op.name)
    elif op.kind == "unlink":
        names.pop(op.name, None)


def _change(data: bytearray, op: Op) -> None:
    if op.kind == "truncate":
        del data[op.offset:]
        return
    end = op.offset + len(op.data)
    if len(data) < op.offset:
        data.extend(bytes(op.offset - len(data)))
    data[op.offset:end] = op.data


@dataclass(frozen=True)
class Cut:
    """How much of the unsynced operations a power cut keeps: a prefix of the directory's,
    a prefix of each file's, and of the next write a torn part (``rng``: random prefixes;
    else all or nothing)."""

    name: str
    keep_directory: bool = False
    keep_files: bool = False
    rng: random.Random | None = None

    def directory(self, pending: int) -> int:
        if self.rng is not None:
            return self.rng.randint(0, pending)
        return pending if self.keep_directory else 0

    def file(self, pending: int) -> int:
        if self.rng is not None:
            return self.rng.randint(0, pending)
        return pending if self.keep_files else 0

    def torn(self, length: int) -> int:
        return self.rng.randint(0, length) if self.rng is not None else 0


def cuts(seed: int) -> list[Cut]:
    rng = random.Random(seed)
    return [Cut("nothing unsynced kept"), Cut("everything kept", True, True),
            Cut("directory changes kept, file data lost", keep_directory=True),
            Cut("file data kept, directory changes lost", keep_files=True),
            Cut(f"random prefixes (seed {seed})", rng=rng),
            Cut(f"random prefixes (seed {seed}, again)", rng=rng)]


@dataclass(frozen=True)
class CrashPoint:
    """After the first ``index`` operations of the log; why that point was chosen."""

    index: int
    why: str


def crash_points(log: list[Op], random_points: int, seed: int) -> list[CrashPoint]:
    """Just before and just after every fsync (of a file or of the directory), the start,
    the end, and ``random_points`` random points."""
    points = {0: "before anything", len(log): "at the end"}
    for index, op in enumerate(log):
        if op.kind in SYNC_OPS:
            points.setdefault(index, f"just before {op.kind} #{index}")
            points.setdefault(index + 1, f"just after {op.kind} #{index}")
    rng = random.Random(seed)
    for _ in range(random_points):
        index = rng.randint(0, len(log))
        points.setdefault(index, f"random point {index}")
    return [CrashPoint(index, why) for index, why in sorted(points.items())]


def power_cuts(log: list[Op], points: list[CrashPoint],
               seed: int) -> Iterator[tuple[CrashPoint, Cut, dict[str, bytes]]]:
    """Each crash point's disk images, one per kind of cut."""
    disk = Disk()
    done = 0
    for point in points:
        for op in log[done:point.index]:
            disk.apply(op)
        done = point.index
        for cut in cuts(seed + point.index):
            yield point, cut, disk.image(cut)


def write_image(files: dict[str, bytes], directory: Path) -> None:
    """``directory`` holding exactly ``files`` (emptied first)."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
