"""``save_all`` across collections in one round trip: MongoDB 8.0's ``bulkWrite`` command
(``MongoClient.bulk_write``), when the server has it.

The engines use it when a save touches two collections or more; the writes are those of
:func:`odm.saving.save_operations`, in the same order (referenced collections first), so
the outcome is the one the per-collection writes give, in one command instead of one per
collection (its errors: :func:`odm.write_errors.translate_client_write_error`).
Documents are encoded with the engine's codec options: ``MongoClient.bulk_write``
encodes with the client's, which lack odm's fallback encoder (sets, enums...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import bson
import pymongo
from bson import CodecOptions
from bson.raw_bson import RawBSONDocument

from odm.saving import SaveOperation, WriteKind

MIN_WIRE_VERSION = 25  # MongoDB 8.0


def requests(
    groups: Sequence[tuple[str, Sequence[SaveOperation]]], database: str,
    codec_options: CodecOptions[Any],
) -> tuple[list[Any], list[SaveOperation]]:
    """The models of one ordered ``MongoClient.bulk_write`` and the operations they write,
    in the same order."""

    def encode(document: Mapping[str, Any]) -> RawBSONDocument:
        return RawBSONDocument(bson.encode(document, codec_options=codec_options))

    models: list[Any] = []
    operations: list[SaveOperation] = []
    for collection, group in groups:
        namespace = f"{database}.{collection}"
        for operation in group:
            operations.append(operation)
            if operation.kind is WriteKind.INSERT:
                models.append(pymongo.InsertOne(encode(operation.document), namespace=namespace))
            elif operation.kind is WriteKind.UPDATE:
                assert operation.update is not None
                models.append(pymongo.UpdateOne(encode(operation.filter), encode(operation.update),
                                                upsert=True, namespace=namespace))
            else:
                models.append(pymongo.ReplaceOne(encode(operation.filter),
                                                 encode(operation.document), upsert=True,
                                                 namespace=namespace))
    return models, operations
