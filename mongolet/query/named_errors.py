"""Errors whose codeName the shared code table does not know yet."""

from __future__ import annotations

from mongolet.errors import MongoError


class NamedMongoError(MongoError):
    """A ``MongoError`` carrying its own codeName (e.g. 241 ConversionFailure)."""

    def __init__(self, code: int, name: str, errmsg: str) -> None:
        super().__init__(code, errmsg)
        self._name = name

    @property
    def code_name(self) -> str:
        return self._name


def conversion_failure(errmsg: str) -> MongoError:
    return NamedMongoError(241, "ConversionFailure", errmsg)


def no_query_plans(errmsg: str) -> MongoError:
    return NamedMongoError(291, "NoQueryExecutionPlans", errmsg)
