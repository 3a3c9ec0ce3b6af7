"""The benchmark's documents, as PyMongo returns them (pure, deterministic).

Two shapes: a small flat user, and a nested article with an embedded author and a list of
embedded comments. Datetimes are naive UTC with millisecond precision, as stored in BSON.
"""

from __future__ import annotations

import datetime
from typing import Any

from bson import ObjectId

_EPOCH = datetime.datetime(2024, 1, 1)
COMMENTS_PER_ARTICLE = 5


def _when(i: int) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(minutes=i)


def flat_fields(i: int) -> dict[str, Any]:
    """The fields of user ``i`` without ``_id`` (what an application passes to a model)."""
    return {
        "name": f"user-{i}",
        "email": f"user{i}@example.com",
        "age": 18 + i % 60,
        "active": i % 3 != 0,
        "score": i * 0.5,
        "created": _when(i),
    }


def flat_document(i: int) -> dict[str, Any]:
    return {"_id": ObjectId(), **flat_fields(i)}


def nested_fields(i: int) -> dict[str, Any]:
    return {
        "title": f"article {i}",
        "tags": ["news", f"tag{i % 7}", f"tag{i % 11}"],
        "author": {"name": f"author-{i % 13}", "email": f"a{i % 13}@example.com"},
        "comments": [
            {"author": f"reader-{j}", "text": f"comment {j} on {i}", "likes": j}
            for j in range(COMMENTS_PER_ARTICLE)
        ],
        "published": _when(i),
    }


def nested_document(i: int) -> dict[str, Any]:
    return {"_id": ObjectId(), **nested_fields(i)}
