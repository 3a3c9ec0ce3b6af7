"""Both engines against a real server: CRUD, queries, references, tracking, errors, indexes."""

from __future__ import annotations

import datetime
import decimal

import bson
import pytest
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import AsyncMongoClient, MongoClient

from odm import (
    AIOEngine,
    DocumentNotFoundError,
    DocumentParsingError,
    DuplicateKeyError,
    Field,
    Index,
    IndexConflictError,
    Model,
    ODMConfigDict,
    SyncEngine,
)
from odm.query import all_, asc, desc, elem_match, exists, in_, match, or_, size
from tests.odm.helpers import CommandRecorder, call, find, session
from tests.odm.models import Address, Author, Book, Customer, Item, Player, Publisher, Status

Engine = SyncEngine | AIOEngine


async def test_save_find_count_delete(engine: Engine) -> None:
    ann = await call(engine.save(Customer(name="Ann", age=30)))
    await call(engine.save_all([Customer(name="Bob", age=20), Customer(name="Cid", age=40)]))
    assert await call(engine.count(Customer)) == 3
    assert await call(engine.count(Customer, Customer.age >= 30)) == 2
    found = await call(engine.find_one(Customer, Customer.name == "Ann"))
    assert found == ann and found is not ann
    assert await call(engine.find_one(Customer, Customer.name == "Nobody")) is None
    names = [c.name for c in await find(engine, Customer, sort=desc(Customer.age))]
    assert names == ["Cid", "Ann", "Bob"]
    page = await find(engine, Customer, sort=asc(Customer.age), skip=1, limit=1)
    assert [c.name for c in page] == ["Ann"]
    await call(engine.delete(ann))
    assert await call(engine.count(Customer)) == 2
    with pytest.raises(DocumentNotFoundError) as caught:
        await call(engine.delete(ann))
    assert caught.value.instance is ann
    assert await call(engine.remove(Customer, Customer.age > 100)) == 0
    assert await call(engine.remove(Customer, just_one=True)) == 1
    assert await call(engine.remove(Customer)) == 1


async def test_async_cursor_iterates(aio_engine: AIOEngine) -> None:
    await aio_engine.save_all([Customer(name=str(i), age=i) for i in range(5)])
    ages = [c.age async for c in aio_engine.find(Customer, Customer.age < 3, sort=Customer.age)]
    assert ages == [0, 1, 2]


async def test_stored_documents_use_key_names_and_bson_types(engine: Engine, db_name: str, client: MongoClient) -> None:
    customer = Customer(
        name="Ann",
        address=Address(city="Paris", zip_code="75001"),
        status=Status.CLOSED,
        price=decimal.Decimal("9.99"),
    )
    await call(engine.save(customer))
    raw = client[db_name]["customer"].find_one({"_id": customer.id})
    assert raw is not None
    assert raw["n"] == "Ann"
    assert raw["address"] == {"city": "Paris", "zip": "75001"}
    assert raw["status"] == "closed"
    assert raw["price"] == bson.Decimal128("9.99")
    loaded = await call(engine.find_one(Customer, Customer.id == customer.id))
    assert loaded == customer


async def test_datetimes_round_trip_consistently(engine: Engine) -> None:
    tokyo = datetime.timezone(datetime.timedelta(hours=9))
    aware = datetime.datetime(2024, 1, 2, 9, 0, 0, 123456, tzinfo=tokyo)
    customer = await call(engine.save(Customer(name="a", seen_at=aware)))
    loaded = await call(engine.find_one(Customer))
    assert loaded.seen_at == customer.seen_at == datetime.datetime(2024, 1, 2, 0, 0, 0, 123000)
    assert await call(engine.count(Customer, Customer.seen_at == aware)) == 1


