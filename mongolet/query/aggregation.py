"""Aggregation pipeline stages.

Each stage is compiled once into a function from an iterator of documents to an iterator of
documents, so ``$match``/``$skip``/``$limit`` stream and only blocking stages ($sort,
$group, $facet...) hold the whole input. ``$out`` and ``$merge`` belong to the command layer.
"""

from __future__ import annotations

import datetime
import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from bson import Int64

from mongolet.errors import MongoError, bad_value, failed_to_parse
from mongolet.query.expressions import (
    ACCUMULATORS,
    compile_expression,
    missing_to_null,
    numeric_op,
    sum_numbers,
    traverse,
)
from mongolet.query.matcher import compile_filter
from mongolet.query.paths import MISSING, path_values, set_path, split_path, unset_path
from mongolet.query.projection import compile_stage_projection
from mongolet.query.sorting import parse_sort, sort_parsed
from mongolet.query.values import (
    canonical_key,
    compare,
    is_number,
    numeric,
    render,
    type_alias,
    type_name,
)

Docs = Iterator[dict[str, Any]]
Stage = Callable[[Docs, dict[str, Any]], Docs]


class PipelineContext(Protocol):
    """What a pipeline needs from outside: other collections of the same database (for
    ``$lookup``), as the running command's session or transaction sees them."""

    def collection_documents(self, name: str) -> Iterable[dict[str, Any]]: ...


class _NoCollections:
    def collection_documents(self, name: str) -> Iterable[dict[str, Any]]:
        raise MongoError(51047, "$lookup is not allowed in this context")


