"""The compiled dumpers (odm.dumper) give exactly the document serializer's documents.

Every case compares ``model_dump_doc`` (compiled code when the class has it) with the
pydantic document serializer, key order and value types included, over many generated
instances of many shapes; instances holding unexpected values (``model_construct``,
reordered ``__dict__``) must fall back to the serializer, never dump differently.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import random
import re
import uuid
import warnings
from typing import Annotated, Any, Literal, Optional

import bson
import pytest
from pydantic import computed_field, field_serializer, model_serializer

from odm import EmbeddedModel, Field, Model, Reference, WithBsonSerializer
from odm.bson import DOC_CONTEXT
from odm.dumper import Fallback
from odm.model import document_codec

UTC = datetime.UTC
PARIS = datetime.timezone(datetime.timedelta(hours=2))


def slow_dump(instance: Any) -> dict[str, Any]:
    serializer = document_codec(type(instance)).serializer
    document: dict[str, Any] = serializer.to_python(instance, by_alias=True, context=DOC_CONTEXT)
    return document


def assert_same(fast: Any, slow: Any, path: str = "") -> None:
    """Equal, of the same types, dict keys in the same order."""
    assert type(fast) is type(slow), f"{path}: {type(fast)} != {type(slow)}"
    if isinstance(slow, dict):
        assert list(fast) == list(slow), path
        for key in slow:
            assert_same(fast[key], slow[key], f"{path}.{key}")
    elif isinstance(slow, list | tuple):
        assert len(fast) == len(slow), path
        for index, (a, b) in enumerate(zip(fast, slow)):
            assert_same(a, b, f"{path}[{index}]")
    else:
        assert fast == slow, path


def check(instance: Any, *, compiled: bool = True) -> dict[str, Any]:
    """model_dump_doc == the serializer's document; ``compiled``: the class has a dumper."""
    codec = document_codec(type(instance))
    assert (codec.dump is not None) is compiled
    with warnings.catch_warnings(record=True) as slow_warnings:
        warnings.simplefilter("always")  # wrong-typed values warn in the serializer
        try:
            slow = slow_dump(instance)
        except Exception as error:  # the same error from model_dump_doc
            with pytest.raises(type(error), match=re.escape(str(error))):
                instance.model_dump_doc()
            return {}
    with warnings.catch_warnings(record=True) as fast_warnings:
        warnings.simplefilter("always")
        fast = instance.model_dump_doc()
    assert_same(fast, slow)
    assert fast is not slow
    assert [str(w.message) for w in fast_warnings] == [str(w.message) for w in slow_warnings]
    return fast


def falls_back(instance: Any) -> None:
    """The compiled code refuses ``instance``; model_dump_doc still gives the document."""
    dump = document_codec(type(instance)).dump
    assert dump is not None
    with pytest.raises(Fallback):
        dump(instance)
    check(instance)


# ---------------------------------------------------------------- shapes


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(int, enum.Enum):
    LOW = 1
    HIGH = 2


class Point(EmbeddedModel):
    x: int
    y: float = 0.0
    label: str | None = None


class Tagged(EmbeddedModel):
    name: str = Field(key_name="n")
    tags: list[str] = []
    point: Point | None = None


class Node(EmbeddedModel):
    value: int
    children: list[Node] = []


class Scalars(Model):
    text: str
    number: int
    ratio: float
    flag: bool
    raw: bytes
    when: datetime.datetime
    maybe: int | None = None
    either: int | str = 0
    renamed: str = Field("r", key_name="rn")


class BsonValues(Model):
    oid: bson.ObjectId
    long: bson.Int64
    d128: bson.Decimal128
    binary: bson.Binary
    regex: bson.Regex
    amount: decimal.Decimal
    maybe_amount: decimal.Decimal | None = None
    uid: uuid.UUID
    color: Color
    level: Level
    colors: list[Color] = []


class Nested(Model):
    point: Point
    maybe_point: Optional[Point] = None  # noqa: UP045 - the typing spelling too
    points: list[Point] = []
    by_name: dict[str, Point] = {}
    tagged: list[Tagged] = []
    matrix: list[list[int]] = []
    maybe_points: list[Point | None] = []
    scores: dict[str, list[float]] = {}
    tree: Node | None = None


