"""Write concerns a one-member replica set cannot satisfy.

mongolet is a replica set of one data-bearing member. As on mongod, a write concern asking
for more acknowledgements (``w: 2`` and up) does not stop the write: it is applied, and the
reply carries a ``writeConcernError`` 100 UnsatisfiableWriteConcern. ``w: "majority"`` and
``w`` of 0 or 1 are satisfied; other tag names are unknown modes (79). A malformed ``w`` is
refused before the command runs (FailedToParse).
"""

from __future__ import annotations

from typing import Any

from mongolet.errors import MongoError
from mongolet.query.values import is_number, numeric

DATA_BEARING_MEMBERS = 1


def check(write_concern: Any) -> None:
    """Refuse a malformed write concern (before running the command)."""
    if not isinstance(write_concern, dict):
        return
    w = write_concern.get("w")
    if w is None or isinstance(w, str | dict):
        return
    if not is_number(w):
        raise MongoError(9, "w has to be a number, string, or object")
    if not 0 <= numeric(w) <= 50:
        raise MongoError(9, "w has to be a non-negative number and not greater than 50; "
                            f"found: {w}")


def error_for(write_concern: Any) -> dict[str, Any] | None:
    """The ``writeConcernError`` a successful command answers with, if any."""
    if not isinstance(write_concern, dict):
        return None
    w = write_concern.get("w")
    # mongod names the write concern it could not satisfy, and where it came from.
    info = {"writeConcern": {**write_concern, "provenance": "clientSupplied"}}
    if isinstance(w, str):
        if w == "majority":
            return None
        return {"code": 79, "codeName": "UnknownReplWriteConcern",
                "errmsg": f"No write concern mode named '{w}' found in replica set "
                          "configuration", "errInfo": info}
    if is_number(w) and numeric(w) > DATA_BEARING_MEMBERS:
        return {"code": 100, "codeName": "UnsatisfiableWriteConcern",
                "errmsg": "Not enough data-bearing nodes", "errInfo": info}
    return None
