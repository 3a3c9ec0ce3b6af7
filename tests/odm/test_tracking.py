"""odm.tracking: snapshots and minimal updates (pure)."""

from __future__ import annotations

import datetime
import random

import bson
import pytest

from odm import tracking
from odm.tracking import diff
from tests.odm.models import Address, Customer, Item


def test_equal_documents_need_no_update() -> None:
    assert diff({"a": 1, "b": {"c": [1, {"d": 2}]}}, {"a": 1, "b": {"c": [1, {"d": 2}]}}) == {}


def test_changed_values_are_set_with_dotted_paths() -> None:
    old = {"_id": 1, "a": 1, "sub": {"x": 1, "y": {"z": 1}}}
    new = {"_id": 1, "a": 2, "sub": {"x": 1, "y": {"z": 2}}}
    assert diff(old, new) == {"$set": {"a": 2, "sub.y.z": 2}}


def test_lists_are_set_whole_and_removed_keys_unset() -> None:
    old = {"l": [1, 2], "gone": 1, "sub": {"k": 1, "drop": 2}}
    new = {"l": [1, 2, 3], "sub": {"k": 1}, "added": None}
    assert diff(old, new) == {
        "$set": {"l": [1, 2, 3], "added": None},
        "$unset": {"gone": "", "sub.drop": ""},
    }
    assert diff(old, new, unset_missing=False) == {
        "$set": {"l": [1, 2, 3], "added": None},
        "$unset": {"sub.drop": ""},
    }


def test_bson_types_matter() -> None:
    assert diff({"a": 1}, {"a": 1.0}) == {"$set": {"a": 1.0}}
    assert diff({"a": [1]}, {"a": [True]}) == {"$set": {"a": [True]}}
    assert diff({"a": {"b": 1}}, {"a": 5}) == {"$set": {"a": 5}}


def test_keys_that_are_not_paths_set_the_whole_sub_document() -> None:
    assert diff({"d": {"a.b": 1}}, {"d": {"a.b": 2}}) == {"$set": {"d": {"a.b": 2}}}
    assert diff({"d": {"$x": 1}}, {"d": {"$x": 2}}) == {"$set": {"d": {"$x": 2}}}


def test_instances_track_in_place_changes() -> None:
    customer = Customer(name="a", address=Address(city="x"), items=[Item(sku="s")])
    assert tracking.is_new(customer)
    document, update = tracking.changes(customer)
    assert update is None and document["n"] == "a"
    tracking.mark_persisted(customer, document)
    assert not tracking.is_new(customer)
    assert tracking.snapshot_of(customer) is document
    assert tracking.changes(customer)[1] == {}

    customer.tags.append("t")
    customer.address.city = "y"  # type: ignore[union-attr]
    customer.items[0].qty = 5
    customer.extra["k"] = 1
    assert tracking.changes(customer)[1] == {
        "$set": {"tags": ["t"], "address.city": "y", "items": [{"sku": "s", "qty": 5}], "extra.k": 1}
    }
    customer.address = None
    assert tracking.changes(customer)[1]["$set"]["address"] is None  # type: ignore[index]


def test_keys_unknown_to_the_model_are_not_unset() -> None:
    customer = Customer.model_validate_doc({"_id": Customer(name="x").id, "n": "x", "legacy": 1})
    tracking.mark_persisted(customer, {**customer.model_dump_doc(), "legacy": 1})
    customer.age = 3
    assert tracking.changes(customer)[1] == {"$set": {"age": 3}}


def test_forget_and_restore() -> None:
    customer = Customer(name="a")
    tracking.mark_persisted(customer, {"n": "a"})
    tracking.forget(customer)
    assert tracking.is_new(customer)
    tracking.restore([(customer, {"n": "b"}), (customer, None)])
    assert tracking.snapshot_of(customer) == {"n": "b"}


# The definition diff keeps to, written plainly: the fast paths must give the same updates.


def _reference_same(old: object, new: object) -> bool:
    if type(old) is not type(new):
        return False
    if isinstance(old, list):
        return len(old) == len(new) and all(map(_reference_same, old, new))  # type: ignore[arg-type]
    if isinstance(old, dict):
        return old.keys() == new.keys() and all(  # type: ignore[attr-defined]
            _reference_same(v, new[k]) for k, v in old.items()  # type: ignore[index]
        )
    return bool(old == new)


def _reference_diff(old: dict, new: dict, prefix: str, set_: dict, unset: dict, unset_missing: bool) -> None:  # type: ignore[type-arg]
    plain = lambda d: all(k and "." not in k and not k.startswith("$") for k in d)  # noqa: E731
    for key, value in new.items():
        if key not in old:
            set_[prefix + key] = value
        elif type(old[key]) is dict and type(value) is dict and plain(value) and plain(old[key]):
            _reference_diff(old[key], value, prefix + key + ".", set_, unset, True)
        elif not _reference_same(old[key], value):
            set_[prefix + key] = value
    if unset_missing:
        unset.update({prefix + key: "" for key in old if key not in new})


def _value(rng: random.Random, depth: int = 0) -> object:
    nan = float("nan")
    leaves = [0, 1, 1.0, True, False, None, "a", "b", "", b"x", nan, 2**40,
              bson.ObjectId("5f85f36d6dfecacc68428a46"), bson.Int64(1),
              datetime.datetime(2024, 1, 1), bson.Decimal128("1")]
    kind = rng.randrange(6) if depth < 3 else 0
    if kind == 4:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 5:
        keys = ["a", "b", "c", "a.b", "$x"]
        return {k: _value(rng, depth + 1) for k in rng.sample(keys, rng.randrange(4))}
    return rng.choice(leaves)


def _mutated(rng: random.Random, value: object) -> object:
    if isinstance(value, dict) and value and rng.random() < 0.7:
        copy = dict(value)
        key = rng.choice(list(copy))
        choice = rng.randrange(3)
        if choice == 0:
            del copy[key]
        elif choice == 1:
            copy[key] = _mutated(rng, copy[key])
        else:
            copy["new"] = _value(rng)
        return copy
    if isinstance(value, list) and value and rng.random() < 0.5:
        copy_list = list(value)
        index = rng.randrange(len(copy_list))
        copy_list[index] = _mutated(rng, copy_list[index])
        return copy_list
    return value if rng.random() < 0.4 else _value(rng)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("unset_missing", [True, False])
def test_diff_matches_its_definition(seed: int, unset_missing: bool) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        old = {k: _value(rng) for k in rng.sample(["_id", "a", "b", "c", "d"], rng.randrange(1, 5))}
        new = {k: _mutated(rng, v) for k, v in old.items() if rng.random() < 0.9}
        if rng.random() < 0.3:
            new["e"] = _value(rng)
        set_: dict[str, object] = {}
        unset: dict[str, object] = {}
        _reference_diff(old, new, "", set_, unset, unset_missing)
        expected = {**({"$set": set_} if set_ else {}), **({"$unset": unset} if unset else {})}
        assert diff(old, new, unset_missing=unset_missing) == expected
        assert tracking.same_value(old, new) is _reference_same(old, new)
