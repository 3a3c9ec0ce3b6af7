"""Time series collections, unbucketed.

A time series collection (``timeseries: {timeField, metaField?, granularity?, ...}``) keeps
its documents as they come, each under a record key of its own, since ``_id`` need not be
unique in it (as on mongod); queries on it select by scanning.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from bson import ObjectId

from mongolet.errors import MongoError
from mongolet.storage import Collection

_GRANULARITIES = ("seconds", "minutes", "hours")
_TIME_SERIES_OPTIONS = {"timeField", "metaField", "granularity", "bucketMaxSpanSeconds",
                        "bucketRoundingSeconds"}


def check_time_series(options: Any) -> None:
    """Refuse ``timeseries`` options mongod refuses."""
    if options is None:
        return
    if not isinstance(options, dict):
        raise MongoError(14, "BSON field 'create.timeseries' is the wrong type, expected "
                             "type 'object'")
    unknown = set(options) - _TIME_SERIES_OPTIONS
    if unknown:
        raise MongoError(40415, f"BSON field 'create.timeseries.{sorted(unknown)[0]}' is an "
                                "unknown field.")
    if not isinstance(options.get("timeField"), str):
        raise MongoError(40414, "BSON field 'create.timeseries.timeField' is missing but a "
                                "required field")
    if options.get("granularity", "seconds") not in _GRANULARITIES:
        raise MongoError(2, f"Invalid timeseries granularity: {options['granularity']}")


def time_series_key(coll: Collection) -> Hashable | None:
    """A fresh record key for a document of a time series collection (None otherwise)."""
    if "timeseries" not in coll.options:
        return None
    return ("timeseries", ObjectId())