async def test_nested_and_array_queries(engine: Engine) -> None:
    await call(
        engine.save_all(
            [
                Customer(
                    name="a",
                    tags=["x", "y"],
                    scores=[85, 95],
                    address=Address(city="Paris"),
                    items=[Item(sku="s1", qty=3), Item(sku="s2")],
                ),
                Customer(name="b", tags=["x"], scores=[70]),
            ]
        )
    )

    async def names(*queries: object) -> list[str]:
        return sorted(c.name for c in await find(engine, Customer, *queries))

    assert await names(Customer.address.city == "Paris") == ["a"]
    assert await names(all_(Customer.tags, ["x", "y"])) == ["a"]
    assert await names(size(Customer.tags, 1)) == ["b"]
    assert await names(elem_match(Customer.items, Item.sku == "s1", Item.qty > 2)) == ["a"]
    assert await names(elem_match(Customer.items, Item.sku == "s2", Item.qty > 2)) == []
    assert await names(Customer.scores.elem_match({"$gte": 80, "$lt": 90})) == ["a"]
    assert await names(exists(Customer.address), Customer.address != None) == ["a"]  # noqa: E711
    assert await names(in_(Customer.name, ["b", "z"])) == ["b"]
    assert await names(match(Customer.name, "^[ab]$")) == ["a", "b"]
    assert await names(or_(Customer.name == "a", Customer.tags == ["x"])) == ["a", "b"]
    assert await names({"n": "b"}) == ["b"]  # raw dicts are used as they are


async def test_query_values_cannot_become_operators(engine: Engine) -> None:
    await call(engine.save_all([Customer(name="Ann"), Customer(name="$where")]))
    # A user-supplied dict compared with == matches literally: nothing here.
    assert await find(engine, Customer, Customer.name == {"$ne": None}) == []
    assert [c.name for c in await find(engine, Customer, Customer.name == "$where")] == ["$where"]
    assert await call(engine.count(Customer, Customer.name.in_([{"$gt": ""}]))) == 0
    assert await call(engine.count(Customer, Customer.name.not_in([{"$gt": ""}]))) == 2


async def test_save_sends_only_what_changed(monitored: Engine, recorder: CommandRecorder) -> None:
    engine = monitored
    customer = await call(engine.save(Customer(name="a", address=Address(city="x"), extra={"k": 1})))
    [insert] = recorder.named("insert")
    assert insert["documents"][0]["n"] == "a"

    loaded = await call(engine.find_one(Customer, Customer.id == customer.id))
    recorder.clear()
    await call(engine.save(loaded))
    assert recorder.named("update") == []  # unchanged: nothing sent

    loaded.tags.append("new")
    loaded.address.city = "y"
    del loaded.extra["k"]
    loaded.age = 4
    await call(engine.save(loaded))
    [update] = recorder.named("update")
    assert update["updates"][0]["q"] == {"_id": customer.id}
    assert update["updates"][0]["u"] == {
        "$set": {"age": 4, "tags": ["new"], "address.city": "y"},
        "$unset": {"extra.k": ""},
    }
    stored = await call(engine.find_one(Customer, Customer.id == customer.id))
    assert (stored.tags, stored.address.city, stored.extra, stored.age) == (["new"], "y", {}, 4)

    recorder.clear()
    await call(engine.save(loaded))
    assert recorder.named("update") == []  # saved state is the new snapshot


async def test_save_all_is_one_bulk_write_per_collection(monitored: Engine, recorder: CommandRecorder) -> None:
    publisher = Publisher(name="p")
    authors = [Author(name=str(i), publisher=publisher) for i in range(3)]
    await call(monitored.save_all([*authors, Customer(name="c1"), Customer(name="c2")]))
    if monitored.client_bulk_write_supported():  # MongoDB 8.0: one bulkWrite for all three
        (command,) = recorder.named("bulkWrite")
        assert [ns["ns"].split(".")[1] for ns in command["nsInfo"]] == \
            ["publisher", "customer", "author"]
        assert [e.command_name for e in recorder.started_events] == ["bulkWrite"]
        assert await call(monitored.count(Author)) == 3
        return
    inserts = recorder.named("insert")
    # referenced collections first (publisher before author), one command each
    assert [u["insert"] for u in inserts] == ["publisher", "customer", "author"]
    assert [len(u["documents"]) for u in inserts] == [1, 2, 3]
    assert [e.command_name for e in recorder.started_events] == ["insert"] * 3
    assert await call(monitored.count(Author)) == 3


