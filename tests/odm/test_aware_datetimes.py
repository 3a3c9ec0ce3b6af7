"""Aware datetimes stay aware: ``AwareDatetime`` fields, and every datetime read through a
client created with ``tz_aware=True``; naive (UTC) and aware values of one instant are no
change for ``save``."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator

import pytest
from pydantic import AwareDatetime, ValidationError
from pymongo import AsyncMongoClient, MongoClient

from odm import AIOEngine, Model, SyncEngine
from tests.odm.helpers import CommandRecorder, call, find

Engine = SyncEngine | AIOEngine
UTC = datetime.UTC
PARIS = datetime.timezone(datetime.timedelta(hours=2))


class Meeting(Model):
    at: datetime.datetime
    booked: AwareDatetime
    reminders: list[datetime.datetime] = []


def _meeting() -> Meeting:
    return Meeting(
        at=datetime.datetime(2024, 5, 1, 9, 30, tzinfo=PARIS),
        booked=datetime.datetime(2024, 4, 1, 8, 0, 0, 123456, tzinfo=PARIS),
        reminders=[datetime.datetime(2024, 4, 30, 9, 0)],
    )


def test_aware_datetime_fields_are_aware_utc() -> None:
    meeting = _meeting()
    assert meeting.booked == datetime.datetime(2024, 4, 1, 6, 0, 0, 123000, tzinfo=UTC)
    assert meeting.booked.tzinfo is UTC
    assert meeting.at == datetime.datetime(2024, 5, 1, 7, 30)  # plain fields: naive UTC
    with pytest.raises(ValidationError, match="timezone"):
        Meeting(at=meeting.at, booked=datetime.datetime(2024, 1, 1))


@pytest.fixture(params=["sync", "aio"])
async def tz_engines(
    request: pytest.FixtureRequest, mongodb_uri: str, db_name: str, recorder: CommandRecorder
) -> AsyncIterator[tuple[Engine, Engine]]:
    """(an engine on a default client, one on a ``tz_aware=True`` client), one database,
    the second reporting its commands to ``recorder``."""
    if request.param == "sync":
        naive, aware = MongoClient(mongodb_uri), MongoClient(
            mongodb_uri, tz_aware=True, event_listeners=[recorder]
        )
        yield SyncEngine(naive, db_name), SyncEngine(aware, db_name)
        naive.drop_database(db_name)
        naive.close()
        aware.close()
    else:
        anaive: AsyncMongoClient = AsyncMongoClient(mongodb_uri)
        aaware: AsyncMongoClient = AsyncMongoClient(
            mongodb_uri, tz_aware=True, event_listeners=[recorder]
        )
        yield AIOEngine(anaive, db_name), AIOEngine(aaware, db_name)
        await anaive.drop_database(db_name)
        await anaive.close()
        await aaware.close()


async def test_default_client_reads_naive_but_aware_fields_stay_aware(
    tz_engines: tuple[Engine, Engine],
) -> None:
    naive_engine, _ = tz_engines
    meeting = await call(naive_engine.save(_meeting()))
    (loaded,) = await find(naive_engine, Meeting)
    assert loaded == meeting  # equal to itself after the round trip
    assert loaded.at.tzinfo is None
    assert loaded.booked.tzinfo is UTC and loaded.booked == meeting.booked


async def test_tz_aware_client_reads_every_datetime_aware_utc(
    tz_engines: tuple[Engine, Engine],
) -> None:
    naive_engine, aware_engine = tz_engines
    meeting = _meeting()
    await call(naive_engine.save(meeting))
    (loaded,) = await find(aware_engine, Meeting)
    assert loaded.at == datetime.datetime(2024, 5, 1, 7, 30, tzinfo=UTC)
    assert loaded.at.utcoffset() == datetime.timedelta(0)
    assert loaded.reminders[0] == datetime.datetime(2024, 4, 30, 9, 0, tzinfo=UTC)
    assert loaded.booked == meeting.booked
    assert loaded.at == datetime.datetime(2024, 5, 1, 9, 30, tzinfo=PARIS)  # same instant
    found = await find(aware_engine, Meeting, Meeting.at == datetime.datetime(2024, 5, 1, 7, 30))
    assert found == [loaded]  # filters: a naive value is UTC, as stored


async def test_naive_and_aware_forms_of_one_instant_are_no_change(
    tz_engines: tuple[Engine, Engine], recorder: CommandRecorder
) -> None:
    naive_engine, aware_engine = tz_engines
    await call(naive_engine.save(_meeting()))
    (loaded,) = await find(aware_engine, Meeting)  # snapshot holds aware datetimes
    recorder.clear()
    loaded.at = datetime.datetime(2024, 5, 1, 7, 30)  # naive UTC, the same instant
    loaded.reminders = [datetime.datetime(2024, 4, 30, 9, 0)]
    await call(aware_engine.save(loaded))
    assert recorder.named("update") == [] and recorder.named("insert") == []
    loaded.at = datetime.datetime(2024, 5, 1, 8, 0)
    await call(aware_engine.save(loaded))
    (update,) = recorder.named("update")
    assert update["updates"][0]["u"] == {"$set": {"at": datetime.datetime(2024, 5, 1, 8, 0)}}
