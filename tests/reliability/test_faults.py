"""Faults injected with mongod's ``failCommand`` fail point while ``uow.run`` moves money.

Each scenario fails one command of a transfer (a write of the flush, a read, the commit) in
one way (a transient error, a closed connection, a lost commit reply, a non-transient error)
and checks the outcome on both twins: the transfer applied exactly once (balances moved once,
one ledger entry: the one ``run`` returned), or a clear error and nothing applied. The
attempts, the ``commitTransaction`` commands sent and the faults counted must be those that
PyMongo's transaction rules (``with_transaction``) predict, so a scenario whose fault did not
fire, or fired more than configured, fails too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from tests.reliability.conftest import Books, FailPoint, FaultRecorder, make_transfer
from tests.uow.conftest import Twin, call
from tests.uow.models import Account
from uow import ConcurrencyError

TRANSIENT = "TransientTransactionError"
UNKNOWN_COMMIT = "UnknownTransactionCommitResult"
ONCE = None  # the expected error of a scenario whose transfer is applied once


@dataclass(frozen=True)
class Fault:
    id: str
    command: str  # the command failCommand fails
    mode: Any  # {"times": n} or "alwaysOn"
    data: dict[str, Any]
    attempts: int | None  # calls of the unit's function (None: several, until the budget)
    commits: int | None  # commitTransaction commands sent (None: several)
    error: type[BaseException] | None = ONCE
    code: int | None = None
    label: str | None = None  # a label the error carries
    no_label: str | None = None  # a label it must not carry
    budget: float = 120.0
    faults: int | None = field(default=None)  # faults injected (None: times, or several)
    midway: bool = False  # set the fail point inside the transaction, after its first read


# The flush's write command: `update` (7.0: one bulk_write per collection) or `bulkWrite`
# (8.0: one command for all collections), as the twin's server decides.
WRITE = "<the flush's write command>"

FAULTS = [
    # -- a write of the flush
    Fault("transient-error-on-write", WRITE, {"times": 1},
          {"errorCode": 112, "errorLabels": [TRANSIENT]}, attempts=2, commits=1),
    Fault("closed-connection-on-write", WRITE, {"times": 1},
          {"closeConnection": True}, attempts=2, commits=1),
    # -- a read mid-transaction (the second get of the transfer)
    Fault("closed-connection-on-read-mid-transaction", "find", {"times": 1},
          {"closeConnection": True}, attempts=2, commits=1, midway=True),
    # -- the commit
    Fault("transient-error-on-commit", "commitTransaction", {"times": 1},
          {"errorCode": 112, "errorLabels": [TRANSIENT]}, attempts=2, commits=2),
    # a network error: PyMongo retries the commit once by itself...
    Fault("closed-connection-on-commit", "commitTransaction", {"times": 1},
          {"closeConnection": True}, attempts=1, commits=2),
    # ...twice: UnknownTransactionCommitResult, and the unit sends the commit again
    Fault("closed-connection-on-commit-twice", "commitTransaction", {"times": 2},
          {"closeConnection": True}, attempts=1, commits=3),
    Fault("shutdown-error-on-commit-twice", "commitTransaction", {"times": 2},
          {"errorCode": 91}, attempts=1, commits=3),
    # the commit is applied but its reply carries an error: the retried commits must not
    # apply it again
    Fault("commit-applied-reply-lost", "commitTransaction", {"times": 2},
          {"writeConcernError": {"code": 91}}, attempts=1, commits=3),
    Fault("commit-applied-write-concern-timeout", "commitTransaction", {"times": 1},
          {"writeConcernError": {"code": 64, "errInfo": {"wtimeout": True}}},
          attempts=1, commits=2),
    # -- clear errors, nothing applied
    Fault("commit-max-time-expired", "commitTransaction", {"times": 1}, {"errorCode": 50},
          attempts=1, commits=1, error=OperationFailure, code=50, label=UNKNOWN_COMMIT),
    Fault("transient-error-outlasting-the-budget", WRITE, "alwaysOn",
          {"errorCode": 112, "errorLabels": [TRANSIENT]}, attempts=None, commits=0,
          error=ConcurrencyError, code=112, label=TRANSIENT, budget=0.3),
    Fault("closed-connection-on-commit-outlasting-the-budget", "commitTransaction",
          "alwaysOn", {"closeConnection": True}, attempts=1, commits=None,
          error=ConnectionFailure, label=UNKNOWN_COMMIT, no_label=TRANSIENT, budget=1.5),
    Fault("non-transient-error-on-write", WRITE, {"times": 1}, {"errorCode": 2},
          attempts=1, commits=0, error=OperationFailure, code=2, no_label=TRANSIENT),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
async def test_a_fault_leaves_the_transfer_applied_once_or_not_at_all(
    twin: Twin,
    fault: Fault,
    fail_point: FailPoint,
    fault_recorder: FaultRecorder,
    admin_client: MongoClient,
    db_name: str,
    figures: Any,
) -> None:
    alice, bob = Account(owner="alice", balance=100), Account(owner="bob", balance=100)
    await twin.save(alice, bob)
    books = Books(admin_client, db_name)
    start = books.balances()
    attempts: list[int] = []
    unit = twin.unit(retry_budget=fault.budget)
    command = fault.command
    if command == WRITE:
        command = "bulkWrite" if twin.engine.client_bulk_write_supported() else "update"

    def arm() -> None:
        fail_point.fail(fault.mode, failCommands=[command], **fault.data)

    transfer = make_transfer(twin.flavour, attempts, midway=arm if fault.midway else None)
    fault_recorder.clear()
    fault_recorder.faults.clear()

    if not fault.midway:
        arm()
    raised: BaseException | None = None
    try:
        entry = await call(unit.run(transfer, alice.id, bob.id, 30))
    except (PyMongoError, ConcurrencyError) as error:
        raised = error
    finally:
        fail_point.off()

    balances = books.check(start)
    ledger = books.ledger()
    if fault.error is ONCE:
        assert raised is None, f"the transfer failed: {raised!r}"
        assert [e["_id"] for e in ledger] == [entry.id]  # once, and the one reported
        assert balances == {alice.id: 70, bob.id: 130}
    else:
        assert isinstance(raised, fault.error), f"expected {fault.error.__name__}, got {raised!r}"
        assert ledger == [] and balances == start  # nothing applied
        if fault.code is not None:  # a write conflict's driver error is its cause
            driver = raised.__cause__ if isinstance(raised, ConcurrencyError) else raised
            assert isinstance(driver, OperationFailure) and driver.code == fault.code
    if fault.label is not None:
        assert raised is not None and raised.has_error_label(fault.label)
    if fault.no_label is not None:
        assert raised is not None and not raised.has_error_label(fault.no_label)

    commits = fault_recorder.sent("commitTransaction")
    injected = len(fault_recorder.faults)
    assert all(name == command for name, _ in fault_recorder.faults)
    if fault.attempts is None:
        assert len(attempts) >= 2  # retried until the budget ran out
    else:
        assert len(attempts) == fault.attempts
    if fault.commits is None:
        assert commits >= 3  # PyMongo's own retry, then the unit's
    else:
        assert commits == fault.commits
    if fault.faults is not None:
        assert injected == fault.faults
    elif isinstance(fault.mode, dict) and "times" in fault.mode:
        assert injected == fault.mode["times"]
    else:  # alwaysOn: every command it matched failed
        assert injected == (commits if fault.command == "commitTransaction" else len(attempts))
    figures(transfers=len(ledger), faults=injected, attempts=len(attempts), commits=commits,
            losses=0)


async def test_a_commit_applied_whose_reply_is_lost_is_not_applied_again(
    fault_uri: str, fail_point: FailPoint, app_name: str, db_name: str,
    admin_client: MongoClient,
) -> None:
    """The server's side of exactly once, with a write that is not idempotent (``$inc``):
    a commitTransaction sent again for a committed transaction answers ok and changes
    nothing, as mongod does (the unit's own writes set values, so a replay would not show)."""
    recorder = FaultRecorder()
    with MongoClient(fault_uri, appName=app_name, event_listeners=[recorder]) as client:
        counters = client[db_name].counters
        counters.insert_one({"_id": "c", "n": 0})
        fail_point.fail({"times": 2}, failCommands=["commitTransaction"],
                        writeConcernError={"code": 91})
        with client.start_session() as session:
            session.with_transaction(
                lambda s: counters.update_one({"_id": "c"}, {"$inc": {"n": 1}}, session=s))
            session.commit_transaction()  # and once more, explicitly: still ok
        fail_point.off()
        assert counters.find_one({"_id": "c"}) == {"_id": "c", "n": 1}
        assert recorder.sent("commitTransaction") == 4 and len(recorder.faults) == 2