async def test_save_all_sends_new_models_first_then_changes(
    monitored: Engine, recorder: CommandRecorder
) -> None:
    first = await call(monitored.save(Customer(name="first")))
    first.name = "changed"
    recorder.clear()
    # Interleaved new and changed models: still one insert and one update command.
    await call(monitored.save_all([Customer(name="x"), first, Customer(name="y")]))
    assert [e.command_name for e in recorder.started_events] == ["insert", "update"]
    assert await call(monitored.count(Customer)) == 3


async def test_saving_a_new_instance_with_a_chosen_id_overwrites(engine: Engine) -> None:
    stored = await call(engine.save(Customer(name="old", age=3)))
    await call(engine.save(Customer(id=stored.id, name="new")))
    reloaded = await call(engine.find_one(Customer, Customer.id == stored.id))
    assert (reloaded.name, await call(engine.count(Customer))) == ("new", 1)


async def test_references_are_loaded_and_saved_in_cascade(engine: Engine, db_name: str, client: MongoClient) -> None:
    publisher = Publisher(name="Pub")
    author = Author(name="Au", publisher=publisher)
    book = Book(title="T", author=author)
    await call(engine.save(book))
    assert await call(engine.count(Publisher)) == 1
    raw = client[db_name]["book"].find_one()
    assert raw is not None and raw["author_id"] == author.id

    loaded = await call(engine.find_one(Book, Book.title == "T"))
    assert loaded.author.publisher.name == "Pub"
    assert loaded == book
    loaded.author.publisher.name = "New"
    await call(engine.save(loaded))
    assert (await call(engine.find_one(Publisher))).name == "New"

    client[db_name]["author"].delete_many({})
    with pytest.raises(DocumentParsingError, match="referenced document not found") as caught:
        await find(engine, Book)
    assert caught.value.field == "author"


async def test_invalid_stored_document_is_a_parsing_error(engine: Engine, db_name: str, client: MongoClient) -> None:
    oid = bson.ObjectId()
    client[db_name]["customer"].insert_one({"_id": oid, "n": "a", "age": "old"})
    with pytest.raises(DocumentParsingError) as caught:
        await call(engine.find_one(Customer))
    assert (caught.value.model, caught.value.primary_value, caught.value.field) == (Customer, oid, "age")


async def test_duplicate_key_error(engine: Engine) -> None:
    await call(engine.configure_database([Player]))
    await call(engine.save(Player(name="p1")))
    clone = Player(name="p1")
    with pytest.raises(DuplicateKeyError) as caught:
        await call(engine.save(clone))
    error = caught.value
    assert error.instance is clone
    assert error.fields == ("name",)
    assert error.driver_error.details["writeErrors"][0]["code"] == 11000  # type: ignore[attr-defined]
    assert await call(engine.count(Player)) == 1


async def test_configure_database_creates_and_updates_indexes(engine: Engine, db_name: str, client: MongoClient) -> None:
    await call(engine.configure_database([Player]))
    indexes = {index["name"]: index for index in client[db_name]["players"].list_indexes()}
    assert indexes["name_1"]["unique"] is True
    assert dict(indexes["team_level"]["key"]) == {"team": 1, "level": -1}
    assert "level_1" in indexes
    await call(engine.configure_database([Player]))  # idempotent

    client[db_name]["players"].drop_index("name_1")
    client[db_name]["players"].create_index("name", name="name_1")  # same name, not unique
    with pytest.raises(IndexConflictError):
        await call(engine.configure_database([Player]))
    await call(engine.configure_database([Player], update_existing_indexes=True))
    indexes = {index["name"]: index for index in client[db_name]["players"].list_indexes()}
    assert indexes["name_1"]["unique"] is True


