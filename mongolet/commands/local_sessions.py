"""``$listLocalSessions``: the sessions this server holds in memory, as documents.

mongod lists ``{_id: {id, uid}, lastUse}`` per session, ``uid`` being the SHA-256 digest of
the owning user. mongolet runs without authentication, so every session belongs to the
unauthenticated user (digest of the empty name): ``{}`` and ``{allUsers: true}`` list them
all, ``{users: [...]}`` lists those of the named users (none).
"""

from __future__ import annotations

import datetime
import hashlib
import time
from typing import Any

from bson import Binary

from mongolet.commands.registry import CommandContext, type_name
from mongolet.errors import MongoError

_NO_AUTH_DIGEST = Binary(hashlib.sha256(b"").digest())
_FIELDS = ("allUsers", "users")


def _user_digest(user: Any) -> Binary:
    if not isinstance(user, dict) or not isinstance(user.get("user"), str) \
            or not isinstance(user.get("db"), str):
        raise MongoError(40414, "BSON field '$listLocalSessions.users.user' is missing but a "
                                "required field")
    return Binary(hashlib.sha256(f"{user['user']}@{user['db']}".encode()).digest())


def list_local_sessions(ctx: CommandContext, spec: Any) -> list[dict[str, Any]]:
    """The stage's documents for ``spec`` (its argument)."""
    if not isinstance(spec, dict):
        raise MongoError(14, f"BSON field '$listLocalSessions' is the wrong type "
                             f"'{type_name(spec)}', expected type 'object'")
    for field in spec:
        if field not in _FIELDS:
            raise MongoError(40415, f"BSON field '$listLocalSessions.{field}' is an unknown "
                                    "field.")
    users = spec.get("users")
    if users is not None and not isinstance(users, list):
        raise MongoError(14, f"BSON field '$listLocalSessions.users' is the wrong type "
                             f"'{type_name(users)}', expected type 'array'")
    wanted = None if spec.get("allUsers") or users is None else \
        {bytes(_user_digest(u)) for u in users}
    if wanted is not None and bytes(_NO_AUTH_DIGEST) not in wanted:
        return []
    # Sessions remember monotonic times; lastUse is a wall-clock date (millisecond precision).
    offset = time.time() - time.monotonic()
    docs = []
    for session in list(ctx.state.sessions.values()):
        millis = int((session.last_used + offset) * 1000)
        last_use = datetime.datetime.fromtimestamp(millis / 1000, datetime.UTC)
        docs.append({"_id": {"id": session.id, "uid": _NO_AUTH_DIGEST},
                     "lastUse": last_use.replace(tzinfo=None)})
    return docs
