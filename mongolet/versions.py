"""The MongoDB release mongolet presents itself as: 8.0 by default, or 7.0.

The release decides what the handshake and ``buildInfo`` report (a driver picks its code paths
from ``maxWireVersion``) and which 8.0 features answer: the ``bulkWrite`` command and ``sort``
on a single-document update. Running as 7.0 keeps the older paths of drivers and of this
project's own unit of work tested.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerVersion:
    name: str  # "8.0"
    version: str  # buildInfo.version
    version_array: tuple[int, int, int, int]
    max_wire_version: int

    @property
    def at_least_8(self) -> bool:
        """8.0's features: the ``bulkWrite`` command, ``sort`` in updateOne / replaceOne."""
        return self.max_wire_version >= 25


VERSIONS: dict[str, ServerVersion] = {
    "8.0": ServerVersion("8.0", "8.0.0", (8, 0, 0, 0), 25),
    "7.0": ServerVersion("7.0", "7.0.0", (7, 0, 0, 0), 21),
}
DEFAULT_VERSION = "8.0"


def server_version(name: str) -> ServerVersion:
    """The release called ``name`` ("8.0" or "7.0"; "8" and "7" too); ValueError otherwise."""
    key = name if "." in name else f"{name}.0"
    try:
        return VERSIONS[key]
    except KeyError:
        raise ValueError(f"mongolet can present itself as MongoDB {' or '.join(VERSIONS)}, "
                         f"not {name!r}") from None
