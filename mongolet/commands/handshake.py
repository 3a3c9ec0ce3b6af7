"""The handshake and heartbeats: hello / isMaster, as a one-member replica set primary.

``topologyVersion`` is left out on purpose (with it drivers switch to streaming heartbeats
the server would have to hold open) and compression is never advertised.
"""

from __future__ import annotations

import datetime
from typing import Any

from bson import Int64, ObjectId

from mongolet.commands.registry import CommandContext, command

_ELECTION_ID = ObjectId("7fffffff0000000000000001")


@command("hello", "isMaster", in_transaction=True)
async def hello(ctx: CommandContext) -> dict[str, Any]:
    state = ctx.state
    client = ctx.body.get("client")
    if isinstance(client, dict):
        app = client.get("application")
        if isinstance(app, dict) and isinstance(app.get("name"), str):
            ctx.conn.app_name = app["name"]
    now = datetime.datetime.now(datetime.UTC)
    op_time = {"ts": state.cluster_time(), "t": Int64(1)}
    reply: dict[str, Any] = {}
    if ctx.name == "hello":
        reply["isWritablePrimary"] = True
    else:
        reply["ismaster"] = True
    reply["helloOk"] = True
    if state.replica_set:  # a standalone mongod (no set name) reports no replica set fields
        reply.update({
            "hosts": [state.address],
            "setName": state.replica_set,
            "setVersion": 1,
            "secondary": False,
            "primary": state.address,
            "me": state.address,
            "electionId": _ELECTION_ID,
            "lastWrite": {"opTime": op_time, "lastWriteDate": now,
                          "majorityOpTime": op_time, "majorityWriteDate": now},
        })
    reply.update({
        "maxBsonObjectSize": 16 * 1024 * 1024,
        "maxMessageSizeBytes": 48_000_000,
        "maxWriteBatchSize": 100_000,
        "localTime": now,
        "logicalSessionTimeoutMinutes": 30,
        "connectionId": ctx.conn.id,
        "minWireVersion": 0,
        "maxWireVersion": state.version.max_wire_version,
        "readOnly": False,
        "ok": 1.0,
    })
    return reply
