"""Compound and custom indexes declared by a model (``model_config["indexes"]``)."""

from __future__ import annotations

from typing import Any

import pymongo

from odm.query import FieldLike, SortExpression, key_of


class Index:
    """An index on one or more fields, in ascending order unless given a sort expression.

    >>> from odm import Model, Index
    >>> from odm.query import desc
    >>> class Event(Model):
    ...     user: str
    ...     at: int
    ...     model_config = {"indexes": lambda: [Index(Event.user, desc(Event.at), unique=True)]}
    """

    def __init__(
        self, *fields: FieldLike | SortExpression, unique: bool = False, name: str | None = None
    ) -> None:
        if not fields:
            raise TypeError("Index needs at least one field")
        keys: list[tuple[str, Any]] = []
        for field in fields:
            if isinstance(field, SortExpression):
                keys.extend(field.items())
            else:
                keys.append((key_of(field), pymongo.ASCENDING))
        self.keys = keys
        self.unique = unique
        self.name = name

    def to_index_model(self) -> pymongo.IndexModel:
        """The PyMongo ``IndexModel`` for this index."""
        options: dict[str, Any] = {}
        if self.unique:
            options["unique"] = True
        if self.name is not None:
            options["name"] = self.name
        return pymongo.IndexModel(self.keys, **options)

    def __repr__(self) -> str:
        return f"Index({self.keys!r}, unique={self.unique}, name={self.name!r})"


__all__ = ["Index"]
