"""The file operations of the durable store, as one replaceable object.

``mongolet.durability`` reads and writes its data directory only through a ``Files``: the
operating system's calls, one method each. A test can hand the store another ``Files`` that
also records what was written and what was fsynced, to rebuild the directory as a power
cut could leave it (``tests/reliability/powerloss.py``). Paths are ``pathlib.Path``.
"""

from __future__ import annotations

import os
from pathlib import Path


class Files:
    """Plain ``os`` calls; every method may be called from any thread."""

    def open(self, path: Path, flags: int, mode: int = 0o644) -> int:
        return os.open(path, flags, mode)

    def write(self, fd: int, data: bytes | memoryview) -> int:
        return os.write(fd, data)

    def seek(self, fd: int, offset: int) -> None:
        os.lseek(fd, offset, os.SEEK_SET)

    def truncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)

    def fsync(self, fd: int) -> None:
        """Data and metadata of the open file on disk."""
        os.fsync(fd)

    def fdatasync(self, fd: int) -> None:
        """The file's data (and its size) on disk."""
        os.fdatasync(fd)

    def close(self, fd: int) -> None:
        os.close(fd)

    def replace(self, source: Path, target: Path) -> None:
        """Rename ``source`` over ``target``: durable once the directory is fsynced."""
        os.replace(source, target)

    def unlink(self, path: Path) -> None:
        os.unlink(path)

    def fsync_dir(self, path: Path) -> None:
        """The directory's entries (creates, renames, unlinks) on disk."""
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_bytes(self, path: Path) -> bytes:
        return path.read_bytes()

    def exists(self, path: Path) -> bool:
        return path.exists()


__all__ = ["Files"]
