"""The FastAPI example: every status code a client can get, the docs, and real HTTP.

The app runs on the example's container, pointed at the suite's server and a fresh
database; FastAPI's TestClient runs its lifespan (the client opens and closes with it).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from pymongo import MongoClient

from examples.di_service.containers import Container
from examples.web_api.app import create_app


@pytest.fixture
def container(mongodb_uri: str, db_name: str, client: MongoClient) -> Iterator[Container]:
    container = Container()
    container.config.uri.from_value(mongodb_uri)
    container.config.database.from_value(db_name)
    yield container
    client.drop_database(db_name)


@pytest.fixture
def http(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as http:
        yield http


def open_account(http: TestClient, account_id: str, balance: int) -> dict[str, Any]:
    response = http.post("/accounts", json={"id": account_id, "owner": account_id.title(),
                                           "balance": balance})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_open_read_transfer_and_statement(http: TestClient) -> None:
    assert open_account(http, "alice", 100) == {
        "id": "alice", "owner": "Alice", "balance": 100, "version": 0,
    }
    open_account(http, "bob", 5)
    made = http.post("/transfers", json={"source": "alice", "target": "bob", "amount": 30})
    assert made.status_code == 201, made.text
    entry = made.json()
    assert (entry["source"], entry["target"], entry["amount"]) == ("alice", "bob", 30)
    assert entry["at"].endswith("Z")  # an aware UTC timestamp
    assert http.get("/accounts/bob").json() == {
        "id": "bob", "owner": "Bob", "balance": 35, "version": 1,
    }
    assert [(a["id"], a["balance"]) for a in http.get("/accounts").json()] == [
        ("alice", 70), ("bob", 35),
    ]
    statement = http.get("/accounts/alice/transfers")
    assert statement.status_code == 200
    assert statement.json() == [entry]  # the same entry, as stored


def test_a_transfer_is_notified_by_the_relay_the_lifespan_runs(http: TestClient) -> None:
    open_account(http, "alice", 100)
    open_account(http, "bob", 0)
    entry = http.post("/transfers", json={"source": "alice", "target": "bob", "amount": 7}).json()
    deadline = time.monotonic() + 10
    while not (received := http.get("/notifications").json()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert received == [{"transfer": entry["id"], "source": "alice", "target": "bob", "amount": 7}]


def test_unknown_accounts_are_404(http: TestClient) -> None:
    open_account(http, "alice", 10)
    missing = http.get("/accounts/zed")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Account with id='zed' not found in collection 'accounts'"}
    assert http.get("/accounts/zed/transfers").status_code == 404
    assert http.patch("/accounts/zed", json={"owner": "Z", "version": 0}).status_code == 404
    to_nobody = http.post("/transfers", json={"source": "alice", "target": "zed", "amount": 1})
    assert to_nobody.status_code == 404
    assert http.get("/accounts/alice").json()["balance"] == 10


def test_a_duplicate_account_is_409_and_changes_nothing(http: TestClient) -> None:
    open_account(http, "alice", 10)
    again = http.post("/accounts", json={"id": "alice", "owner": "Mallory", "balance": 10**6})
    assert again.status_code == 409
    assert "duplicate key" in again.json()["detail"]
    assert http.get("/accounts/alice").json() == {
        "id": "alice", "owner": "Alice", "balance": 10, "version": 0,
    }


def test_renaming_a_changed_account_is_409(http: TestClient) -> None:
    open_account(http, "alice", 10)
    open_account(http, "bob", 0)
    seen = http.get("/accounts/alice").json()["version"]
    http.post("/transfers", json={"source": "alice", "target": "bob", "amount": 1})  # meanwhile
    stale = http.patch("/accounts/alice", json={"owner": "Alicia", "version": seen})
    assert stale.status_code == 409
    assert "reload it and try again" in stale.json()["detail"]
    assert http.get("/accounts/alice").json()["owner"] == "Alice"
    current = http.get("/accounts/alice").json()["version"]
    renamed = http.patch("/accounts/alice", json={"owner": "Alicia", "version": current})
    assert renamed.status_code == 200
    assert renamed.json() == {
        "id": "alice", "owner": "Alicia", "balance": 9, "version": current + 1,
    }


def test_insufficient_funds_is_422_and_writes_nothing(http: TestClient) -> None:
    open_account(http, "alice", 10)
    open_account(http, "bob", 0)
    refused = http.post("/transfers", json={"source": "alice", "target": "bob", "amount": 11})
    assert refused.status_code == 422
    assert refused.json() == {"detail": "account 'alice' has 10, cannot pay 11"}
    itself = http.post("/transfers", json={"source": "alice", "target": "alice", "amount": 1})
    assert itself.status_code == 422
    assert "to itself" in itself.json()["detail"]
    assert [(a["balance"], a["version"]) for a in http.get("/accounts").json()] == [(10, 0), (0, 0)]
    assert http.get("/accounts/alice/transfers").json() == []


@pytest.mark.parametrize(
    ("path", "body", "location"),
    [
        ("/transfers", {"source": "alice", "target": "bob", "amount": 0}, ["body", "amount"]),
        ("/transfers", {"source": "alice", "amount": 5}, ["body", "target"]),
        ("/accounts", {"id": "Not An Id!", "owner": "x"}, ["body", "id"]),
        ("/accounts", {"id": "carol", "owner": "Carol", "balance": -1}, ["body", "balance"]),
    ],
)
def test_bad_input_is_422_naming_the_field(
    http: TestClient, path: str, body: dict[str, Any], location: list[str]
) -> None:
    response = http.post(path, json=body)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [location]
    assert http.get("/accounts").json() == []


def test_openapi_documents_the_routes_and_their_errors(http: TestClient) -> None:
    schema = http.get("/openapi.json").json()
    routes = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert routes == {
        ("/accounts", "get"), ("/accounts", "post"),
        ("/accounts/{account_id}", "get"), ("/accounts/{account_id}", "patch"),
        ("/accounts/{account_id}/transfers", "get"), ("/transfers", "post"),
        ("/notifications", "get"),
    }
    assert set(schema["paths"]["/transfers"]["post"]["responses"]) == {"201", "404", "422"}
    assert set(schema["paths"]["/accounts/{account_id}"]["patch"]["responses"]) == {
        "200", "404", "409", "422",
    }
    docs = http.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text


def test_the_lifespan_opens_and_shuts_the_container_resources(container: Container) -> None:
    assert not container.client.initialized
    with TestClient(create_app(container)) as http:
        assert container.client.initialized  # connected at start-up
        open_account(http, "alice", 1)
    assert not container.client.initialized  # shut down (closed: see test_di_service)


# ---------------------------------------------------------------- real HTTP


@pytest.fixture
def served(container: Container) -> Iterator[str]:
    """The app behind uvicorn on a free loopback port, in a thread; yields its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(container), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


