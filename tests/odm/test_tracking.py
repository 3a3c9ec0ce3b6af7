"""odm.tracking: snapshots and minimal updates (pure)."""

from __future__ import annotations

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
