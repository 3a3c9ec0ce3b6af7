"""Projections: ``find(projection=...)`` and the aggregation ``$project`` stage.

A projection is parsed once into a tree (one node per document level) and is either an
inclusion (keep the listed fields, ``_id`` unless excluded, computed fields appended in spec
order) or an exclusion (drop the listed fields). find projections also have ``$slice``,
``$elemMatch`` and the positional ``field.$``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mongolet.errors import MongoError, bad_value
from mongolet.query.expressions import compile_expression
from mongolet.query.matcher import elem_match_predicate
from mongolet.query.paths import MISSING, split_path
from mongolet.query.positional import matched_array_index
from mongolet.query.values import is_number, numeric

Variables = Mapping[str, Any]
Projector = Callable[[Mapping[str, Any], Variables], dict[str, Any]]

INCLUDE = "include"
EXCLUDE = "exclude"


class _Computed:
    __slots__ = ("compiled",)

    def __init__(self, compiled: Callable[[Mapping[str, Any], Variables], Any]) -> None:
        self.compiled = compiled


class _Slice:
    __slots__ = ("limit", "skip")

    def __init__(self, skip: int | None, limit: int) -> None:
        self.skip = skip
        self.limit = limit

    def apply(self, value: Any) -> Any:
        if type(value) is not list:
            return value
        if self.skip is None:
            return value[: self.limit] if self.limit >= 0 else value[self.limit :]
        start = self.skip if self.skip >= 0 else max(len(value) + self.skip, 0)
        return value[start : start + self.limit]


class _ElemMatch:
    __slots__ = ("test",)

    def __init__(self, test: Callable[[Any], bool]) -> None:
        self.test = test

    def apply(self, value: Any) -> Any:
        if type(value) is not list:
            return MISSING
        for element in value:
            if self.test(element):
                return [element]
        return MISSING


class _Positional:
    __slots__ = ()


class _Node:
    """One level of the projection: what to do with each field name."""

    __slots__ = ("computed", "fields", "has_computed")

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.computed: list[tuple[str, Any]] = []
        self.has_computed = False

    def child(self, name: str, full_path: str, remaining: str) -> _Node:
        existing = self.fields.get(name)
        if existing is None:
            node = _Node()
            self.fields[name] = node
            return node
        if isinstance(existing, _Node):
            return existing
        raise MongoError(31249, f"Path collision at {full_path} remaining portion {remaining}")

    def set(self, name: str, action: Any, full_path: str) -> None:
        if name in self.fields:
            raise MongoError(31250, f"Path collision at {full_path}")
        self.fields[name] = action
        if isinstance(action, _Computed):
            self.computed.append((name, action))
            self.has_computed = True


def _is_flag(value: Any) -> bool:
    return isinstance(value, bool) or is_number(value)


def _flag_value(value: Any) -> bool:
    return bool(value) if isinstance(value, bool) else numeric(value) != 0


def compile_projection(
    spec: Mapping[str, Any] | None,
    *,
    query: Mapping[str, Any] | None = None,
    variables: Variables | None = None,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Compile a find projection into a function returning a new projected document.
    ``query`` is the find filter (for the positional ``field.$``); ``variables`` the
    command's ``let``."""
    if not spec:
        return _identity
    project = _compile(spec, find=True, query=query)
    bound = dict(variables or {})

    def projected(doc: dict[str, Any]) -> dict[str, Any]:
        return project(doc, bound)

    return projected


def compile_stage_projection(spec: Any) -> Projector:
    """The aggregation ``$project`` stage: ``f(doc, variables) -> new doc``."""
    if not isinstance(spec, Mapping):
        raise MongoError(15969, "$project specification must be an object")
    if not spec:
        raise MongoError(51272, "Invalid $project :: caused by :: projection specification must have at least one field")
    return _compile(spec, find=False, query=None)


def _identity(doc: dict[str, Any]) -> dict[str, Any]:
    return doc


