"""The shapes of :mod:`bench.shapes` declared in each library, as its users would write them.

Collection names carry the library's name so contenders sharing a database never meet.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any

import beanie
import odmantic
import pydantic
from bson import ObjectId
from pydantic_core import core_schema

import odm

# --- ours -----------------------------------------------------------------------------------


class OdmUser(odm.Model):
    name: str
    email: str
    age: int
    active: bool
    score: float
    created: datetime.datetime
    model_config = odm.ODMConfigDict(collection="odm_users")


class OdmAsyncUser(OdmUser):
    """OdmUser for the async contender: a collection of its own, as every contender has."""

    model_config = odm.ODMConfigDict(collection="odm_async_users")


class OdmAuthor(odm.EmbeddedModel):
    name: str
    email: str


class OdmComment(odm.EmbeddedModel):
    author: str
    text: str
    likes: int


class OdmArticle(odm.Model):
    title: str
    tags: list[str]
    author: OdmAuthor
    comments: list[OdmComment]
    published: datetime.datetime
    model_config = odm.ODMConfigDict(collection="odm_articles")


# --- ODMantic -------------------------------------------------------------------------------


class OdmanticUser(odmantic.Model):
    name: str
    email: str
    age: int
    active: bool
    score: float
    created: datetime.datetime
    model_config = {"collection": "odmantic_users"}


class OdmanticAsyncUser(odmantic.Model):
    """OdmanticUser for the async contender, in a collection of its own (ODMantic's query
    attributes do not reach inherited fields, so the fields are declared again)."""

    name: str
    email: str
    age: int
    active: bool
    score: float
    created: datetime.datetime
    model_config = {"collection": "odmantic_async_users"}


class OdmanticAuthor(odmantic.EmbeddedModel):
    name: str
    email: str


class OdmanticComment(odmantic.EmbeddedModel):
    author: str
    text: str
    likes: int


class OdmanticArticle(odmantic.Model):
    title: str
    tags: list[str]
    author: OdmanticAuthor
    comments: list[OdmanticComment]
    published: datetime.datetime
    model_config = {"collection": "odmantic_articles"}


# --- Beanie (Documents need init_beanie before use; embedded parts are plain pydantic) -----


class BeanieUser(beanie.Document):
    name: str
    email: str
    age: int
    active: bool
    score: float
    created: datetime.datetime

    class Settings:
        name = "beanie_users"


class BeanieAuthor(pydantic.BaseModel):
    name: str
    email: str


class BeanieComment(pydantic.BaseModel):
    author: str
    text: str
    likes: int


class BeanieArticle(beanie.Document):
    title: str
    tags: list[str]
    author: BeanieAuthor
    comments: list[BeanieComment]
    published: datetime.datetime

    class Settings:
        name = "beanie_articles"


BEANIE_DOCUMENTS: list[type[beanie.Document]] = [BeanieUser, BeanieArticle]

# --- plain pydantic (the reference: the same fields, no ODM) --------------------------------


def _object_id_schema(source: Any, handler: pydantic.GetCoreSchemaHandler) -> Any:
    return core_schema.is_instance_schema(ObjectId)


# An ObjectId kept as it is, the cheapest pydantic can hold one.
PlainObjectId = Annotated[ObjectId, pydantic.GetPydanticSchema(_object_id_schema)]


class PlainUser(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)
    id: PlainObjectId = pydantic.Field(alias="_id")
    name: str
    email: str
    age: int
    active: bool
    score: float
    created: datetime.datetime


class PlainAuthor(pydantic.BaseModel):
    name: str
    email: str


class PlainComment(pydantic.BaseModel):
    author: str
    text: str
    likes: int


class PlainArticle(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)
    id: PlainObjectId = pydantic.Field(alias="_id")
    title: str
    tags: list[str]
    author: PlainAuthor
    comments: list[PlainComment]
    published: datetime.datetime
