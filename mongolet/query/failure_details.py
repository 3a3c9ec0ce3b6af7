"""Why a document fails a query validator: the ``errInfo.details`` of error 121.

mongod (5.0+) explains a failed validation as a tree: a logical operator lists the clauses
not satisfied (``clausesNotSatisfied: [{index, details}]``), a field condition names its
operator, how it was specified, the reason and the value considered. The same shape is
built here for query validators; the reasons are mongod's wording for the usual operators.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mongolet.query import matcher
from mongolet.query.expressions import evaluate, missing_to_null
from mongolet.query.paths import path_values
from mongolet.query.values import type_alias

_REASONS = {
    "$eq": "comparison failed", "$ne": "comparison succeeded", "$gt": "comparison failed",
    "$gte": "comparison failed", "$lt": "comparison failed", "$lte": "comparison failed",
    "$in": "no matching value found in array", "$nin": "matching value found in array",
    "$type": "type did not match", "$regex": "regular expression did not match",
    "$size": "array length was not equal to given size", "$all": "array did not contain all specified values",
    "$elemMatch": "array did not satisfy the child predicate", "$mod": "$mod did not evaluate to expected remainder",
}
_LOGICAL = ("$and", "$or", "$nor")


def failure_details(validator: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    """The details of why ``doc`` does not match ``validator`` (which it does not)."""
    clauses = [{key: value} for key, value in validator.items()]
    if len(clauses) == 1:
        return _clause(clauses[0], doc)
    return _logical("$and", clauses, doc, failing=True)


def _matches(clause: Mapping[str, Any], doc: Mapping[str, Any]) -> bool:
    return matcher.compile_filter(clause)(doc)


def _logical(op: str, clauses: list[Any], doc: Mapping[str, Any], *, failing: bool
             ) -> dict[str, Any]:
    listed = [{"index": i, "details": _clause(c, doc) if failing else _satisfied(c)}
              for i, c in enumerate(clauses) if _matches(c, doc) != failing]
    key = "clausesNotSatisfied" if failing else "clausesSatisfied"
    return {"operatorName": op, key: listed}


def _satisfied(clause: Mapping[str, Any]) -> dict[str, Any]:
    return {"operatorName": next(iter(clause)), "specifiedAs": dict(clause)}


def _clause(clause: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    key, value = next(iter(clause.items()))
    if key in ("$and", "$or") and isinstance(value, list):
        return _logical(key, value, doc, failing=True)
    if key == "$nor" and isinstance(value, list):
        return _logical(key, value, doc, failing=False)
    if key == "$expr":
        return {"operatorName": "$expr", "specifiedAs": {"$expr": value},
                "reason": "expression did not match",
                "expressionResult": missing_to_null(evaluate(value, doc))}
    conditions = ([{op: arg} for op, arg in value.items()] if matcher.is_operator_object(value)
                  else [{"$eq": value}])
    failing = [c for c in conditions if not _matches({key: c}, doc)] or conditions
    if len(failing) > 1:
        return {"operatorName": "$and", "clausesNotSatisfied": [
            {"index": conditions.index(c), "details": _field(key, c, doc)} for c in failing]}
    return _field(key, failing[0], doc)


def _field(path: str, condition: dict[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    op, arg = next(iter(condition.items()))
    specified = {path: arg} if op == "$eq" else {path: condition}
    details: dict[str, Any] = {"operatorName": op, "specifiedAs": specified}
    if op == "$exists":  # mongod names only the operator and whether the path exists
        details["reason"] = "path does not exist" if arg else "path does exist"
        return details
    found = path_values(doc, path)
    if not found:
        details["reason"] = "field was missing"
        return details
    details["reason"] = _REASONS.get(op, "expression did not match")
    value = found[0] if len(found) == 1 else found
    details["consideredValue"] = value
    if op == "$type":
        details["consideredType"] = type_alias(value)
    return details
