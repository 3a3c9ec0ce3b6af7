"""Dotted paths into documents and arrays.

Three readings of a path, as mongod has them:

- ``get_path``: no array expansion; numeric components index arrays ("a.0.b").
- ``match_values``: what the query language sees: arrays met on the way are expanded one
  level, documents missing the field contribute ``MISSING``.
- ``path_values``: the values distinct and index keys use (query expansion, then the final
  array's elements).

Writers (``set_path``/``unset_path`` and ``CopyOnWrite``) never touch the input document:
they copy only the containers along the written path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mongolet.errors import MongoError

# MISSING lives with the values it sorts among; path readers return it, so it is offered here too.
from mongolet.query.values import MISSING as MISSING
from mongolet.query.values import render


def split_path(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def array_index(part: str) -> int | None:
    """``part`` as an array index ("0", "12"), or None when it is not one."""
    if part.isdigit() and part.isascii():
        return int(part)
    return None


def get_path(doc: Any, path: str | tuple[str, ...]) -> Any:
    """The value at ``path`` without array expansion, or ``MISSING``."""
    parts = split_path(path) if isinstance(path, str) else path
    current = doc
    for part in parts:
        if isinstance(current, Mapping):
            current = current.get(part, MISSING)
            if current is MISSING:
                return MISSING
        elif isinstance(current, list):
            index = array_index(part)
            if index is None or index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def match_values(doc: Any, parts: tuple[str, ...]) -> list[Any]:
    """Every value the query language compares for ``parts``: arrays on the way expanded one
    level, ``MISSING`` for documents lacking the field; ``[MISSING]`` when nothing is reached.
    Final arrays are returned whole (the matcher also tries their elements)."""
    out: list[Any] = []
    _collect(doc, parts, 0, out)
    return out or [MISSING]


def _collect(value: Any, parts: tuple[str, ...], i: int, out: list[Any]) -> None:
    if i == len(parts):
        out.append(value)
        return
    part = parts[i]
    if isinstance(value, Mapping):
        _collect(value.get(part, MISSING), parts, i + 1, out)
    elif isinstance(value, list):
        index = array_index(part)
        if index is not None:
            if index < len(value):
                _collect(value[index], parts, i + 1, out)
            # A numeric component is also a field name of documents in the array.
            for element in value:
                if isinstance(element, Mapping) and part in element:
                    _collect(element[part], parts, i + 1, out)
            return
        for element in value:
            if isinstance(element, Mapping):
                _collect(element.get(part, MISSING), parts, i + 1, out)
    elif value is MISSING:
        out.append(MISSING)
    else:
        # A scalar on the way: the path does not exist below it.
        out.append(MISSING)


def path_values(doc: Any, path: str) -> list[Any]:
    """Every value ``path`` reaches, expanding arrays as the query language does
    (used for distinct and for index keys). Empty when the path reaches nothing."""
    found: list[Any] = []
    for value in match_values(doc, split_path(path)):
        if value is MISSING:
            continue
        if isinstance(value, list):
            found.extend(value)
        else:
            found.append(value)
    return found


class CopyOnWrite:
    """A new version of a document under construction: containers are copied the first
    time a write goes through them, so the original document stays untouched."""

    __slots__ = ("_copied", "root")

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.root: dict[str, Any] = dict(doc)
        self._copied: set[int] = {id(self.root)}

    def writable(self, container: Any, key: Any) -> Any:
        """``container[key]`` copied if needed (it must be a dict or a list)."""
        child = container[key]
        if id(child) in self._copied:
            return child
        if isinstance(child, Mapping):
            child = dict(child)
        elif isinstance(child, list):
            child = list(child)
        else:
            return child
        container[key] = child
        self._copied.add(id(child))
        return child

    def adopt(self, value: Any) -> Any:
        """Mark a freshly built container as owned (writes may go into it directly)."""
        if isinstance(value, (dict, list)):
            self._copied.add(id(value))
        return value

    def parent_for_write(self, parts: tuple[str, ...], *, create: bool) -> tuple[Any, str] | None:
        """The writable container holding the last component of ``parts``, creating missing
        intermediate documents when ``create``; None when a component is missing and
        ``create`` is false. Raises 28 PathNotViable through a scalar or a non-index into an
        array."""
        current: Any = self.root
        holder = ""
        for depth, part in enumerate(parts[:-1]):
            if isinstance(current, dict):
                if part not in current:
                    if not create:
                        return None
                    current[part] = self.adopt({})
                key: Any = part
            elif isinstance(current, list):
                index = array_index(part)
                if index is None:
                    if not create:
                        return None
                    raise _not_viable(part, holder, current)
                if index >= len(current):
                    if not create:
                        return None
                    current.extend([None] * (index - len(current) + 1))
                    current[index] = self.adopt({})
                key = index
            else:  # pragma: no cover - guarded below
                return None
            child = current[key]
            if not isinstance(child, (dict, list)):
                if not create:
                    return None
                raise _not_viable(parts[depth + 1], part, child)
            current = self.writable(current, key)
            holder = part
        return current, parts[-1]


def _not_viable(field: str, holder: str, value: Any) -> MongoError:
    return MongoError(28, f"Cannot create field '{field}' in element {{{holder}: {render(value)}}}")


def set_in(cow: CopyOnWrite, parts: tuple[str, ...], value: Any) -> None:
    """Set ``parts`` to ``value`` in the new version, creating intermediate documents."""
    located = cow.parent_for_write(parts, create=True)
    assert located is not None
    container, last = located
    if isinstance(container, dict):
        container[last] = value
        return
    index = array_index(last)
    if index is None:
        raise _not_viable(last, parts[-2] if len(parts) > 1 else "", container)
    if index >= len(container):
        container.extend([None] * (index - len(container) + 1))
    container[index] = value


def unset_in(cow: CopyOnWrite, parts: tuple[str, ...]) -> bool:
    """Remove ``parts`` (an array element becomes null, as mongod does); True if it existed."""
    located = cow.parent_for_write(parts, create=False)
    if located is None:
        return False
    container, last = located
    if isinstance(container, dict):
        if last in container:
            del container[last]
            return True
        return False
    index = array_index(last)
    if index is None or index >= len(container):
        return False
    container[index] = None
    return True


def set_path(doc: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with ``path`` set to ``value`` (intermediate documents created)."""
    cow = CopyOnWrite(doc)
    set_in(cow, split_path(path), value)
    return cow.root


def unset_path(doc: Mapping[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``doc`` without ``path``."""
    cow = CopyOnWrite(doc)
    unset_in(cow, split_path(path))
    return cow.root