class Loose(Model):
    anything: Any = None
    blob: dict = {}  # type: ignore[type-arg]
    items: list = []  # type: ignore[type-arg]
    pair: tuple[int, str] = (0, "")
    numbers: set[int] = set()
    day: datetime.date = datetime.date(2024, 1, 1)
    choice: Literal["a", "b"] = "a"
    shapes: list[Point | Tagged] = []


def _ascii(value: str) -> str:
    return value.encode("ascii", "replace").decode()


class Serialized(Model):
    text: Annotated[str, WithBsonSerializer(_ascii)]
    listed: Annotated[list[int], WithBsonSerializer(lambda v: {"n": len(v), "items": v})] = []


class Author(Model):
    name: str


class Book(Model):
    title: str
    author: Author = Reference()
    editor: Author = Reference(key_name="ed")


class Custom(Model):
    number: int = Field(primary_field=True)
    label: str = "x"


# ---------------------------------------------------------------- generated values


def _text(rng: random.Random) -> str:
    return rng.choice(["", "a", "héllo", "x" * 30, "with.dot", "$dollar"])


def _datetime(rng: random.Random) -> datetime.datetime:
    base = datetime.datetime(2000, 1, 1) + datetime.timedelta(
        seconds=rng.randrange(10**9), microseconds=rng.randrange(10**6)
    )
    return rng.choice([base, base.replace(tzinfo=UTC), base.replace(tzinfo=PARIS)])


def _point(rng: random.Random) -> Point:
    return Point(x=rng.randrange(-5, 5), y=rng.random(), label=rng.choice([None, _text(rng)]))


def _tagged(rng: random.Random) -> Tagged:
    return Tagged(
        name=_text(rng),
        tags=[_text(rng) for _ in range(rng.randrange(3))],
        point=rng.choice([None, _point(rng)]),
    )


def _node(rng: random.Random, depth: int = 0) -> Node:
    children = [] if depth > 2 else [_node(rng, depth + 1) for _ in range(rng.randrange(3))]
    return Node(value=rng.randrange(100), children=children)


def _json(rng: random.Random, depth: int = 0) -> Any:
    leaves = [None, True, 3, 2.5, "s", bson.ObjectId(), datetime.datetime(2024, 5, 1),
              decimal.Decimal("1.5"), b"by", bson.Int64(7)]
    if depth > 2:
        return rng.choice(leaves)
    kind = rng.randrange(4)
    if kind == 0:
        return [_json(rng, depth + 1) for _ in range(rng.randrange(3))]
    if kind == 1:
        return {f"k{i}": _json(rng, depth + 1) for i in range(rng.randrange(3))}
    if kind == 2:
        return (rng.choice(leaves), rng.choice(leaves))
    return rng.choice(leaves)


