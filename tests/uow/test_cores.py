"""The pure cores, without a server: the effect drivers (odm.engine.effects), the flush plan
(uow.flush.plan) and the retry policy (uow.retry). Everything here is computed, not sent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo.errors import OperationFailure

from odm import tracking
from odm.engine.effects import Effect, Stepper, Steps, drive_async, drive_sync
from tests.uow.models import Account, Owner, Pet, Profile, Transfer
from uow import InvalidUsageError
from uow.flush import DELETE, INSERT, UPDATE, plan
from uow.identity_map import IdentityMap
from uow.retry import RetryPolicy

# ---------------------------------------------------------------- the effect drivers


@dataclass(frozen=True)
class Echo(Effect):
    """An effect whose I/O is giving back its value (or raising its error)."""

    value: Any

    def run_sync(self, engine: Any) -> Any:
        if isinstance(self.value, BaseException):
            raise self.value
        return (engine, self.value)

    async def run_async(self, engine: Any) -> Any:
        await asyncio.sleep(0)
        return self.run_sync(engine)


def steps_recovering() -> Steps[list[Any]]:
    """Sends two effects, recovers from the failing one in between, returns what it saw."""
    seen = [(yield Echo(1))]
    try:
        yield Echo(KeyError("gone"))
    except KeyError as error:
        seen.append(f"recovered {error}")
    seen.append((yield Echo(2)))
    return seen


def steps_failing() -> Steps[None]:
    yield Echo(ValueError("refused"))


def test_drive_sync_sends_results_and_throws_errors_into_the_steps() -> None:
    assert drive_sync(steps_recovering(), "E") == [("E", 1), "recovered 'gone'", ("E", 2)]
    with pytest.raises(ValueError, match="refused"):
        drive_sync(steps_failing(), "E")


async def test_drive_async_gives_the_same_outcome() -> None:
    assert await drive_async(steps_recovering(), "E") == [
        ("E", 1), "recovered 'gone'", ("E", 2),
    ]
    with pytest.raises(ValueError, match="refused"):
        await drive_async(steps_failing(), "E")


def test_steps_without_effects_return_at_once() -> None:
    def nothing() -> Steps[int]:
        return 7
        yield  # a generator all the same

    assert drive_sync(nothing(), None) == 7
    stepper = Stepper(nothing())
    assert stepper.effect is None and stepper.result == 7


def test_the_stepper_runs_one_effect_at_a_time() -> None:
    stepper = Stepper(steps_recovering())
    assert stepper.effect == Echo(1)
    stepper.succeed("one")
    assert isinstance(stepper.effect, Echo) and isinstance(stepper.effect.value, KeyError)
    stepper.fail(KeyError("gone"))
    assert stepper.effect == Echo(2)
    stepper.succeed("two")
    assert stepper.effect is None
    assert stepper.result == ["one", "recovered 'gone'", "two"]


# ---------------------------------------------------------------- the flush plan


def _loaded(instance: Any) -> Any:
    """``instance`` as if just read from the database (its document is its snapshot)."""
    tracking.mark_persisted(instance, instance.model_dump_doc())
    return instance


def test_plan_of_unchanged_models_is_empty() -> None:
    identity_map = IdentityMap()
    identity_map.add(_loaded(Account(owner="a", balance=1)))
    assert plan(identity_map) == []


def test_plan_removes_first_then_inserts_and_updates_only_changed_paths() -> None:
    identity_map = IdentityMap()
    changed, gone = _loaded(Account(owner="a", balance=1)), _loaded(Account(owner="b", balance=2))
    changed.balance = 5
    identity_map.add(changed)
    identity_map.add(Account(owner="new", balance=0))
    identity_map.remove(gone)
    [batch] = plan(identity_map)
    assert batch.collection == "accounts"
    assert [write.kind for write in batch.writes] == [DELETE, INSERT, UPDATE]
    update = batch.writes[2]
    # Only the changed field, and the version bumped and guarded.
    assert update.update == {"$set": {"balance": 5, "version": 1}}
    assert update.filter == {"_id": changed.id, "version": 0}
    assert batch.writes[0].filter == {"_id": gone.id, "version": 0}


def test_plan_has_one_batch_per_collection_in_first_seen_order() -> None:
    identity_map = IdentityMap()
    profile = Profile(name="p", address={"city": "c", "street": "s"})
    identity_map.add(Transfer(source=Account(owner="a", balance=0).id,
                              target=Account(owner="b", balance=0).id, amount=1))
    identity_map.add(profile)
    assert [batch.collection for batch in plan(identity_map)] == ["transfers", "profile"]


def test_plan_refuses_a_reference_to_a_new_untracked_model() -> None:
    identity_map = IdentityMap()
    identity_map.add(Pet(name="Rex", owner=Owner(name="Ann")))
    with pytest.raises(InvalidUsageError, match="references a new Owner"):
        plan(identity_map)


# ---------------------------------------------------------------- the retry policy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _labelled(label: str, code: int = 1) -> OperationFailure:
    return OperationFailure("failed", code, {"errorLabels": [label], "code": code})


def test_retry_policy_retries_labelled_errors_within_its_budget() -> None:
    clock = Clock()
    policy = RetryPolicy(10.0, clock=clock, jitter=lambda: 1.0)
    transient = _labelled("TransientTransactionError")
    unknown = _labelled("UnknownTransactionCommitResult")
    assert policy.retry_transaction(transient)
    assert not policy.retry_transaction(unknown)
    assert policy.retry_commit(unknown)
    assert not policy.retry_commit(_labelled("UnknownTransactionCommitResult", code=50))
    clock.now = 10.0  # the budget spent
    assert not policy.retry_transaction(transient)
    assert not policy.retry_commit(unknown)


def test_retry_policy_backs_off_exponentially_up_to_its_cap() -> None:
    policy = RetryPolicy(10.0, clock=Clock(), jitter=lambda: 1.0)
    delays = [policy.next_delay() for _ in range(20)]
    assert delays[0] == 0.0
    assert delays[1] == pytest.approx(0.0075)
    assert delays[2] == pytest.approx(0.01125)
    assert max(delays) == 0.5 and delays[-1] == 0.5
    assert policy.attempts == 20
    with pytest.raises(ValueError, match="retry budget"):
        RetryPolicy(-1)
