"""$text on a text index: english stemming and stop words, the none language, phrases,
negations, case and diacritic sensitivity, textScore in projections and sorts, and
IndexNotFound without a text index - the examples of MongoDB's manual, sync and async."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure
from pymongo.synchronous.database import Database

ARTICLES = [
    {"_id": 1, "subject": "coffee", "author": "xyz", "views": 50},
    {"_id": 2, "subject": "Coffee Shopping", "author": "efg", "views": 5},
    {"_id": 3, "subject": "Baking a cake", "author": "abc", "views": 90},
    {"_id": 4, "subject": "baking", "author": "xyz", "views": 100},
    {"_id": 5, "subject": "Café Con Leche", "author": "abc", "views": 200},
    {"_id": 6, "subject": "Сырники", "author": "jkl", "views": 80},
    {"_id": 7, "subject": "coffee and cream", "author": "efg", "views": 10},
    {"_id": 8, "subject": "Cafe con Leche", "author": "xyz", "views": 10},
]


def _ids(db: Database, search: str, **options: Any) -> list[int]:
    return sorted(d["_id"] for d in db.articles.find({"$text": {"$search": search, **options}}))


def test_text_search_without_a_text_index_is_index_not_found(db: Database) -> None:
    db.articles.insert_many(ARTICLES)
    with pytest.raises(OperationFailure) as missing:
        list(db.articles.find({"$text": {"$search": "coffee"}}))
    assert missing.value.code == 27


def test_terms_stemming_phrases_and_negations(db: Database) -> None:
    db.articles.insert_many(ARTICLES)
    db.articles.create_index([("subject", "text")])
    assert _ids(db, "coffee") == [1, 2, 7]
    assert _ids(db, "bake coffee cake") == [1, 2, 3, 4, 7]  # stems: bake ~ baking
    assert _ids(db, '"coffee shop"') == [2]
    assert _ids(db, "coffee -shop") == [1, 7]
    assert _ids(db, "and the a") == []  # stop words only
    assert _ids(db, "leche", **{"$language": "none"}) == [5, 8]
    assert _ids(db, "Coffee", **{"$caseSensitive": True}) == [2]
    assert _ids(db, "CAFÉ", **{"$diacriticSensitive": True}) == [5]
    assert _ids(db, "сырники") == [6]
    assert db.articles.count_documents({"$text": {"$search": "coffee"}, "views": {"$gt": 20}}) == 1
    found = list(db.articles.aggregate([{"$match": {"$text": {"$search": "baking"}}}]))
    assert sorted(d["_id"] for d in found) == [3, 4]
    assert db.command("count", "articles", query={"$text": {"$search": "coffee"}})["n"] == 3
    assert db.articles.update_many({"$text": {"$search": "cake"}},
                                   {"$set": {"sweet": True}}).modified_count == 1
    assert db.articles.find_one_and_update({"$text": {"$search": "cream"}},
                                           {"$set": {"x": 1}})["_id"] == 7
    assert db.articles.delete_many({"$text": {"$search": "leche"}}).deleted_count == 2
    plan = db.articles.find({"$text": {"$search": "coffee"}}).explain()
    assert plan["executionStats"]["nReturned"] == 3
    with pytest.raises(OperationFailure) as second:
        db.articles.create_index([("author", "text")])
    assert second.value.code == 85


def test_text_index_listed_as_mongod_stores_it(db: Database) -> None:
    db.articles.create_index([("subject", "text"), ("author", "text")], weights={"subject": 3})
    listed = [i for i in db.articles.list_indexes() if i["name"] == "subject_text_author_text"]
    assert listed == [{"v": 2, "key": {"_fts": "text", "_ftsx": 1},
                       "name": "subject_text_author_text", "weights": {"subject": 3},
                       "default_language": "english", "language_override": "language",
                       "textIndexVersion": 3}]
    db.command("dropIndexes", "articles", index={"_fts": "text", "_ftsx": 1})
    assert len(list(db.articles.list_indexes())) == 1


def test_text_score_in_projection_and_sort(db: Database) -> None:
    db.articles.insert_many(ARTICLES)
    db.articles.create_index([("subject", "text")])
    found = list(db.articles.find({"$text": {"$search": "coffee"}},
                                  {"score": {"$meta": "textScore"}, "subject": 1, "_id": 0})
                 .sort([("score", {"$meta": "textScore"})]))
    assert found == [{"subject": "coffee", "score": 1.0},
                     {"subject": "Coffee Shopping", "score": 0.75},
                     {"subject": "coffee and cream", "score": 0.6666666666666666}]
    with pytest.raises(OperationFailure):
        list(db.articles.find({}, {"score": {"$meta": "textScore"}}))


def test_weights_and_wildcard_text_index(db: Database) -> None:
    db.posts.insert_many([{"_id": 1, "title": "tea", "body": "coffee"},
                          {"_id": 2, "title": "coffee", "body": "tea"}])
    db.posts.create_index([("title", "text"), ("body", "text")], weights={"title": 10})
    ranked = list(db.posts.find({"$text": {"$search": "coffee"}},
                                {"score": {"$meta": "textScore"}})
                  .sort([("score", {"$meta": "textScore"})]))
    assert [d["_id"] for d in ranked] == [2, 1] and ranked[0]["score"] == 10 * ranked[1]["score"]
    db.notes.insert_many([{"_id": 1, "a": {"b": "running shoes"}}, {"_id": 2, "c": "walk"}])
    db.notes.create_index([("$**", "text")])
    assert [d["_id"] for d in db.notes.find({"$text": {"$search": "run"}})] == [1]


async def test_async_text_search(adb: AsyncDatabase) -> None:
    await adb.articles.insert_many(ARTICLES)
    with pytest.raises(OperationFailure) as missing:
        await adb.articles.find({"$text": {"$search": "coffee"}}).to_list()
    assert missing.value.code == 27
    await adb.articles.create_index([("subject", "text")])
    found = await adb.articles.find({"$text": {"$search": "coffee -shop"}},
                                    {"score": {"$meta": "textScore"}}).to_list()
    assert sorted(d["_id"] for d in found) == [1, 7]
    assert all(d["score"] > 0 for d in found)