async def test_motor_client_is_accepted(mongodb_uri: str, db_name: str) -> None:
    motor_client: AsyncIOMotorClient = AsyncIOMotorClient(mongodb_uri)
    try:
        engine = AIOEngine(motor_client, database=db_name)
        customer = await engine.save(Customer(name="m", tags=["a"]))
        customer.tags.append("b")
        await engine.save(customer)
        assert [c.tags async for c in engine.find(Customer)] == [["a", "b"]]
        assert (await engine.find_one(Customer, Customer.name == "m")) == customer
        await engine.save(Book(title="t", author=Author(name="a", publisher=Publisher(name="p"))))
        assert (await engine.find(Book))[0].author.publisher.name == "p"
        async with engine.transaction() as transaction:
            await engine.save(Customer(name="t"), session=transaction)
        async with engine.session() as session:
            assert await engine.count(Customer, session=session) == 2
        await engine.delete(customer)
        assert await engine.count(Customer) == 1
    finally:
        await motor_client.drop_database(db_name)
        motor_client.close()


def test_engine_arguments_are_checked(client: MongoClient) -> None:
    with pytest.raises(ValueError, match="database"):
        SyncEngine(client, database="a.b")
    engine = SyncEngine(client, database="t_check")
    with pytest.raises(TypeError, match="Model class"):
        engine.find(dict)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="Model instance"):
        engine.save(Address(city="x"))  # type: ignore[type-var]
    assert engine.get_collection(Customer).name == "customer"
    assert engine.database.name == "t_check"


class Pair(Model):
    left: int
    right: int = Field(key_name="r")

    model_config = ODMConfigDict(
        indexes=lambda: [Index(Pair.left, Pair.right, unique=True, name="pair_unique")]
    )


async def test_compound_unique_index_and_configure_database_in_a_session(
    engine: Engine, db_name: str, client: MongoClient
) -> None:
    async with session(engine) as s:
        await call(engine.configure_database([Pair], session=s))
    index = {i["name"]: i for i in client[db_name]["pair"].list_indexes()}["pair_unique"]
    assert (dict(index["key"]), index["unique"]) == ({"left": 1, "r": 1}, True)
    await call(engine.save(Pair(left=1, right=2)))
    clone = Pair(left=1, right=2)
    with pytest.raises(DuplicateKeyError) as caught:
        await call(engine.save_all([Pair(left=1, right=3), clone]))
    assert caught.value.instance is clone
    assert caught.value.fields == ("left", "right")
    assert await call(engine.count(Pair)) == 2


async def test_copy_of_a_loaded_instance_saves_its_changes(engine: Engine) -> None:
    await call(engine.save(Customer(name="a", tags=["x"])))
    loaded = await call(engine.find_one(Customer))
    copied = loaded.model_copy(update={"name": "b"}, deep=True)
    copied.tags.append("y")
    await call(engine.save(copied))
    reloaded = await call(engine.find_one(Customer))
    assert (reloaded.id, reloaded.name, reloaded.tags) == (loaded.id, "b", ["x", "y"])
    assert loaded.tags == ["x"]


async def test_engines_default_to_a_local_client_and_the_test_database() -> None:
    # Clients connect lazily: nothing here talks to localhost.
    sync_engine = SyncEngine()
    aio_engine = AIOEngine()
    try:
        assert isinstance(sync_engine.client, MongoClient)
        assert isinstance(aio_engine.client, AsyncMongoClient)
        assert (sync_engine.database.name, aio_engine.database.name) == ("test", "test")
    finally:
        sync_engine.client.close()
        await aio_engine.client.close()
