"""FastAPI apps returning odm models, as ODMantic apps do: field names, ids as hex strings.

FastAPI serialises responses with ``by_alias=True`` and builds its OpenAPI document from the
models' JSON schemas; both must show field names (``id``, ``name``), never stored keys.
fastapi and httpx come with the ``test`` extra (through ``examples``).
"""

from __future__ import annotations

from typing import Any

import bson
import pydantic
import pytest

from odm import ObjectId
from tests.odm.helpers import call, find
from tests.odm.models import Address, Customer

fastapi = pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

Engine = Any  # SyncEngine | AIOEngine: one app body for both


class CustomerPatch(pydantic.BaseModel):
    name: str | None = None
    age: int | None = None


def _app(engine: Engine) -> Any:
    app = fastapi.FastAPI()

    @app.post("/customers", response_model=Customer, status_code=201)
    async def create(customer: Customer) -> Customer:
        saved: Customer = await call(engine.save(customer))
        return saved

    @app.get("/customers/{customer_id}", response_model=Customer)
    async def read(customer_id: ObjectId) -> Customer:
        found: Customer | None = await call(
            engine.find_one(Customer, Customer.id == customer_id)
        )
        if found is None:
            raise fastapi.HTTPException(404)
        return found

    @app.patch("/customers/{customer_id}", response_model=Customer)
    async def patch(customer_id: ObjectId, changes: CustomerPatch) -> Customer:
        customer = await read(customer_id)
        customer.model_update(changes)  # only the fields the client sent
        saved: Customer = await call(engine.save(customer))
        return saved

    @app.delete("/customers/{customer_id}", status_code=204)
    async def delete(customer_id: ObjectId) -> None:
        await call(engine.delete(await read(customer_id)))

    @app.get("/customers", response_model=list[Customer])
    async def read_all() -> list[Customer]:
        customers: list[Customer] = await find(engine, Customer, sort=Customer.age)
        return customers

    return app


def _client(app: Any) -> Any:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_routes_return_field_names_and_hex_ids(engine: Engine) -> None:
    ann = Customer(name="Ann", age=30, address=Address(city="Paris", zip_code="75001"))
    bob = Customer(name="Bob", age=40)
    await call(engine.save_all([ann, bob]))
    async with _client(_app(engine)) as http:
        one = await http.get(f"/customers/{ann.id}")
        many = await http.get("/customers")
        missing = await http.get(f"/customers/{bson.ObjectId()}")
    assert one.status_code == 200
    body = one.json()
    assert body["id"] == str(ann.id)
    assert body["name"] == "Ann"
    assert body["address"] == {"city": "Paris", "zip_code": "75001"}
    assert "_id" not in body and "n" not in body
    assert [(c["id"], c["name"]) for c in many.json()] == [
        (str(ann.id), "Ann"),
        (str(bob.id), "Bob"),
    ]
    assert missing.status_code == 404


async def test_post_body_validates_by_field_names(engine: Engine) -> None:
    oid = bson.ObjectId()
    payload = {"id": str(oid), "name": "Cy", "address": {"city": "Lyon", "zip_code": "69001"}}
    async with _client(_app(engine)) as http:
        created = await http.post("/customers", json=payload)
        invalid = await http.post("/customers", json={"name": 3})
    assert created.status_code == 201, created.text
    assert created.json()["id"] == str(oid)
    assert created.json()["address"]["zip_code"] == "69001"
    stored = await call(engine.find_one(Customer, Customer.id == oid))
    assert stored is not None and stored.address == Address(city="Lyon", zip_code="69001")
    # The database holds stored keys.
    assert stored.model_dump_doc()["n"] == "Cy"
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["body", "name"]


async def test_post_without_id_gets_a_new_one(engine: Engine) -> None:
    async with _client(_app(engine)) as http:
        created = await http.post("/customers", json={"name": "Di"})
    assert created.status_code == 201, created.text
    oid = bson.ObjectId(created.json()["id"])
    assert await call(engine.find_one(Customer, Customer.id == oid)) is not None


def test_openapi_schema_uses_field_names() -> None:
    app = _app(engine=None)
    schema = app.openapi()
    components = schema["components"]["schemas"]
    fields = set(Customer.model_fields)
    # Request bodies use the validation schema, responses the serialization one.
    assert set(components["Customer-Input"]["properties"]) == fields
    assert set(components["Customer-Output"]["properties"]) == fields
    assert components["Customer-Output"]["properties"]["id"]["type"] == "string"
    assert set(components["Address"]["properties"]) == {"city", "zip_code"}
    text = str(schema)
    assert "'_id'" not in text and "'n'" not in text and "'zip'" not in text


async def test_patch_and_delete(engine: Engine) -> None:
    ann = await call(engine.save(Customer(name="Ann", age=30, tags=["a"])))
    async with _client(_app(engine)) as http:
        patched = await http.patch(f"/customers/{ann.id}", json={"age": 31})
        stored = await call(engine.find_one(Customer, Customer.id == ann.id))
        deleted = await http.delete(f"/customers/{ann.id}")
        gone = await http.get(f"/customers/{ann.id}")
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["age"], patched.json()["tags"]) == ("Ann", 31, ["a"])
    assert stored is not None and (stored.name, stored.age) == ("Ann", 31)
    assert deleted.status_code == 204
    assert gone.status_code == 404


def test_openapi_has_no_description_from_odm_docstrings() -> None:
    schema = _app(engine=None).openapi()
    for name, component in schema["components"]["schemas"].items():
        if name.startswith(("Customer", "Address")):
            assert "description" not in component, (name, component["description"])


async def test_pydantic_model_as_response_model(engine: Engine) -> None:
    app = fastapi.FastAPI()
    pure = Customer.__pydantic_model__

    @app.get("/customers/{customer_id}", response_model=pure)
    async def read(customer_id: ObjectId) -> Any:
        return await call(engine.find_one(Customer, Customer.id == customer_id))

    ann = await call(engine.save(Customer(name="Ann", address=Address(city="Caen"))))
    async with _client(app) as http:
        body = (await http.get(f"/customers/{ann.id}")).json()
    assert body["id"] == str(ann.id) and body["name"] == "Ann"
    assert body["address"] == {"city": "Caen", "zip_code": "00000"}
    component = app.openapi()["components"]["schemas"]["Customer"]
    assert set(component["properties"]) == set(Customer.model_fields)