def _instances(seed: int) -> list[Model]:
    rng = random.Random(seed)
    author = Author(name=_text(rng))
    return [
        Scalars(
            text=_text(rng), number=rng.randrange(-(2**40), 2**40), ratio=rng.random(),
            flag=rng.random() < 0.5, raw=bytes(rng.randrange(256) for _ in range(3)),
            when=_datetime(rng), maybe=rng.choice([None, 4]),
            either=rng.choice([1, "one"]), renamed=_text(rng),
        ),
        BsonValues(
            oid=bson.ObjectId(), long=bson.Int64(rng.randrange(2**50)),
            d128=bson.Decimal128(str(rng.random())), binary=bson.Binary(b"\x00\x01", 0),
            regex=bson.Regex("^a", "i"), amount=decimal.Decimal(str(rng.random())),
            maybe_amount=rng.choice([None, decimal.Decimal("2.50")]), uid=uuid.uuid4(),
            color=rng.choice(list(Color)), level=rng.choice(list(Level)),
            colors=[rng.choice(list(Color)) for _ in range(rng.randrange(3))],
        ),
        Nested(
            point=_point(rng), maybe_point=rng.choice([None, _point(rng)]),
            points=[_point(rng) for _ in range(rng.randrange(4))],
            by_name={_text(rng): _point(rng) for _ in range(rng.randrange(3))},
            tagged=[_tagged(rng) for _ in range(rng.randrange(3))],
            matrix=[[rng.randrange(9) for _ in range(2)] for _ in range(rng.randrange(3))],
            maybe_points=[rng.choice([None, _point(rng)]) for _ in range(rng.randrange(3))],
            scores={"a": [rng.random()], "b": []},
            tree=rng.choice([None, _node(rng)]),
        ),
        Loose(
            anything=_json(rng), blob={"k": _json(rng)}, items=[_json(rng)],
            pair=(rng.randrange(5), _text(rng)), numbers={1, rng.randrange(9)},
            choice=rng.choice(["a", "b"]),
            shapes=[rng.choice([_point(rng), _tagged(rng)]) for _ in range(rng.randrange(3))],
        ),
        Serialized(text=_text(rng), listed=[rng.randrange(5) for _ in range(rng.randrange(3))]),
        Book(title=_text(rng), author=author, editor=author),
        Custom(number=rng.randrange(100), label=_text(rng)),
    ]


@pytest.mark.parametrize("seed", range(40))
def test_compiled_dumps_equal_the_serializer(seed: int) -> None:
    for instance in _instances(seed):
        dump = document_codec(type(instance)).dump
        assert dump is not None
        assert_same(dump(instance), check(instance))  # validated values never fall back


def test_datetimes_are_dumped_as_held() -> None:
    # Validation normalises (naive UTC, milliseconds); a constructed instance keeps what it
    # was given, and both paths dump what the instance holds.
    aware = datetime.datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=PARIS)
    validated = check(Scalars(text="", number=0, ratio=0.0, flag=False, raw=b"", when=aware))
    assert validated["when"] == datetime.datetime(2024, 1, 1, 10, 0, 0, 123000)
    constructed = Scalars.model_construct(
        text="", number=0, ratio=0.0, flag=False, raw=b"", when=aware
    )
    assert check(constructed)["when"] is aware


def test_primary_key_of_references_and_renamed_keys() -> None:
    author = Author(name="Ann")
    document = check(Book(title="T", author=author, editor=author))
    assert list(document) == ["_id", "title", "author", "ed"]
    assert document["author"] == document["ed"] == author.id
    assert list(check(Custom(number=3))) == ["_id", "label"]


# ---------------------------------------------------------------- falling back


def _scalars(**changes: Any) -> Scalars:
    values: dict[str, Any] = dict(
        text="t", number=1, ratio=0.5, flag=True, raw=b"", when=datetime.datetime(2024, 1, 1)
    )
    return Scalars.model_construct(**{**values, **changes})


class StrSubclass(str):
    pass


class PointChild(Point):
    z: int = 0


@pytest.mark.parametrize(
    "instance",
    [
        _scalars(text=5),  # an int in a str field
        _scalars(number=True),  # a bool in an int field
        _scalars(number=1.5),
        _scalars(text=StrSubclass("s")),
        _scalars(ratio="x"),
        _scalars(when="2024-01-01"),
        _scalars(maybe="4"),
        Nested.model_construct(point={"x": 1}),  # a dict instead of a model
        Nested.model_construct(point=PointChild(x=1, z=2)),  # a subclass instance
        Nested.model_construct(point=Point(x=1), points=(Point(x=2),)),  # a tuple
        Nested.model_construct(point=Point(x=1), points=[Point(x=2), 3]),
        Nested.model_construct(point=Point(x=1), by_name={1: Point(x=1)}),
        Nested.model_construct(point=Point(x=1), matrix=[[1, "2"]]),
        Nested.model_construct(point=Point.model_construct(x="1")),
        BsonValues.model_construct(oid="5f85f36d6dfecacc68428a46", amount=decimal.Decimal(1)),
        BsonValues.model_construct(oid=bson.ObjectId(), amount=1.5),
        BsonValues.model_construct(oid=bson.ObjectId(), long=5),
        Loose.model_construct(anything=Point(x=1)),  # a model in an Any field
        Loose.model_construct(anything={1: "non-str key"}),
        Loose.model_construct(anything={"s": {1, 2}}),
    ],
)
def test_unexpected_values_dump_as_the_serializer_does(instance: Model) -> None:
    # Refused by the compiled code (the serializer dumps the instance), or dumped by a
    # pydantic serializer of that field alone (a list of embedded models).
    check(instance)


