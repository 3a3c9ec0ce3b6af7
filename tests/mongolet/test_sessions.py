"""Sessions: lsid on every command, cursors that die with their session, endSessions,
killAllSessions, causal consistency."""

from __future__ import annotations

import pytest
from pymongo import MongoClient, monitoring
from pymongo.errors import OperationFailure
from pymongo.synchronous.database import Database


def test_cursor_belongs_to_its_session(client: MongoClient, db: Database) -> None:
    db.c.insert_many([{"_id": i} for i in range(10)])
    with client.start_session() as s1, client.start_session() as s2:
        reply = db.command("find", "c", batchSize=2, session=s1)
        cursor_id = reply["cursor"]["id"]
        with pytest.raises(OperationFailure) as info:
            db.command("getMore", cursor_id, collection="c", session=s2)
        assert info.value.code == 50737
        more = db.command("getMore", cursor_id, collection="c", session=s1)
        assert len(more["cursor"]["nextBatch"]) == 8


def test_end_sessions_kills_cursors(mongodb_uri: str, db: Database) -> None:
    db.c.insert_many([{"_id": i} for i in range(10)])
    with MongoClient(mongodb_uri) as c:
        s = c.start_session()
        reply = c[db.name].command("find", "c", batchSize=2, session=s)
        cursor_id = reply["cursor"]["id"]
        c.admin.command("endSessions", [s.session_id])
        with pytest.raises(OperationFailure) as info:
            c[db.name].command("getMore", cursor_id, collection="c", session=s)
        assert info.value.code == 43
        s.end_session()


def test_kill_all_sessions_aborts_transactions(mongodb_uri: str) -> None:
    import mongolet

    with mongolet.serve() as server, MongoClient(server.uri) as c:
        c.t.c.insert_one({"_id": 1, "v": 0})
        s = c.start_session()
        s.start_transaction()
        c.t.c.update_one({"_id": 1}, {"$set": {"v": 1}}, session=s)
        c.admin.command("killAllSessions", [])
        c.t.c.update_one({"_id": 1}, {"$set": {"v": 2}})  # not blocked any more
        with pytest.raises(OperationFailure):
            s.commit_transaction()
        s.end_session()
        assert c.t.c.find_one() == {"_id": 1, "v": 2}


def test_causally_consistent_session_reads_its_writes(client: MongoClient,
                                                      db: Database) -> None:
    with client.start_session(causal_consistency=True) as s:
        db.c.insert_one({"_id": 1}, session=s)
        assert s.operation_time is not None
        assert db.c.find_one({"_id": 1}, session=s) == {"_id": 1}


class _Commands(monitoring.CommandListener):
    """The commands a client sent, and the names of those that succeeded."""

    def __init__(self) -> None:
        self.sent: list[monitoring.CommandStartedEvent] = []
        self.succeeded_names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append(event)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.succeeded_names.append(event.command_name)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_client_close_sends_end_sessions_without_error(mongodb_uri: str) -> None:
    commands = _Commands()
    c: MongoClient = MongoClient(mongodb_uri, event_listeners=[commands])
    with c.start_session() as s:
        c.admin.command("ping", session=s)
        lsid = s.session_id
    assert "endSessions" not in [e.command_name for e in commands.sent]
    c.close()
    ended = [e for e in commands.sent if e.command_name == "endSessions"]
    assert len(ended) == 1
    assert lsid in ended[0].command["endSessions"]  # the pooled session, ended at close
    assert "endSessions" in commands.succeeded_names
