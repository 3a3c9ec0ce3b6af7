"""Model layer, no database: validate N stored documents into models, dump N models back.

Ours (``model_validate_doc`` / ``model_dump_doc``) vs ODMantic (the same names) vs Beanie
(``model_validate``, and ``get_dict(to_db=True)``: the document ``Document.insert`` sends) on
initialized Documents vs plain pydantic (``model_validate`` / ``model_dump(by_alias=True)``) on
the same shape, the reference. Each ODM dumps the way it does before it writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import beanie
from beanie.odm.utils.dump import get_dict
from pymongo import AsyncMongoClient

from bench import models, shapes
from bench.config import Config
from bench.harness import Contender, Run, Workload, timed
from bench.targets import Target

SECTION = "model layer"
REFERENCE = "pydantic"
OURS = "odm"


def _targets() -> list[Target]:
    return [
        Target(OURS, "faster", 2.0, "odmantic"),
        Target(OURS, "faster", 2.0, "beanie"),
        Target(OURS, "within", 1.3, REFERENCE),
    ]


def init_beanie_documents(uri: str) -> None:
    """Beanie refuses to build a Document before ``init_beanie``, which asks the server for
    buildInfo: do it once against the benchmark's server (no database work is timed)."""

    async def init() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
        try:
            await beanie.init_beanie(database=client.bench_models,
                                     document_models=models.BEANIE_DOCUMENTS)
        finally:
            await client.close()

    asyncio.run(init())


def _validating(parse: Callable[[dict[str, Any]], Any], docs: list[dict[str, Any]]) -> Run:
    fresh: list[dict[str, Any]] = []

    def setup() -> None:
        # Each run gets fresh copies: a library may keep (or alter) the dict it was given.
        fresh[:] = [dict(d) for d in docs]

    return timed(lambda: [parse(d) for d in fresh], setup=setup)


def _dumping(dump: Callable[[Any], Any], instances: list[Any]) -> Run:
    return timed(lambda: [dump(i) for i in instances])


def _shape_workloads(shape: str, make: Callable[[int], dict[str, Any]],
                     classes: dict[str, Any], n: int) -> list[Workload]:
    docs = [make(i) for i in range(n)]
    parsers: dict[str, Callable[[dict[str, Any]], Any]] = {
        REFERENCE: classes[REFERENCE].model_validate,
        OURS: classes[OURS].model_validate_doc,
        "odmantic": classes["odmantic"].model_validate_doc,
        "beanie": classes["beanie"].model_validate,
    }
    dumpers: dict[str, Callable[[Any], Any]] = {
        REFERENCE: lambda m: m.model_dump(by_alias=True),
        OURS: lambda m: m.model_dump_doc(),
        "odmantic": lambda m: m.model_dump_doc(),
        # What Beanie's insert/save encode (beanie.odm.documents); its model_dump alone
        # gives no BSON-ready document (about 7x and 12x faster, flat and nested).
        "beanie": lambda m: get_dict(m, to_db=True),
    }
    validate = Workload(SECTION, f"validate {shape} x{n}", n, REFERENCE,
                        [Contender(name, _validating(parse, docs))
                         for name, parse in parsers.items()], _targets())
    dump = Workload(SECTION, f"dump {shape} x{n}", n, REFERENCE,
                    [Contender(name, _dumping(dumpers[name], [parsers[name](dict(d))
                                                               for d in docs]))
                     for name in parsers], _targets())
    return [validate, dump]


@contextmanager
def workloads(config: Config, uri: str) -> Iterator[list[Workload]]:
    init_beanie_documents(uri)
    flat = {REFERENCE: models.PlainUser, OURS: models.OdmUser,
            "odmantic": models.OdmanticUser, "beanie": models.BeanieUser}
    nested = {REFERENCE: models.PlainArticle, OURS: models.OdmArticle,
              "odmantic": models.OdmanticArticle, "beanie": models.BeanieArticle}
    yield (_shape_workloads("flat", shapes.flat_document, flat, config.documents)
           + _shape_workloads("nested", shapes.nested_document, nested, config.documents))