def test_unexpected_values_raise_fallback() -> None:
    falls_back(_scalars(text=5))
    falls_back(Nested.model_construct(point=PointChild(x=1, z=2)))
    falls_back(BsonValues.model_construct(oid=bson.ObjectId(), amount=1.5))  # an error


def test_a_reordered_dict_falls_back() -> None:
    # pydantic dumps __dict__ in its order; a field deleted and set again moves to the end.
    instance = Scalars(text="t", number=1, ratio=0.5, flag=True, raw=b"", when=datetime.datetime(2024, 1, 1))
    del instance.text
    instance.text = "again"
    falls_back(instance)
    assert list(instance.model_dump_doc())[-1] == "text"
    embedded = Nested(point=Point(x=1))
    del embedded.point.x
    embedded.point.x = 2
    falls_back(embedded)


def test_missing_fields_fall_back() -> None:
    falls_back(Scalars.model_construct(text="only"))


def test_include_uses_the_serializer() -> None:
    instance = Scalars(text="t", number=1, ratio=0.5, flag=True, raw=b"", when=datetime.datetime(2024, 1, 1))
    assert instance.model_dump_doc(include={"text"}) == {"text": "t"}


# ---------------------------------------------------------------- classes left to pydantic


class WithFieldSerializer(Scalars):
    @field_serializer("number")
    def _number(self, value: int) -> str:
        return f"#{value}"


class PointAsList(Point):
    @model_serializer
    def _as_list(self) -> list[Any]:
        return [self.x, self.y]


class HoldsCustomPoint(Model):
    point: PointAsList


class WithComputed(Model):
    a: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def double(self) -> int:
        return self.a * 2


class Open(Model):
    model_config = {"extra": "allow"}
    a: int = 0


def test_field_serializer_on_a_subclass() -> None:
    values: dict[str, Any] = dict(
        text="t", number=7, ratio=0.5, flag=True, raw=b"", when=datetime.datetime(2024, 1, 1)
    )
    assert check(WithFieldSerializer(**values), compiled=False)["number"] == "#7"
    assert check(Scalars(**values))["number"] == 7  # the base class keeps its dumper


def test_user_serialization_functions_keep_the_serializer() -> None:
    assert check(HoldsCustomPoint(point=PointAsList(x=1, y=2)), compiled=False)["point"] == [1, 2.0]
    assert check(WithComputed(a=2), compiled=False)["double"] == 4
    assert check(Open(a=1, b=2), compiled=False)["b"] == 2


def test_bson_serializer_results() -> None:
    document = check(Serialized(text="héllo", listed=[1, 2]))
    assert document["text"] == "h?llo"
    assert document["listed"] == {"n": 2, "items": [1, 2]}


def test_recursive_models() -> None:
    tree = Node(value=1, children=[Node(value=2, children=[Node(value=3)]), Node(value=4)])
    document = check(Nested(point=Point(x=0), tree=tree))
    assert document["tree"]["children"][0]["children"][0] == {"value": 3, "children": []}


def test_dumps_are_fresh_containers() -> None:
    # The dump becomes the instance's snapshot: changing the instance in place must not
    # change it.
    instance = Nested(point=Point(x=1), points=[Point(x=2)], matrix=[[1]], scores={"a": [1.0]})
    document = instance.model_dump_doc()
    instance.points.append(Point(x=3))
    instance.matrix[0].append(2)
    instance.scores["a"].append(2.0)
    instance.point.x = 5
    assert document["points"] == [{"x": 2, "y": 0.0, "label": None}]
    assert document["matrix"] == [[1]]
    assert document["scores"] == {"a": [1.0]}
    assert document["point"]["x"] == 1
