"""Update operators, replacements, update pipelines and upsert seed documents.

An operator update is validated as a whole first (unknown modifiers, empty or conflicting
paths, array filters), then applied field by field in mongod's order (5.0+: paths sorted,
numeric components numerically) to a copy-on-write version of the document, so the input
document is never modified.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bson import Int64, ObjectId, Regex, Timestamp

from mongolet.errors import MongoError, bad_value, failed_to_parse, type_mismatch
from mongolet.query.aggregation import run_update_pipeline
from mongolet.query.expressions import numeric_op
from mongolet.query.matcher import (
    compile_filter,
    compile_operators,
    equality_conditions,
    is_operator_object,
)
from mongolet.query.paths import (
    MISSING,
    CopyOnWrite,
    get_path,
    set_in,
    set_path,
    split_path,
    unset_in,
)
from mongolet.query.positional import element_filter, matched_array_index
from mongolet.query.regexes import compile_regex
from mongolet.query.sorting import sort_documents
from mongolet.query.values import (
    canonical_key,
    compare,
    equal,
    is_number,
    numeric,
    render,
    type_name,
    unique_values,
)

UpdateDoc = Mapping[str, Any]
Parts = tuple[str, ...]

_MODIFIERS = (
    "$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename", "$setOnInsert", "$push",
    "$addToSet", "$pull", "$pullAll", "$pop", "$currentDate", "$bit",
)
_PIPELINE_STAGES = frozenset({"$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith"})
_IDENTIFIER = re.compile(r"^[a-z][a-zA-Z0-9]*$")
# _id types an upsert seed takes as they are (no operators, arrays or regexes inside).
_SCALAR_IDS = frozenset({ObjectId, str, int, Int64, float, datetime.datetime, uuid.UUID})


def is_operator_update(update: Any) -> bool:
    """True for ``{$set: ...}``-style updates (as opposed to replacements and pipelines)."""
    if not isinstance(update, Mapping) or not update:
        return False
    first = next(iter(update))
    return isinstance(first, str) and first.startswith("$")


def apply_update(
    doc: dict[str, Any],
    update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    array_filters: Sequence[Mapping[str, Any]] | None = None,
    is_insert: bool = False,
    query: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a new document: ``doc`` changed by an operator update, a replacement, or an
    update pipeline. ``is_insert`` applies ``$setOnInsert`` (upserts); ``variables`` are the
    command's ``let`` variables, seen by update pipelines."""
    if isinstance(update, list):
        if array_filters:
            raise failed_to_parse("arrayFilters may not be specified for pipeline-style updates")
        return _apply_pipeline(doc, update, variables)
    if not isinstance(update, Mapping):
        raise failed_to_parse("Update argument must be either an object or an array")
    if not array_filters:
        fields = _plain_set_fields(update)
        if fields is not None:
            return _apply_plain_set(doc, fields)
    if is_operator_update(update):
        return compile_update(update, array_filters=array_filters)(doc, is_insert=is_insert, query=query)
    if array_filters:
        raise failed_to_parse("Cannot use array filters with a replacement-style update")
    return apply_replacement(doc, update)


# --- the common case: $set of top-level fields ---------------------------------------------


def _plain_set_fields(update: Mapping[str, Any]) -> dict[str, Any] | None:
    """The fields of ``{$set: {a: .., b: ..}}`` when every one is a plain top-level name
    (no dots, no ``$``, not ``_id``): such an update needs no parsing or path walking."""
    if len(update) != 1:
        return None
    fields = update.get("$set")
    if type(fields) is not dict or not fields:
        return None
    for key in fields:
        if type(key) is not str or not key or key[0] == "$" or "." in key or key == "_id" \
                or "\x00" in key:
            return None
    return fields