async def test_real_http_requests_concurrently(served: str) -> None:
    async with httpx.AsyncClient(base_url=served, timeout=30) as web:
        for account_id, balance in (("alice", 100), ("bob", 0)):
            created = await web.post("/accounts", json={"id": account_id, "owner": account_id,
                                                        "balance": balance})
            assert created.status_code == 201, created.text
        transfers = await asyncio.gather(*(
            web.post("/transfers", json={"source": "alice", "target": "bob", "amount": 10})
            for _ in range(8)
        ))
        assert [t.status_code for t in transfers] == [201] * 8
        alice = (await web.get("/accounts/alice")).json()
        assert (alice["balance"], alice["version"]) == (20, 8)
        assert len((await web.get("/accounts/bob/transfers")).json()) == 8


async def test_two_overlapping_renames_one_wins_the_other_is_409(served: str) -> None:
    """Two PATCHes of one account, sent at once with the version both read: the one that
    loses the race (a stale version, or a WriteConflict in its flush or commit) is 409."""
    names = [f"account{i}" for i in range(8)]
    async with httpx.AsyncClient(base_url=served, timeout=30) as web:
        for name in names:
            created = await web.post("/accounts", json={"id": name, "owner": name, "balance": 1})
            assert created.status_code == 201, created.text
        renames = await asyncio.gather(*(
            web.patch(f"/accounts/{name}", json={"owner": f"{name} {n}", "version": 0})
            for name in names for n in (1, 2)
        ))
        for i, name in enumerate(names):
            pair = renames[2 * i: 2 * i + 2]
            assert sorted(r.status_code for r in pair) == [200, 409], [r.text for r in pair]
            (won,) = [r.json() for r in pair if r.status_code == 200]
            (lost,) = [r.json() for r in pair if r.status_code == 409]
            assert "try again" in lost["detail"]
            stored = (await web.get(f"/accounts/{name}")).json()
            assert stored == won == {**stored, "version": 1}  # the winner's write, once
