"""The runner's matching rules (pure functions): a wrong matcher would hide server bugs."""

from __future__ import annotations

import pytest
from bson import Binary, Int64

from tests.spec.matching import MISSING, Matcher, MatchError, RootDocuments, equal_exactly
from tests.spec.runner import ServerInfo, skip_reason

match = Matcher(lsid_of=lambda name: {"id": Binary(b"1" * 16, 4)},
                entity=lambda name: {"x": 1}).match


def test_root_documents_allow_extra_fields_but_nested_ones_do_not() -> None:
    match({"x": 1}, {"x": 1, "y": 2})
    with pytest.raises(MatchError, match="unexpected fields"):
        match({"x": {"y": 1}}, {"x": {"y": 1, "z": 1}})


def test_iterable_results_match_each_element_as_a_root_document() -> None:
    match([{"x": 1}], RootDocuments([{"x": 1, "y": 2}]))
    with pytest.raises(MatchError):
        match([{"x": 1}], [{"x": 1, "y": 2}])  # distinct-style array of values
    with pytest.raises(MatchError, match="expected 1 elements"):
        match([{"x": 1}], RootDocuments([{"x": 1}, {"x": 2}]))


def test_numbers_compare_across_types_but_not_with_booleans() -> None:
    match({"n": 1}, {"n": 1.0})
    match({"n": 1}, {"n": Int64(1)})
    with pytest.raises(MatchError):
        match({"ok": 1}, {"ok": True})
    with pytest.raises(MatchError):
        match({"s": "1"}, {"s": 1})


def test_special_operators() -> None:
    match({"a": {"$$exists": False}}, {"b": 1})
    with pytest.raises(MatchError):
        match({"a": {"$$exists": True}}, {"b": 1})
    match({"a": {"$$unsetOrMatches": 1}}, {})
    with pytest.raises(MatchError):
        match({"a": {"$$unsetOrMatches": 1}}, {"a": 2})
    match({"$$unsetOrMatches": {"n": 1}}, None)
    match({"a": {"$$type": ["int", "long"]}}, {"a": Int64(3)})
    with pytest.raises(MatchError):
        match({"a": {"$$type": "int"}}, {"a": Int64(3)})
    match({"lsid": {"$$sessionLsid": "s"}}, {"lsid": {"id": Binary(b"1" * 16, 4)}})
    with pytest.raises(MatchError):
        match({"lsid": {"$$sessionLsid": "s"}}, {"lsid": {"id": Binary(b"2" * 16, 4)}})
    match({"n": {"$$lte": 5}}, {"n": 5})
    with pytest.raises(MatchError):
        match({"n": {"$$lte": 5}}, {"n": 6})
    match({"e": {"$$matchesEntity": "e"}}, {"e": {"x": 1}})
    match({"b": {"$$matchesHexBytes": "0aff"}}, {"b": b"\x0a\xff"})
    with pytest.raises(MatchError):
        match(1, MISSING)


def test_outcome_equality_is_exact_but_ignores_key_order() -> None:
    assert equal_exactly([{"_id": 1, "x": 1}], [{"x": 1, "_id": 1}])
    assert not equal_exactly([{"_id": 1}], [{"_id": 1, "x": 1}])
    assert not equal_exactly([{"_id": 1, "b": True}], [{"_id": 1, "b": 1}])


def test_run_on_requirements() -> None:
    server = ServerInfo((7, 0, 12), "replicaset", {"enableTestCommands": 1})
    assert skip_reason([{"minServerVersion": "4.0", "topologies": ["replicaset"]}], server) is None
    assert skip_reason([{"minServerVersion": "8.0"}, {"topologies": ["sharded"]}], server)
    assert skip_reason([{"maxServerVersion": "6.99"}], server)
    assert skip_reason([{"serverless": "forbid"}], server) is None
    assert skip_reason([{"auth": True}], server)
    assert skip_reason([{"serverParameters": {"enableTestCommands": 1}}], server) is None
