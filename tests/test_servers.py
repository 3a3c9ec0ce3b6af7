"""The suite knows which server it runs against (mongolet-only tests skip on MongoDB)."""

from __future__ import annotations

from pymongo import MongoClient

from tests.conftest import using_real_mongodb


def test_using_real_mongodb_matches_the_server_the_suite_talks_to(client: MongoClient) -> None:
    is_mongolet = client.admin.command("buildInfo").get("gitVersion") == "mongolet"
    assert using_real_mongodb() is not is_mongolet