def _apply_plain_set(doc: Mapping[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """What ``compile_update`` would do for these fields: existing ones replaced in place,
    new ones appended in mongod's (sorted) order."""
    new = dict(doc)
    added = []
    for key, value in fields.items():
        if key in new:
            new[key] = _fresh(value)
        else:
            added.append(key)
    if added:
        for key in sorted(added, key=lambda k: _path_sort_key((k,))):
            new[key] = _fresh(fields[key])
    return new


# --- replacements -------------------------------------------------------------------------


def validate_replacement(replacement: Mapping[str, Any]) -> None:
    for key in replacement:
        if isinstance(key, str) and key.startswith("$"):
            raise MongoError(
                52,
                f"The dollar ($) prefixed field '{key}' in '{key}' is not allowed in the context of "
                "an update's replacement document. Consider using an aggregation pipeline with "
                "$replaceWith.",
            )


def apply_replacement(doc: Mapping[str, Any], replacement: Mapping[str, Any]) -> dict[str, Any]:
    """The replacement document, keeping ``doc``'s ``_id`` (first) and refusing a new one."""
    validate_replacement(replacement)
    new = dict(replacement)
    if "_id" in doc:
        if "_id" in new and not equal(new["_id"], doc["_id"]):
            raise _id_altered(new["_id"])
        new.pop("_id", None)
        return {"_id": doc["_id"], **new}
    if "_id" in new:
        return {"_id": new.pop("_id"), **new}
    return new


def _id_altered(value: Any) -> MongoError:
    return MongoError(
        66,
        f"After applying the update, the (immutable) field '_id' was found to have been altered to _id: {render(value)}",
    )


# --- pipelines ------------------------------------------------------------------------------


def _apply_pipeline(doc: dict[str, Any], pipeline: Sequence[Mapping[str, Any]],
                    variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    for stage in pipeline:
        if not isinstance(stage, Mapping) or len(stage) != 1:
            raise MongoError(40323, "A pipeline stage specification object must contain exactly one field.")
        name = next(iter(stage))
        if name not in _PIPELINE_STAGES:
            raise MongoError(72, f"{name} is not allowed to be used within an update")
    new = run_update_pipeline(doc, pipeline, variables)
    if "_id" in doc:
        if "_id" not in new:
            # A pipeline that drops _id ($replaceRoot, $project) keeps the original one.
            return {"_id": doc["_id"], **new}
        if not equal(new["_id"], doc["_id"]):
            raise _id_altered(new["_id"])
    return new


# --- operator updates: parsing -------------------------------------------------------------


class _Action:
    __slots__ = ("arg", "op", "parts", "raw")

    def __init__(self, op: str, raw: str, parts: Parts, arg: Any) -> None:
        self.op = op
        self.raw = raw
        self.parts = parts
        self.arg = arg


CompiledUpdate = Callable[..., dict[str, Any]]


def _check_path(raw: Any) -> Parts:
    if not isinstance(raw, str) or raw == "":
        raise MongoError(56, "An empty update path is not valid.")
    parts = split_path(raw)
    if any(part == "" for part in parts):
        raise MongoError(56, f"The update path '{raw}' contains an empty field name, which is not allowed.")
    for part in parts:
        if part.startswith("$") and part != "$" and not (part.startswith("$[") and part.endswith("]")):
            raise MongoError(
                52,
                f"The dollar ($) prefixed field '{part}' in '{raw}' is not valid for storage.",
            )
    return parts


def _path_sort_key(parts: Parts) -> tuple[tuple[int, int, str], ...]:
    # mongod 5.0+ applies fields in lexicographic order, numeric names numerically.
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def compile_update(
    update: Mapping[str, Any], *, array_filters: Sequence[Mapping[str, Any]] | None = None
) -> CompiledUpdate:
    """Validate an operator update once; returns ``f(doc, is_insert=, query=) -> new doc``."""
    actions: list[_Action] = []
    for op, fields in update.items():
        if not isinstance(op, str) or not op.startswith("$"):
            raise failed_to_parse(
                f"Unknown modifier: {op}. Expected a valid update modifier or pipeline-style "
                "update specified as an array"
            )
        if op not in _MODIFIERS:
            raise failed_to_parse(
                f"Unknown modifier: {op}. Expected a valid update modifier or pipeline-style "
                "update specified as an array"
            )
        if not isinstance(fields, Mapping):
            raise failed_to_parse(
                f"Modifiers operate on fields but we found type {type_name(fields)} instead. "
                f"For example: {{$mod: {{<field>: ...}}}} not {{{op}: {render(fields)}}}"
            )
        for raw, arg in fields.items():
            parts = _check_path(raw)
            _validate_argument(op, raw, arg)
            actions.append(_Action(op, raw, parts, arg))
            if op == "$rename":
                actions.append(_Action("$renameTo", arg, _check_path(arg), raw))
    _check_conflicts(actions)
    filters = _parse_array_filters(array_filters, actions, update)
    actions.sort(key=lambda a: _path_sort_key(a.parts))

    def run(doc: dict[str, Any], *, is_insert: bool = False, query: Mapping[str, Any] | None = None) -> dict[str, Any]:
        cow = CopyOnWrite(doc)
        positional: list[int | None] = []
        now = _now()
        for action in actions:
            if action.op == "$setOnInsert" and not is_insert:
                continue
            if action.op == "$renameTo":
                continue
            for concrete in _expand(cow.root, action.parts, action.raw, filters, query, positional, is_insert):
                _APPLY[action.op](cow, concrete, action, doc, now)
        new = cow.root
        if "_id" in doc and ("_id" not in new or not equal(new["_id"], doc["_id"])):
            raise MongoError(
                66, "Performing an update on the path '_id' would modify the immutable field '_id'"
            )
        return new

    return run


def _validate_argument(op: str, raw: str, arg: Any) -> None:
    if op in ("$inc", "$mul"):
        if not is_number(arg) or isinstance(arg, bool):
            verb = "increment" if op == "$inc" else "multiply"
            raise type_mismatch(f"Cannot {verb} with non-numeric argument: {{{raw}: {render(arg)}}}")
    elif op == "$rename":
        if not isinstance(arg, str):
            raise bad_value(f"The 'to' field for $rename must be a string: {raw}: {render(arg)}")
        if arg == raw:
            raise bad_value(f"The source and target field for $rename must differ: {raw}: {render(arg)}")
        for path in (raw, arg):
            if "$" in path:
                raise bad_value(f"The source field for $rename may not be dynamic: {path}")
        if raw.startswith(arg + ".") or arg.startswith(raw + "."):
            raise bad_value(f"The source and target field for $rename must not be on the same path: {raw}: {render(arg)}")
    elif op == "$pop":
        if not is_number(arg) or numeric(arg) not in (1, -1):
            raise failed_to_parse(f"$pop expects 1 or -1, found: {render(arg)}")
    elif op == "$pullAll":
        if not isinstance(arg, list):
            raise bad_value(f"$pullAll requires an array argument but was given a {type_name(arg)}")
    elif op == "$currentDate":
        if isinstance(arg, bool):
            return
        if isinstance(arg, Mapping) and set(arg) == {"$type"} and arg["$type"] in ("date", "timestamp"):
            return
        if isinstance(arg, Mapping) and "$type" in arg and len(arg) == 1:
            raise bad_value("The '$type' string field is required to be 'date' or 'timestamp': "
                            "{$currentDate: {field : {$type: 'date'}}}")
        raise bad_value(f"{type_name(arg)} is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({{$type: 'timestamp/date'}}).")
    elif op == "$bit":
        if not isinstance(arg, Mapping) or not arg:
            raise bad_value(f"The $bit modifier is not compatible with a {type_name(arg)}. You must pass in an embedded document: {{$bit: {{field: {{and/or/xor: #}}}}")
        for name, operand in arg.items():
            if name not in ("and", "or", "xor"):
                raise bad_value(f"The $bit modifier only supports 'and', 'or', and 'xor', not '{name}' which is an unknown operator: {{{name}: {render(operand)}}}")
            if not isinstance(operand, int) or isinstance(operand, bool):
                raise bad_value(f"The $bit modifier field must be an Integer(32/64 bit); a '{type_name(operand)}' is not supported here: {{{name}: {render(operand)}}}")
    elif op in ("$push", "$addToSet") and isinstance(arg, Mapping) and "$each" in arg:
        if not isinstance(arg["$each"], list):
            raise bad_value(f"The argument to $each in {op} must be an array but it was of type: {type_name(arg['$each'])}")
        allowed = {"$each", "$slice", "$sort", "$position"} if op == "$push" else {"$each"}
        for key in arg:
            if key not in allowed:
                if op == "$push":
                    raise bad_value(f"Unrecognized clause in $push: {key}")
                raise bad_value(f"Found unexpected fields after $each in $addToSet: {render(dict(arg))}")
        if op == "$push":
            _validate_push_modifiers(arg)


def _validate_push_modifiers(arg: Mapping[str, Any]) -> None:
    if "$slice" in arg:
        value = arg["$slice"]
        if not is_number(value) or isinstance(value, bool) or numeric(value) != int(numeric(value)):
            raise bad_value(f"The value for $slice must be an integer value but was given type: {type_name(value)}")
    if "$position" in arg:
        value = arg["$position"]
        if not is_number(value) or isinstance(value, bool) or numeric(value) != int(numeric(value)):
            raise bad_value(f"The value for $position must be an integer value, not of type: {type_name(value)}")
    if "$sort" in arg:
        spec = arg["$sort"]
        if isinstance(spec, Mapping):
            if not spec:
                raise bad_value("The $sort pattern is empty when it should be a set of fields.")
            for value in spec.values():
                if not is_number(value) or numeric(value) not in (1, -1):
                    raise bad_value("The $sort element value must be either 1 or -1")
        elif not is_number(spec) or numeric(spec) not in (1, -1):
            raise bad_value("The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields")


def _conflict_prefix(parts: Parts) -> Parts:
    # Positional elements make the rest of the path depend on the document; compare up to
    # the first of them the way mongod's update tree does.
    return parts


def _check_conflicts(actions: list[_Action]) -> None:
    seen: dict[Parts, str] = {}
    for action in actions:
        parts = _conflict_prefix(action.parts)
        for other in seen:
            shorter, longer = (other, parts) if len(other) <= len(parts) else (parts, other)
            if longer[: len(shorter)] == shorter:
                raise MongoError(
                    40,
                    f"Updating the path '{action.raw}' would create a conflict at '{'.'.join(shorter)}'",
                )
        seen[parts] = action.raw


def _parse_array_filters(
    array_filters: Sequence[Mapping[str, Any]] | None, actions: list[_Action], update: UpdateDoc
) -> dict[str, Callable[[Any], bool]]:
    filters: dict[str, Callable[[Any], bool]] = {}
    for spec in array_filters or []:
        if not isinstance(spec, Mapping):
            raise failed_to_parse("arrayFilters entries must be objects")
        if not spec:
            raise failed_to_parse("Cannot use an expression without a top-level field name in arrayFilters")
        names = set()
        for key in spec:
            if key.startswith("$"):
                if key in ("$and", "$or", "$nor"):
                    names.update(_filter_names(spec[key]))
                    continue
                raise failed_to_parse("Cannot use an expression without a top-level field name in arrayFilters")
            names.add(key.split(".")[0])
        if len(names) != 1:
            raise failed_to_parse(f"Error parsing array filter :: caused by :: Expected a single top-level field name, found '{sorted(names)[0]}' and '{sorted(names)[-1]}'")
        name = names.pop()
        if not _IDENTIFIER.match(name):
            raise bad_value(f"Error parsing array filter :: caused by :: The top-level field name must be an alphanumeric string beginning with a lowercase letter, found '{name}'")
        if name in filters:
            raise failed_to_parse(f"Found multiple array filters with the same top-level field name {name}")
        filters[name] = element_filter(compile_filter(spec), name)
    used = set()
    for action in actions:
        for part in action.parts:
            if part.startswith("$[") and part != "$[]":
                identifier = part[2:-1]
                if identifier not in filters:
                    raise bad_value(f"No array filter found for identifier '{identifier}' in path '{action.raw}'")
                used.add(identifier)
    for name in filters:
        if name not in used:
            raise failed_to_parse(f"The array filter for identifier '{name}' was not used in the update {render(dict(update))}")
    return filters


def _filter_names(branches: Any) -> set[str]:
    names: set[str] = set()
    for branch in branches if isinstance(branches, list) else []:
        for key in branch:
            names.add(key.split(".")[0])
    return names


# --- positional paths -------------------------------------------------------------------


def _expand(
    root: dict[str, Any],
    parts: Parts,
    raw: str,
    filters: Mapping[str, Callable[[Any], bool]],
    query: Mapping[str, Any] | None,
    positional: list[int | None],
    is_insert: bool,
) -> list[Parts]:
    """The concrete paths a path with ``$``, ``$[]`` or ``$[id]`` stands for."""
    if not any(part.startswith("$") for part in parts):
        return [parts]
    results: list[Parts] = [()]
    for part in parts:
        if not part.startswith("$"):
            results = [(*r, part) for r in results]
            continue
        expanded: list[Parts] = []
        for prefix in results:
            array = get_path(root, prefix)
            if part == "$":
                if is_insert:
                    raise failed_to_parse(
                        "The positional operator did not find the match needed from the query."
                    )
                if not positional:
                    positional.append(matched_array_index(root, query or {}, prefix))
                index = positional[0]
                if index is None:
                    raise bad_value("The positional operator did not find the match needed from the query.")
                expanded.append((*prefix, str(index)))
                continue
            if array is MISSING or not isinstance(array, list):
                if array is MISSING and is_insert:
                    continue
                raise bad_value(
                    f"The path '{'.'.join(prefix)}' must exist in the document in order to apply array updates."
                )
            if part == "$[]":
                expanded.extend((*prefix, str(j)) for j in range(len(array)))
            else:
                test = filters[part[2:-1]]
                expanded.extend((*prefix, str(j)) for j, element in enumerate(array) if test(element))
        results = expanded
    return results


# --- operator updates: applying ------------------------------------------------------------


def _now() -> datetime.datetime:
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _current(cow: CopyOnWrite, parts: Parts) -> Any:
    return get_path(cow.root, parts)


def _apply_set(cow: CopyOnWrite, parts: Parts, action: _Action, original: Any, now: Any) -> None:
    value = action.arg
    current = _current(cow, parts)
    if current is not MISSING and type(current) is type(value) and equal(current, value) and not isinstance(value, (dict, list)):
        return
    set_in(cow, parts, _fresh(value))


def _fresh(value: Any) -> Any:
    # Values from the update document are shared with the caller; copy containers so that
    # later writes into the new document cannot reach them.
    if isinstance(value, Mapping):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


def _apply_unset(cow: CopyOnWrite, parts: Parts, action: _Action, original: Any, now: Any) -> None:
    unset_in(cow, parts)


def _doc_id(original: Mapping[str, Any]) -> str:
    return f"{{_id: {render(original.get('_id'))}}}" if "_id" in original else "{}"


def _apply_arith(cow: CopyOnWrite, parts: Parts, action: _Action, original: Any, now: Any) -> None:
    current = _current(cow, parts)
    arg = action.arg
    if current is MISSING:
        if action.op == "$inc":
            set_in(cow, parts, arg)
        else:
            set_in(cow, parts, numeric_op([arg, 0], lambda a, b: b) if not isinstance(arg, float) else 0.0)
        return
    if not is_number(current) or isinstance(current, bool):
        verb = "$inc" if action.op == "$inc" else "$mul"
        raise type_mismatch(
            f"Cannot apply {verb} to a value of non-numeric type. {_doc_id(original)} has the field "
            f"'{parts[-1]}' of non-numeric type {type_name(current)}"
        )
    if action.op == "$inc":
        result = numeric_op([current, arg], lambda a, b: a + b)
    else:
        result = numeric_op([current, arg], lambda a, b: a * b)
    set_in(cow, parts, result)


def _apply_min_max(cow: CopyOnWrite, parts: Parts, action: _Action, original: Any, now: Any) -> None:
    current = _current(cow, parts)
    if current is MISSING:
        set_in(cow, parts, _fresh(action.arg))
        return
    c = compare(action.arg, current)
    if (action.op == "$min" and c < 0) or (action.op == "$max" and c > 0):
        set_in(cow, parts, _fresh(action.arg))


def _apply_rename(cow: CopyOnWrite, parts: Parts, action: _Action, original: Any, now: Any) -> None:
    value = get_path(cow.root, parts)
    if value is MISSING:
        return
    target = split_path(action.arg)
    for path in (parts, target):
        container: Any = cow.root
        for part in path[:-1]:
            if isinstance(container, list):
                raise bad_value(
                    f"The source field cannot be an array element, '{'.'.join(path)}' in doc with "
                    f"{_doc_id(original)} has an array field called '{part}'"
                )
            container = container.get(part, MISSING) if isinstance(container, Mapping) else MISSING
            if container is MISSING:
                break
        if isinstance(container, list):
            raise bad_value(
                f"The destination field cannot be an array element, '{'.'.join(path)}' in doc with "
                f"{_doc_id(original)} has an array field called '{path[-2]}'"
            )
    unset_in(cow, parts)
    set_in(cow, target, value)


def _apply_current_date(cow: CopyOnWrite, parts: Parts, action: _Action, original: Any, now: Any) -> None:
    if isinstance(action.arg, Mapping) and action.arg.get("$type") == "timestamp":
        seconds = int((now - datetime.datetime(1970, 1, 1)).total_seconds())
        set_in(cow, parts, Timestamp(seconds, 1))
    else:
        set_in(cow, parts, now)


def _array_for_write(cow: CopyOnWrite, parts: Parts, op: str, original: Any, *, create: bool) -> list[Any] | None:
    current = _current(cow, parts)
    if current is MISSING:
        if not create:
            return None
        set_in(cow, parts, [])
    elif not isinstance(current, list):
        if op == "$addToSet":
            raise bad_value(
                f"Cannot apply $addToSet to non-array field. Field named '{parts[-1]}' has non-array type {type_name(current)}"
            )
        if op == "$push":
            raise bad_value(
                f"The field '{parts[-1]}' must be an array but is of type {type_name(current)} in document {_doc_id(original)}"
            )
        if op == "$pop":
            raise type_mismatch(f"Path '{'.'.join(parts)}' contains an element of non-array type '{type_name(current)}'")
        raise bad_value("Cannot apply $pull to a non-array value")
    located = cow.parent_for_write(parts, create=False)
    assert located is not None
    container, last = located
    key: Any = last if isinstance(container, dict) else int(last)
    array = cow.writable(container, key)
    assert isinstance(array, list)
    return array


def _apply_push(cow: CopyOnWrite, parts: Parts, action: _Action, original: Any, now: Any) -> None:
    arg = action.arg
    modifiers = isinstance(arg, Mapping) and "$each" in arg
    items = [_fresh(v) for v in (arg["$each"] if modifiers else [arg])]
    array = _array_for_write(cow, parts, "$push", original, create=True)
    assert array is not None
    if modifiers and "$position" in arg:
        position = int(numeric(arg["$position"]))
        if position < 0:
            position = max(len(array) + position, 0)
        array[position:position] = items
    else:
        array.extend(items)
    if modifiers and "$sort" in arg:
        spec = arg["$sort"]
        if isinstance(spec, Mapping):
            wrapped = [{"v": e} for e in array]
            ordered = sort_documents(wrapped, {f"v.{k}": v for k, v in spec.items()})
            array[:] = [w["v"] for w in ordered]
        else:
            ordered = sort_documents([{"v": e} for e in array], {"v": spec})
            array[:] = [w["v"] for w in ordered]
    if modifiers and "$slice" in arg:
        limit = int(numeric(arg["$slice"]))
        array[:] = array[:limit] if limit >= 0 else array[limit:] if -limit < len(array) else array


def _apply_add_to_set(cow: CopyOnWrite, parts: Parts, action: _Action, original: Any, now: Any) -> None:
    arg = action.arg
    items = arg["$each"] if isinstance(arg, Mapping) and "$each" in arg else [arg]
    current = _current(cow, parts)
    if current is MISSING:
        set_in(cow, parts, [_fresh(item) for item in unique_values(items)])
        return
    if isinstance(current, list):
        seen = {canonical_key(e) for e in current}
        additions = []
        for item in items:
            key = canonical_key(item)
            if key not in seen:
                seen.add(key)
                additions.append(_fresh(item))
        if not additions:
            return
    array = _array_for_write(cow, parts, "$addToSet", original, create=True)
    assert array is not None
    array.extend(additions)


def _pull_test(arg: Any) -> Callable[[Any], bool]:
    if isinstance(arg, Mapping) and arg and is_operator_object(arg):
        check = compile_operators(arg)
        return lambda element: check([element])
    if isinstance(arg, Mapping) and arg:
        query = compile_filter(arg)
        return lambda element: isinstance(element, Mapping) and query(element)
    if isinstance(arg, (re.Pattern, Regex)):
        regex = compile_regex(arg)
        return lambda element: isinstance(element, str) and regex.search(element) is not None
    return lambda element: equal(element, arg)


def _apply_pull(cow: CopyOnWrite, parts: Parts, action: _Action, original: Any, now: Any) -> None:
    current = _current(cow, parts)
    if current is MISSING:
        return
    if not isinstance(current, list):
        raise bad_value("Cannot apply $pull to a non-array value")
    if action.op == "$pullAll":
        keys = {canonical_key(v) for v in action.arg}
        remove: Callable[[Any], bool] = lambda element: canonical_key(element) in keys  # noqa: E731
    else:
        remove = _pull_test(action.arg)
    kept = [e for e in current if not remove(e)]
    if len(kept) == len(current):
        return
    set_in(cow, parts, kept)


def _apply_pop(cow: CopyOnWrite, parts: Parts, action: _Action, original: Any, now: Any) -> None:
    current = _current(cow, parts)
    if current is MISSING:
        return
    array = _array_for_write(cow, parts, "$pop", original, create=False)
    if not array:
        return
    if numeric(action.arg) == 1:
        array.pop()
    else:
        array.pop(0)


def _apply_bit(cow: CopyOnWrite, parts: Parts, action: _Action, original: Any, now: Any) -> None:
    current = _current(cow, parts)
    if current is MISSING:
        current = 0
    if not isinstance(current, int) or isinstance(current, bool):
        raise bad_value(
            f"Cannot apply $bit to a value of non-integral type.{_doc_id(original)} has the field "
            f"{parts[-1]} of non-integer type {type_name(current)}"
        )
    result = int(current)
    is_long = isinstance(current, Int64)
    for name, operand in action.arg.items():
        is_long = is_long or isinstance(operand, Int64)
        if name == "and":
            result &= int(operand)
        elif name == "or":
            result |= int(operand)
        else:
            result ^= int(operand)
    set_in(cow, parts, Int64(result) if is_long else result)


_APPLY: dict[str, Callable[[CopyOnWrite, Parts, _Action, Any, Any], None]] = {
    "$set": _apply_set,
    "$setOnInsert": _apply_set,
    "$unset": _apply_unset,
    "$inc": _apply_arith,
    "$mul": _apply_arith,
    "$min": _apply_min_max,
    "$max": _apply_min_max,
    "$rename": _apply_rename,
    "$currentDate": _apply_current_date,
    "$push": _apply_push,
    "$addToSet": _apply_add_to_set,
    "$pull": _apply_pull,
    "$pullAll": _apply_pull,
    "$pop": _apply_pop,
    "$bit": _apply_bit,
}


# --- upserts ------------------------------------------------------------------------------


def upsert_seed(query: Mapping[str, Any]) -> dict[str, Any]:
    """The document an upsert starts from: the query's equality conditions."""
    if len(query) == 1 and type(query.get("_id")) in _SCALAR_IDS:
        return {"_id": query["_id"]}  # the usual upsert by _id, without parsing the query
    seed: dict[str, Any] = {}
    for path, value in equality_conditions(query):
        if path == "_id" or not path.startswith("$"):
            parts = _check_path(path)
            if any(part.startswith("$") for part in parts):
                continue
            existing = get_path(seed, parts)
            if existing is not MISSING:
                raise MongoError(
                    54 if not equal(existing, value) else 40,
                    f"cannot infer query fields to set, path '{path}' is matched twice",
                )
            seed = set_path(seed, path, _fresh(value))
    if "_id" in seed:
        seed = {"_id": seed.pop("_id"), **seed}
    return seed
