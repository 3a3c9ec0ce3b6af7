"""``fail_point(client, "commitTransaction", error_code=112)``: mongod's ``failCommand`` fail
point as a context manager, for a sync client (``with``) or an async one (``async with``).

The server needs test commands enabled (``enableTestCommands=1`` on mongod; the plugin's
mongolet has them). The fail point is switched off on exit, whether the block raised or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any


class FailPoint:
    """The ``failCommand`` fail point over ``client``: on while the block runs, off after."""

    def __init__(self, client: Any, on: Mapping[str, Any]) -> None:
        self.client = client
        self.command = dict(on)  # the configureFailPoint command that turns it on

    @property
    def off(self) -> dict[str, Any]:
        return {"configureFailPoint": "failCommand", "mode": "off"}

    def __enter__(self) -> FailPoint:
        self.client.admin.command(self.command)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.client.admin.command(self.off)

    async def __aenter__(self) -> FailPoint:
        await self.client.admin.command(self.command)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.client.admin.command(self.off)


def fail_point(
    client: Any,
    commands: str | Iterable[str],
    *,
    error_code: int | None = None,
    labels: Iterable[str] | None = None,
    close_connection: bool = False,
    times: int | None = 1,
    block_ms: int | None = None,
    write_concern_error: Mapping[str, Any] | None = None,
    app_name: str | None = None,
) -> FailPoint:
    """Make the next ``times`` runs of ``commands`` (a name or several) fail.

    ``error_code`` answers with that error (112 WriteConflict, 91 ShutdownInProgress...),
    ``labels`` replaces the error's labels (``["TransientTransactionError"]``),
    ``close_connection=True`` drops the connection (the driver sees a network error),
    ``block_ms`` delays the command first, ``write_concern_error`` adds one to a successful
    reply, ``app_name`` limits it to clients of that ``appname``. ``times=None`` keeps it on
    until the block ends.
    """
    names = [commands] if isinstance(commands, str) else list(commands)
    if not names:
        raise ValueError("fail_point needs at least one command name")
    if error_code is None and not close_connection and block_ms is None \
            and write_concern_error is None and labels is None:
        raise ValueError("fail_point needs error_code, labels, close_connection, block_ms "
                         "or write_concern_error: what should the command do?")
    if times is not None and times < 1:
        raise ValueError(f"times must be at least 1, not {times}")
    data: dict[str, Any] = {"failCommands": names}
    if error_code is not None:
        data["errorCode"] = error_code
    if labels is not None:
        data["errorLabels"] = list(labels)
    if close_connection:
        data["closeConnection"] = True
    if block_ms is not None:
        data["blockConnection"], data["blockTimeMS"] = True, block_ms
    if write_concern_error is not None:
        data["writeConcernError"] = dict(write_concern_error)
    if app_name is not None:
        data["appName"] = app_name
    mode: Any = "alwaysOn" if times is None else {"times": times}
    return FailPoint(client, {"configureFailPoint": "failCommand", "mode": mode, "data": data})