def _compile(spec: Mapping[str, Any], *, find: bool, query: Mapping[str, Any] | None) -> Projector:
    root = _Node()
    # "inclusion"/"exclusion" decided by the first non-_id field that says so.
    mode: str | None = None
    id_action: Any = None
    positional: tuple[str, ...] | None = None

    def note(kind: str, field: str) -> None:
        nonlocal mode
        if mode is None:
            mode = kind
        elif mode != kind:
            if mode == INCLUDE:
                raise MongoError(31253, f"Cannot do exclusion on field {field} in inclusion projection")
            raise MongoError(31254, f"Cannot do inclusion on field {field} in exclusion projection")

    def add(node: _Node, path: str, prefix: str, value: Any) -> None:
        nonlocal id_action, positional
        full = f"{prefix}{path}"
        if not path:
            raise bad_value("FieldPath cannot be constructed with empty string")
        if path.startswith("$") and not prefix:
            raise bad_value("FieldPath field names may not start with '$'. Consider using $getField or $setField.")
        parts = split_path(path)
        if find and parts[-1] == "$":
            if positional is not None:
                raise bad_value("Cannot specify more than one positional projection per query.")
            if not _is_flag(value) or not _flag_value(value):
                raise MongoError(31395 if _is_flag(value) else 2,
                                 "positional projection cannot be used with exclusion" if _is_flag(value)
                                 else "positional projection must be a true value")
            note(INCLUDE, full)
            positional = split_path(full)[:-1]
            parts = parts[:-1]
            action: Any = _Positional()
        elif _is_flag(value):
            include = _flag_value(value)
            if full == "_id":
                id_action = INCLUDE if include else EXCLUDE
                return
            note(INCLUDE if include else EXCLUDE, full)
            action = INCLUDE if include else EXCLUDE
        elif isinstance(value, Mapping) and value and all(not str(k).startswith("$") for k in value):
            # Nested form: {a: {b: 1}} is {"a.b": 1}.
            target = node
            for i, part in enumerate(parts):
                target = target.child(part, full, ".".join(parts[i + 1 :]))
            for sub, sub_value in value.items():
                add(target, sub, f"{full}.", sub_value)
            return
        elif isinstance(value, Mapping) and value and "$meta" in value:
            raise MongoError(2, f"$meta projection '{value['$meta']}' is not supported by mongolet")
        elif find and isinstance(value, Mapping) and len(value) == 1 and "$slice" in value and _is_find_slice(value["$slice"]):
            action = _parse_slice(value["$slice"])
        elif find and isinstance(value, Mapping) and len(value) == 1 and "$elemMatch" in value:
            if len(parts) > 1:
                raise bad_value("Cannot use $elemMatch projection on a nested field.")
            action = _ElemMatch(elem_match_predicate(value["$elemMatch"]))
        else:
            if isinstance(value, Mapping) and not value:
                raise bad_value("An empty sub-projection is not a valid value. Found empty object at path")
            if full == "_id":
                id_action = _Computed(compile_expression(value))
                return
            note(INCLUDE, full)
            action = _Computed(compile_expression(value))
        target = node
        for i, part in enumerate(parts[:-1]):
            target = target.child(part, full, ".".join(parts[i + 1 :]))
        target.set(parts[-1], action, full)

    for field, value in spec.items():
        add(root, field, "", value)

    has_elem_match = any(isinstance(a, _ElemMatch) for a in root.fields.values())
    inclusion = mode == INCLUDE or (mode is None and (has_elem_match or id_action == INCLUDE or isinstance(id_action, _Computed)))
    if mode is None and not inclusion and id_action is None and not root.fields:
        inclusion = False
    if inclusion:
        if id_action is None or id_action == INCLUDE:
            root.fields = {"_id": INCLUDE, **root.fields}
        elif isinstance(id_action, _Computed):
            root.set("_id", id_action, "_id")
    elif id_action == EXCLUDE:
        root.fields["_id"] = EXCLUDE
    elif isinstance(id_action, _Computed):
        raise MongoError(31254, "Cannot do inclusion on field _id in exclusion projection")

    if inclusion:
        if positional is not None:
            return _with_positional(root, positional, query)

        def include_root(doc: Mapping[str, Any], variables: Variables) -> dict[str, Any]:
            return _include(root, doc, doc, variables)

        return include_root

    def exclude_root(doc: Mapping[str, Any], variables: Variables) -> dict[str, Any]:
        return _exclude(root, doc)

    return exclude_root


