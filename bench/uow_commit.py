"""The unit of work's contender in the unit-of-work section (see :mod:`bench.unit_of_work`).

The models arrive loaded with the engine and changed outside any unit; a fresh unit
attaches them (keeping their load-time snapshots, as a read-modify-write across two units
does) and commits: one ``update`` per collection, then ``commitTransaction``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import MongoClient

import odm
from uow import UnitOfWork


def commit_function(
    client: MongoClient[dict[str, Any]], database: str
) -> Callable[[list[odm.Model]], None]:
    """``commit(models)``: attach the changed ``models`` to a new unit of work and commit."""
    engine = odm.SyncEngine(client, database=database)

    def commit(models: list[odm.Model]) -> None:
        unit = UnitOfWork(engine, repositories={
            model.__name__: model for model in {type(m) for m in models}
        })
        with unit:
            for model in models:
                unit.repository(type(model)).attach(model)

    return commit
