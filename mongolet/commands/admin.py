"""Diagnostics and session administration: what drivers and test harnesses ask a server
besides reading and writing data."""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from typing import Any

from bson import Int64

from mongolet.commands.registry import CommandContext, command
from mongolet.errors import MongoError


@command("ping", in_transaction=True)
async def ping(ctx: CommandContext) -> dict[str, Any]:
    return {"ok": 1.0}


@command("buildInfo", in_transaction=True)
async def build_info(ctx: CommandContext) -> dict[str, Any]:
    return {
        "version": ctx.state.version.version,
        "gitVersion": "mongolet",
        "versionArray": list(ctx.state.version.version_array),
        "bits": 64,
        "debug": False,
        "maxBsonObjectSize": 16 * 1024 * 1024,
        "storageEngines": ["mongolet"],
        "javascriptEngine": "none",
        "modules": [],
        "ok": 1.0,
    }


@command("getCmdLineOpts", admin_only=True)
async def get_cmd_line_opts(ctx: CommandContext) -> dict[str, Any]:
    state = ctx.state
    return {
        "argv": ["mongolet", "--port", str(state.port), "--replSet", state.replica_set],
        "parsed": {"net": {"bindIp": state.host, "port": state.port},
                   "replication": {"replSet": state.replica_set},
                   "setParameter": {"enableTestCommands": "1" if state.enable_test_commands
                                    else "0"}},
        "ok": 1.0,
    }


def _parameters(ctx: CommandContext) -> dict[str, Any]:
    params: dict[str, Any] = {
        "enableTestCommands": ctx.state.enable_test_commands,
        "transactionLifetimeLimitSeconds": int(ctx.state.txns.lifetime),
        "featureCompatibilityVersion": {"version": ctx.state.version.name},
        "maxTransactionLockRequestTimeoutMillis": 5,
        "requireApiVersion": False,
    }
    params.update(ctx.state.parameters)
    return params


@command("getParameter", admin_only=True)
async def get_parameter(ctx: CommandContext) -> dict[str, Any]:
    params = _parameters(ctx)
    if ctx.arg() == "*":
        return {**params, "ok": 1.0}
    wanted = [k for k in ctx.body if k not in ("getParameter", "$db", "lsid", "$clusterTime",
                                               "$readPreference", "comment")]
    reply = {k: params[k] for k in wanted if k in params}
    if not reply:
        raise MongoError(72, "no option found to get")
    return {**reply, "ok": 1.0}


@command("setParameter", admin_only=True)
async def set_parameter(ctx: CommandContext) -> dict[str, Any]:
    changed = {k: v for k, v in ctx.body.items()
               if k not in ("setParameter", "$db", "lsid", "$clusterTime", "$readPreference")}
    was = _parameters(ctx)
    for key, value in changed.items():
        if key == "transactionLifetimeLimitSeconds":
            ctx.state.txns.lifetime = float(value)
        else:
            ctx.state.parameters[key] = value
    return {"was": {k: was.get(k) for k in changed}, "ok": 1.0}


@command("serverStatus")
async def server_status(ctx: CommandContext) -> dict[str, Any]:
    state = ctx.state
    return {
        "host": state.address,
        "version": state.version.version,
        "process": "mongolet",
        "pid": Int64(os.getpid()),
        "uptime": float(time.time() - state.started),
        "localTime": datetime.datetime.now(datetime.UTC),
        "storageEngine": {"name": "mongolet", "supportsCommittedReads": True,
                          "persistent": False},
        "transactions": {"currentActive": Int64(len(state.txns.active))},
        "logicalSessionRecordCache": {"activeSessionsCount": len(state.sessions)},
        "ok": 1.0,
    }


@command("hostInfo")
async def host_info(ctx: CommandContext) -> dict[str, Any]:
    return {
        "system": {"hostname": ctx.state.address, "cpuArch": platform.machine(),
                   "numCores": os.cpu_count() or 1},
        "os": {"type": platform.system(), "name": platform.platform()},
        "extra": {"pythonVersion": sys.version.split()[0]},
        "ok": 1.0,
    }


@command("whatsmyuri")
async def whatsmyuri(ctx: CommandContext) -> dict[str, Any]:
    return {"you": ctx.conn.client, "ok": 1.0}


@command("connectionStatus", in_transaction=True)
async def connection_status(ctx: CommandContext) -> dict[str, Any]:
    return {"authInfo": {"authenticatedUsers": [], "authenticatedUserRoles": []}, "ok": 1.0}


@command("getLog", admin_only=True)
async def get_log(ctx: CommandContext) -> dict[str, Any]:
    if ctx.arg() == "*":
        return {"names": ["global", "startupWarnings"], "ok": 1.0}
    return {"totalLinesWritten": 0, "log": [], "ok": 1.0}


@command("replSetGetStatus", admin_only=True)
async def repl_set_get_status(ctx: CommandContext) -> dict[str, Any]:
    state = ctx.state
    return {"set": state.replica_set, "myState": 1,
            "members": [{"_id": 0, "name": state.address, "health": 1.0, "state": 1,
                         "stateStr": "PRIMARY", "self": True}],
            "ok": 1.0}


@command("endSessions", "killSessions")
async def end_sessions(ctx: CommandContext) -> dict[str, Any]:
    ids = ctx.arg()
    if not isinstance(ids, list):
        raise MongoError(14, f"BSON field '{ctx.name_key}' is the wrong type, expected type "
                             "'array'")
    for lsid in ids:
        if isinstance(lsid, dict) and "id" in lsid:
            _end_session(ctx, lsid["id"])
    return {"ok": 1.0}


@command("killAllSessions")
async def kill_all_sessions(ctx: CommandContext) -> dict[str, Any]:
    for session_id in list(ctx.state.sessions):
        _end_session(ctx, session_id)
    return {"ok": 1.0}


@command("refreshSessions")
async def refresh_sessions(ctx: CommandContext) -> dict[str, Any]:
    return {"ok": 1.0}


def _end_session(ctx: CommandContext, session_id: Any) -> None:
    ctx.state.snapshot_holds.release(session_id)
    session = ctx.state.sessions.pop(session_id, None)
    if session is None:
        return
    if session.txn is not None:
        ctx.state.txns.abort(session.txn)
    ctx.state.cursors.kill_session(session_id)


@command("startSession")
async def start_session(ctx: CommandContext) -> dict[str, Any]:
    import uuid

    from bson import Binary

    return {"id": {"id": Binary.from_uuid(uuid.uuid4())}, "timeoutMinutes": 30, "ok": 1.0}