def _is_find_slice(arg: Any) -> bool:
    if is_number(arg):
        return True
    return isinstance(arg, list) and len(arg) == 2 and all(is_number(x) for x in arg)


def _parse_slice(arg: Any) -> _Slice:
    if is_number(arg):
        return _Slice(None, int(numeric(arg)))
    skip, limit = (int(numeric(x)) for x in arg)
    if limit <= 0:
        raise MongoError(28724, "Second argument to $slice must be positive")
    return _Slice(skip, limit)


def _include(node: _Node, doc: Mapping[str, Any], root: Mapping[str, Any], variables: Variables) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fields = node.fields
    for name, value in doc.items():
        action = fields.get(name)
        if action is None or isinstance(action, _Computed):
            continue
        if action is INCLUDE:
            out[name] = value
        elif isinstance(action, _Node):
            sub = _include_value(action, value, root, variables)
            if sub is not MISSING:
                out[name] = sub
        elif isinstance(action, (_Slice, _ElemMatch)):
            sub = action.apply(value)
            if sub is not MISSING:
                out[name] = sub
        elif isinstance(action, _Positional):
            out[name] = value
    if node.has_computed:
        _add_computed(node, out, root, variables)
    return out


def _add_computed(node: _Node, out: dict[str, Any], root: Mapping[str, Any], variables: Variables) -> None:
    for name, action in node.computed:
        value = action.compiled(root, variables)
        if value is not MISSING:
            out[name] = value
    for name, action in node.fields.items():
        # Sub-documents with computed fields exist even when the input lacks them.
        if isinstance(action, _Node) and _has_computed(action) and name not in out:
            out[name] = _include(action, {}, root, variables)


def _has_computed(node: _Node) -> bool:
    return node.has_computed or any(isinstance(a, _Node) and _has_computed(a) for a in node.fields.values())


def _include_value(node: _Node, value: Any, root: Mapping[str, Any], variables: Variables) -> Any:
    if isinstance(value, Mapping):
        return _include(node, value, root, variables)
    if type(value) is list:
        out = []
        for element in value:
            if isinstance(element, (Mapping, list)):
                out.append(_include_value(node, element, root, variables))
            elif _has_computed(node):
                out.append(_include(node, {}, root, variables))
        return out
    if _has_computed(node):
        return _include(node, {}, root, variables)
    return MISSING


def _exclude(node: _Node, doc: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fields = node.fields
    for name, value in doc.items():
        action = fields.get(name)
        if action is None:
            out[name] = value
        elif action is EXCLUDE:
            continue
        elif isinstance(action, _Node):
            out[name] = _exclude_value(action, value)
        elif isinstance(action, (_Slice, _ElemMatch)):
            sub = action.apply(value)
            if sub is not MISSING:
                out[name] = sub
        else:
            out[name] = value
    return out


def _exclude_value(node: _Node, value: Any) -> Any:
    if isinstance(value, Mapping):
        return _exclude(node, value)
    if type(value) is list:
        return [_exclude_value(node, element) for element in value]
    return value


def _with_positional(root: _Node, array_path: tuple[str, ...], query: Mapping[str, Any] | None) -> Projector:
    def project(doc: Mapping[str, Any], variables: Variables) -> dict[str, Any]:
        out = _include(root, doc, doc, variables)
        index = matched_array_index(doc, query or {}, array_path)
        if index is None:
            raise MongoError(
                51246,
                "Executor error during find command :: caused by :: positional operator "
                "'.$' couldn't find a matching element in the array",
            )
        container: Any = out
        for part in array_path[:-1]:
            container = container.get(part) if isinstance(container, Mapping) else None
        if isinstance(container, dict):
            array = container.get(array_path[-1])
            if type(array) is list and index < len(array):
                container[array_path[-1]] = [array[index]]
        return out

    return project