def run_pipeline(
    docs: Iterable[dict[str, Any]],
    pipeline: Sequence[Mapping[str, Any]],
    ctx: PipelineContext,
    *,
    variables: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run the stages of ``pipeline`` over ``docs``. ``$out``/``$merge`` are the command
    layer's business and are refused here."""
    stages = compile_pipeline(pipeline, ctx)
    return list(_run(stages, iter(docs), _bind(variables)))


def compile_pipeline(pipeline: Sequence[Mapping[str, Any]], ctx: PipelineContext | None) -> list[Stage]:
    """Validate and compile every stage once."""
    if not isinstance(pipeline, (list, tuple)):
        raise MongoError(14, "'pipeline' option must be specified as an array")
    context: PipelineContext = ctx if ctx is not None else _NoCollections()
    stages = []
    for position, stage in enumerate(pipeline):
        if not isinstance(stage, Mapping):
            raise MongoError(14, "Each element of the 'pipeline' array must be an object")
        if len(stage) != 1:
            raise MongoError(40323, "A pipeline stage specification object must contain exactly one field.")
        name, spec = next(iter(stage.items()))
        builder = _STAGES.get(name)
        if builder is None:
            if name in ("$out", "$merge"):
                raise MongoError(40601, f"{name} can only be the final stage in the pipeline")
            if name in SOURCE_STAGES:  # the command layer runs them when they come first
                raise MongoError(40602, f"{name} is only valid as the first stage in a "
                                        "pipeline")
            if name in _UNSUPPORTED_STAGES:
                raise bad_value(f"{name} is not supported by mongolet")
            raise MongoError(40324, f"Unrecognized pipeline stage name: '{name}'")
        if name == "$documents" and position != 0:
            raise MongoError(40602, "$documents is only valid as the first stage in a pipeline")
        stages.append(builder(spec, context))
    return stages


def run_compiled(stages: list[Stage], docs: Iterable[dict[str, Any]], variables: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run stages from ``compile_pipeline`` (when the same pipeline runs many times)."""
    return list(_run(stages, iter(docs), _bind(variables)))


def run_update_pipeline(doc: dict[str, Any], pipeline: Sequence[Mapping[str, Any]],
                        variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An update pipeline applied to one document."""
    out = run_pipeline([doc], pipeline, _NoCollections(), variables=variables)
    if len(out) != 1:
        raise MongoError(2, "An update pipeline must produce exactly one document")
    return out[0]


def _bind(variables: Mapping[str, Any] | None) -> dict[str, Any]:
    bound = dict(variables or {})
    if "NOW" not in bound:
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        bound["NOW"] = now.replace(microsecond=now.microsecond // 1000 * 1000)
    return bound


def _run(stages: list[Stage], docs: Docs, variables: dict[str, Any]) -> Docs:
    for stage in stages:
        docs = stage(docs, variables)
    return docs


# --- simple stages -----------------------------------------------------------------------


def _stage_match(spec: Any, ctx: PipelineContext) -> Stage:
    if not isinstance(spec, Mapping):
        raise MongoError(15959, "the match filter must be an expression in an object")
    if "$where" in spec:
        raise MongoError(17394, "$where is not allowed inside of a $match aggregation expression")
    plain = compile_filter(spec)
    uses_variables = "$expr" in str(spec)

    def match(docs: Docs, variables: dict[str, Any]) -> Docs:
        predicate = compile_filter(spec, variables=variables) if uses_variables else plain
        return (doc for doc in docs if predicate(doc))

    return match


def _stage_project(spec: Any, ctx: PipelineContext) -> Stage:
    project = compile_stage_projection(spec)

    def run(docs: Docs, variables: dict[str, Any]) -> Docs:
        return (project(doc, variables) for doc in docs)

    return run


def _stage_unset(spec: Any, ctx: PipelineContext) -> Stage:
    fields = [spec] if isinstance(spec, str) else spec
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise MongoError(31002, "$unset specification must be a string or an array containing only string values")
    return _stage_project({field: 0 for field in fields}, ctx)


def _whole_number(name: str, spec: Any, code: int, message: str) -> int:
    if not is_number(spec) or isinstance(spec, bool) or numeric(spec) != int(numeric(spec)):
        raise MongoError(code, message)
    return int(numeric(spec))


def _stage_skip(spec: Any, ctx: PipelineContext) -> Stage:
    count = _whole_number("$skip", spec, 15972, f"invalid argument to $skip stage: Expected a number in: $skip: {render(spec)}")
    if count < 0:
        raise MongoError(15956, f"invalid argument to $skip stage: Expected a non-negative number in: $skip: {count}")

    def skip(docs: Docs, variables: dict[str, Any]) -> Docs:
        return itertools.islice(docs, count, None)

    return skip


def _stage_limit(spec: Any, ctx: PipelineContext) -> Stage:
    count = _whole_number("$limit", spec, 15957, f"invalid argument to $limit stage: Expected a number in: $limit: {render(spec)}")
    if count <= 0:
        raise MongoError(15958, f"invalid argument to $limit stage: Expected a positive number in: $limit: {count}")

    def limit(docs: Docs, variables: dict[str, Any]) -> Docs:
        return itertools.islice(docs, count)

    return limit


def _stage_sort(spec: Any, ctx: PipelineContext) -> Stage:
    fields = parse_sort(spec, stage=True)

    def sort(docs: Docs, variables: dict[str, Any]) -> Docs:
        return iter(sort_parsed(list(docs), fields))

    return sort


def _stage_count(spec: Any, ctx: PipelineContext) -> Stage:
    if not isinstance(spec, str) or not spec:
        raise MongoError(40156, "the count field must be a non-empty string")
    if spec.startswith("$"):
        raise MongoError(40158, "the count field cannot be a $-prefixed path")
    if "." in spec:
        raise MongoError(40160, "the count field cannot contain '.'")

    def count(docs: Docs, variables: dict[str, Any]) -> Docs:
        total = sum(1 for _ in docs)
        if total:
            yield {spec: total}

    return count


def _new_root(value: Any, doc: Mapping[str, Any], what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise MongoError(
            40228,
            f"'{what}' expression must evaluate to an object, but resulting value was: "
            f"{render(value)}. Type of resulting value: '{type_name(value)}'. "
            f"Input document: {render(doc)}",
        )
    return dict(value)


def _stage_replace_root(spec: Any, ctx: PipelineContext) -> Stage:
    if not isinstance(spec, Mapping) or "newRoot" not in spec:
        raise MongoError(40231, "no newRoot specified for the $replaceRoot stage")
    for key in spec:
        if key != "newRoot":
            raise MongoError(40415, f"BSON field '$replaceRoot.{key}' is an unknown field.")
    return _replace_with(spec["newRoot"], "newRoot")


def _stage_replace_with(spec: Any, ctx: PipelineContext) -> Stage:
    return _replace_with(spec, "newRoot")


def _replace_with(expr: Any, what: str) -> Stage:
    compiled = compile_expression(expr)

    def replace(docs: Docs, variables: dict[str, Any]) -> Docs:
        return (_new_root(compiled(doc, variables), doc, what) for doc in docs)

    return replace


# --- $addFields / $set ----------------------------------------------------------------------


class _FieldTree:
    """Nested $addFields specs: {a: {b: expr}} and {"a.b": expr} set a.b inside a."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[str, Any] = {}

    def add(self, parts: tuple[str, ...], value: Any) -> None:
        name = parts[0]
        if len(parts) > 1:
            child = self.entries.get(name)
            if child is None:
                child = self.entries[name] = _FieldTree()
            elif not isinstance(child, _FieldTree):
                raise MongoError(31249, f"Invalid $addFields :: caused by :: Path collision at {'.'.join(parts)}")
            child.add(parts[1:], value)
            return
        if isinstance(value, Mapping) and value and not str(next(iter(value))).startswith("$"):
            child = self.entries.get(name)
            if child is None:
                child = self.entries[name] = _FieldTree()
            elif not isinstance(child, _FieldTree):
                raise MongoError(31250, f"Invalid $addFields :: caused by :: Path collision at {name}")
            for sub, sub_value in value.items():
                child.add(_field_parts(sub), sub_value)
            return
        if name in self.entries:
            raise MongoError(31250, f"Invalid $addFields :: caused by :: Path collision at {name}")
        self.entries[name] = compile_expression(value)

    def apply(self, target: Mapping[str, Any], root: Mapping[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        out = dict(target)
        for name, entry in self.entries.items():
            if isinstance(entry, _FieldTree):
                current = out.get(name, MISSING)
                if isinstance(current, Mapping):
                    out[name] = entry.apply(current, root, variables)
                elif isinstance(current, list):
                    out[name] = [entry.apply(e if isinstance(e, Mapping) else {}, root, variables) for e in current]
                else:
                    out[name] = entry.apply({}, root, variables)
            else:
                value = entry(root, variables)
                if value is MISSING:
                    out.pop(name, None)
                else:
                    out[name] = value
        return out


def _field_parts(name: Any) -> tuple[str, ...]:
    if not isinstance(name, str) or not name:
        raise MongoError(40352, "FieldPath cannot be constructed with empty string")
    if name.startswith("$"):
        raise MongoError(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
    parts = split_path(name)
    if any(not p for p in parts):
        raise MongoError(15998, "FieldPath field names may not be empty strings.")
    return parts


def _stage_add_fields(spec: Any, ctx: PipelineContext) -> Stage:
    if not isinstance(spec, Mapping):
        raise MongoError(40272, "$addFields specification stage must be an object")
    tree = _FieldTree()
    for name, value in spec.items():
        tree.add(_field_parts(name), value)

    def add_fields(docs: Docs, variables: dict[str, Any]) -> Docs:
        return (tree.apply(doc, doc, variables) for doc in docs)

    return add_fields


# --- $group ---------------------------------------------------------------------------------


class _GroupField:
    """One output field of $group: its accumulator and argument expression."""

    __slots__ = ("compiled", "constant", "field", "finish", "op", "start", "step")

    def __init__(self, field: str, op: str, arg: Any) -> None:
        self.field = field
        self.op = op
        self.constant = arg if not isinstance(arg, (str, list, Mapping)) else MISSING
        self.compiled = compile_expression(arg if op != "$count" else 1)
        accumulator = ACCUMULATORS[op]
        self.start = accumulator.start
        self.step = accumulator.step
        self.finish = accumulator.finish


def _parse_group(spec: Any) -> tuple[Callable[..., Any], list[_GroupField]]:
    if not isinstance(spec, Mapping):
        raise MongoError(15947, "a group's fields must be specified in an object")
    if "_id" not in spec:
        raise MongoError(15955, "a group specification must include an _id")
    key = compile_expression(spec["_id"])
    accumulators = []
    for field, value in spec.items():
        if field == "_id":
            continue
        if "." in field:
            raise MongoError(40235, f"The field name '{field}' cannot contain '.'")
        if field.startswith("$"):
            raise MongoError(40236, f"The field name '{field}' cannot be an operator name")
        if not isinstance(value, Mapping):
            raise MongoError(40234, f"The field '{field}' must be an accumulator object")
        if len(value) != 1:
            raise MongoError(40238, f"The field '{field}' must specify one accumulator")
        op, arg = next(iter(value.items()))
        if op not in ACCUMULATORS:
            raise MongoError(15952, f"unknown group operator '{op}'")
        if op == "$count" and arg != {}:
            raise MongoError(5527600, "$count takes no arguments, i.e. $count:{}")
        if ACCUMULATORS[op].unary and isinstance(arg, list):
            raise MongoError(40237, f"The {op} accumulator is a unary operator")
        accumulators.append(_GroupField(field, op, arg))
    return key, accumulators


def _stage_group(spec: Any, ctx: PipelineContext) -> Stage:
    key_expr, accumulators = _parse_group(spec)
    id_spec = spec["_id"]
    constant_key = not isinstance(id_spec, (str, list, Mapping)) or (
        isinstance(id_spec, str) and not id_spec.startswith("$")
    )
    counting = all(a.op in ("$sum", "$count") and (a.op == "$count" or is_number(a.constant)) for a in accumulators)

    def group(docs: Docs, variables: dict[str, Any]) -> Docs:
        if constant_key and counting:
            # count_documents' {_id: 1, n: {$sum: 1}}: no per-document evaluation.
            total = sum(1 for _ in docs)
            if not total:
                return
            out: dict[str, Any] = {"_id": id_spec}
            for acc in accumulators:
                step = 1 if acc.op == "$count" else acc.constant
                out[acc.field] = sum_numbers([step] * total) if total < 64 else _repeat_sum(step, total)
            yield out
            return
        groups: dict[Any, tuple[Any, list[Any]]] = {}
        for doc in docs:
            key_value = missing_to_null(key_expr(doc, variables))
            key = canonical_key(key_value)
            entry = groups.get(key)
            if entry is None:
                entry = groups[key] = (key_value, [acc.start() for acc in accumulators])
            states = entry[1]
            for i, acc in enumerate(accumulators):
                states[i] = acc.step(states[i], acc.compiled(doc, variables))
        for key_value, states in groups.values():
            result: dict[str, Any] = {"_id": key_value}
            for acc, state in zip(accumulators, states):
                result[acc.field] = acc.finish(state)
            yield result

    return group


def _repeat_sum(step: Any, total: int) -> Any:
    return numeric_op([step, total], lambda a, b: a * b)


def _stage_sort_by_count(spec: Any, ctx: PipelineContext) -> Stage:
    if not (isinstance(spec, str) and spec.startswith("$")) and not (isinstance(spec, Mapping) and spec and str(next(iter(spec))).startswith("$")):
        raise MongoError(40148, "the sortByCount field must be defined as a $-prefixed path or an expression")
    group = _stage_group({"_id": spec, "count": {"$sum": 1}}, ctx)
    sort = _stage_sort({"count": -1}, ctx)

    def run(docs: Docs, variables: dict[str, Any]) -> Docs:
        return sort(group(docs, variables), variables)

    return run


# --- $unwind --------------------------------------------------------------------------------


def _stage_unwind(spec: Any, ctx: PipelineContext) -> Stage:
    if isinstance(spec, str):
        options: Mapping[str, Any] = {"path": spec}
    elif isinstance(spec, Mapping):
        options = spec
    else:
        raise MongoError(15981, f"expected either a string or an object as specification for $unwind stage, got {type_alias(spec)}")
    path = options.get("path")
    if path is None:
        raise MongoError(28812, "no path specified to $unwind stage")
    if not isinstance(path, str):
        raise MongoError(28808, f"expected a string as the path for $unwind stage, got {type_alias(path)}")
    if not path.startswith("$"):
        raise MongoError(28818, f"path option to $unwind stage should be prefixed with a '$': {path}")
    for key in options:
        if key not in ("path", "includeArrayIndex", "preserveNullAndEmptyArrays"):
            raise MongoError(28811, f"unrecognized option to $unwind stage: {key}")
    preserve = options.get("preserveNullAndEmptyArrays", False)
    if not isinstance(preserve, bool):
        raise MongoError(28809, f"expected a boolean for the preserveNullAndEmptyArrays option to $unwind stage, got {type_alias(preserve)}")
    index_field = options.get("includeArrayIndex")
    if index_field is not None:
        if not isinstance(index_field, str) or not index_field:
            raise MongoError(28810, f"expected a non-empty string for the includeArrayIndex  option to $unwind stage, got {type_alias(index_field)}")
        if index_field.startswith("$"):
            raise MongoError(28822, f"includeArrayIndex option to $unwind stage should not be prefixed with a '$': {index_field}")
    field = path[1:]
    parts = _field_parts(field)

    def unwind(docs: Docs, variables: dict[str, Any]) -> Docs:
        for doc in docs:
            value = traverse(doc, parts)
            if isinstance(value, list) and value:
                for i, element in enumerate(value):
                    out = set_path(doc, field, element)
                    if index_field:
                        out = set_path(out, index_field, Int64(i))
                    yield out
            elif isinstance(value, list) or value is None or value is MISSING:
                if preserve:
                    out = doc
                    if isinstance(value, list):
                        out = unset_path(doc, field)
                    if index_field:
                        out = set_path(out, index_field, None)
                    yield out
            else:
                out = doc
                if index_field:
                    out = set_path(out, index_field, None)
                yield out

    return unwind


# --- $lookup --------------------------------------------------------------------------------


def _stage_lookup(spec: Any, ctx: PipelineContext) -> Stage:
    if not isinstance(spec, Mapping):
        raise MongoError(40319, "the $lookup stage specification must be an object")
    for key in spec:
        if key not in ("from", "localField", "foreignField", "as", "let", "pipeline"):
            raise failed_to_parse(f"unknown argument to $lookup: {key}")
    target = spec.get("as")
    if not isinstance(target, str) or not target:
        raise failed_to_parse("must specify 'as' field for a $lookup")
    source = spec.get("from")
    if isinstance(source, Mapping):
        source = source.get("coll")
    has_pipeline = "pipeline" in spec
    if source is None and not has_pipeline:
        raise failed_to_parse("must specify 'from' field for a $lookup")
    if source is not None and not isinstance(source, str):
        raise failed_to_parse(f"$lookup 'from' field must be a string, but found {type_alias(source)}")
    local_field, foreign_field = spec.get("localField"), spec.get("foreignField")
    if (local_field is None) != (foreign_field is None):
        raise failed_to_parse("$lookup requires both or neither of 'localField' and 'foreignField' to be specified")
    if local_field is None and not has_pipeline:
        raise failed_to_parse("$lookup requires either 'pipeline' or both 'localField' and 'foreignField' to be specified")
    for what, field in (("localField", local_field), ("foreignField", foreign_field)):
        if field is not None and not isinstance(field, str):
            raise failed_to_parse(f"$lookup argument '{what}' must be a string, found {render(field)}")
    let = spec.get("let", {})
    if not isinstance(let, Mapping):
        raise failed_to_parse("$lookup argument 'let' must be an object")
    let_exprs = [(name, compile_expression(expr)) for name, expr in let.items()]
    sub_stages = compile_pipeline(spec["pipeline"], ctx) if has_pipeline else None
    if "." in target:
        _field_parts(target)

    def lookup(docs: Docs, variables: dict[str, Any]) -> Docs:
        foreign = list(ctx.collection_documents(source)) if source is not None else []
        index = _foreign_index(foreign, foreign_field) if foreign_field is not None else None
        for doc in docs:
            if index is not None and local_field is not None:
                matched = _lookup_matches(doc, local_field, index, foreign)
            else:
                matched = foreign
            if sub_stages is not None:
                scope = dict(variables)
                for name, compiled in let_exprs:
                    scope[name] = missing_to_null(compiled(doc, variables))
                if source is None:
                    matched = []
                matched = list(_run(sub_stages, iter(matched), scope))
            yield set_path(doc, target, list(matched))

    return lookup


def _foreign_index(foreign: list[dict[str, Any]], field: str) -> dict[Any, list[int]]:
    index: dict[Any, list[int]] = {}
    null_key = canonical_key(None)
    for position, doc in enumerate(foreign):
        values = path_values(doc, field)
        keys = {canonical_key(v) for v in values} if values else {null_key}
        if any(v is None for v in values):
            keys.add(null_key)
        for key in keys:
            index.setdefault(key, []).append(position)
    return index


def _lookup_matches(
    doc: Mapping[str, Any], field: str, index: dict[Any, list[int]], foreign: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    # A missing local field (or an empty array) matches foreign nulls and missing fields.
    values = path_values(doc, field)
    keys = {canonical_key(v) for v in values} if values else {canonical_key(None)}
    positions: set[int] = set()
    for key in keys:
        positions.update(index.get(key, ()))
    return [foreign[p] for p in sorted(positions)]


# --- $facet, $bucket, $sample, $documents -----------------------------------------------------


def _stage_facet(spec: Any, ctx: PipelineContext) -> Stage:
    if not isinstance(spec, Mapping) or not spec:
        raise MongoError(40169, "the $facet specification must be a non-empty object")
    facets = []
    for name, pipeline in spec.items():
        if not isinstance(pipeline, list):
            raise MongoError(40170, f"arguments to $facet must be arrays, {name} is type {type_alias(pipeline)}")
        for stage in pipeline:
            stage_name = next(iter(stage), None) if isinstance(stage, Mapping) else None
            if stage_name in ("$facet", "$out", "$merge", "$collStats", "$indexStats", "$documents"):
                raise MongoError(40600, f"{stage_name} is not allowed to be used within a $facet stage")
        facets.append((name, compile_pipeline(pipeline, ctx)))

    def facet(docs: Docs, variables: dict[str, Any]) -> Docs:
        materialized = list(docs)
        yield {name: list(_run(stages, iter(materialized), variables)) for name, stages in facets}

    return facet


def _stage_sample(spec: Any, ctx: PipelineContext) -> Stage:
    if not isinstance(spec, Mapping) or "size" not in spec:
        raise MongoError(28749, "$sample stage must specify a size")
    size = spec["size"]
    if not is_number(size) or numeric(size) < 0:
        raise MongoError(28747, "size argument to $sample must not be negative")
    count = int(numeric(size))

    def sample(docs: Docs, variables: dict[str, Any]) -> Docs:
        pool = list(docs)
        return iter(random.sample(pool, min(count, len(pool))))

    return sample


def _stage_bucket(spec: Any, ctx: PipelineContext) -> Stage:
    if not isinstance(spec, Mapping) or "groupBy" not in spec or "boundaries" not in spec:
        raise MongoError(40198, "$bucket requires 'groupBy' and 'boundaries' to be specified.")
    boundaries = spec["boundaries"]
    if not isinstance(boundaries, list) or len(boundaries) < 2:
        raise MongoError(40192, "The $bucket 'boundaries' field must have at least 2 values")
    for low, high in itertools.pairwise(boundaries):
        if compare(low, high) >= 0:
            raise MongoError(40194, "The 'boundaries' option to $bucket must be sorted in ascending order")
    has_default = "default" in spec
    default = spec.get("default")
    group_by = compile_expression(spec["groupBy"])
    output = spec.get("output", {"count": {"$sum": 1}})
    _, accumulators = _parse_group({"_id": None, **output})

    def bucket(docs: Docs, variables: dict[str, Any]) -> Docs:
        buckets: dict[int, list[Any]] = {}
        for doc in docs:
            value = missing_to_null(group_by(doc, variables))
            slot = None
            for i, (low, high) in enumerate(itertools.pairwise(boundaries)):
                if compare(low, value) <= 0 and compare(value, high) < 0:
                    slot = i
                    break
            if slot is None:
                if not has_default:
                    raise MongoError(40066, "$switch could not find a matching branch for an input, and no default was specified.")
                slot = len(boundaries)
            states = buckets.get(slot)
            if states is None:
                states = buckets[slot] = [acc.start() for acc in accumulators]
            for i, acc in enumerate(accumulators):
                states[i] = acc.step(states[i], acc.compiled(doc, variables))
        for slot in sorted(buckets):
            result: dict[str, Any] = {"_id": boundaries[slot] if slot < len(boundaries) else default}
            for acc, state in zip(accumulators, buckets[slot]):
                result[acc.field] = acc.finish(state)
            yield result

    return bucket


def _stage_documents(spec: Any, ctx: PipelineContext) -> Stage:
    compiled = compile_expression(spec)

    def documents(docs: Docs, variables: dict[str, Any]) -> Docs:
        value = compiled({}, variables)
        if not isinstance(value, list) or not all(isinstance(d, Mapping) for d in value):
            raise MongoError(5858203, "an array of documents must be specified for $documents")
        return iter([dict(d) for d in value])

    return documents


_STAGES: dict[str, Callable[[Any, PipelineContext], Stage]] = {
    "$match": _stage_match,
    "$project": _stage_project,
    "$addFields": _stage_add_fields,
    "$set": _stage_add_fields,
    "$unset": _stage_unset,
    "$sort": _stage_sort,
    "$skip": _stage_skip,
    "$limit": _stage_limit,
    "$group": _stage_group,
    "$count": _stage_count,
    "$unwind": _stage_unwind,
    "$lookup": _stage_lookup,
    "$replaceRoot": _stage_replace_root,
    "$replaceWith": _stage_replace_with,
    "$sortByCount": _stage_sort_by_count,
    "$facet": _stage_facet,
    "$sample": _stage_sample,
    "$bucket": _stage_bucket,
    "$documents": _stage_documents,
}

# Stages producing documents from server state, run by the command layer.
SOURCE_STAGES = frozenset({"$listLocalSessions"})

_UNSUPPORTED_STAGES = frozenset({
    "$geoNear", "$graphLookup", "$bucketAuto", "$collStats", "$indexStats", "$planCacheStats",
    "$currentOp", "$listSessions", "$changeStream", "$search",
    "$searchMeta", "$vectorSearch", "$unionWith", "$densify", "$fill", "$setWindowFields",
    "$redact", "$listSearchIndexes",
})
