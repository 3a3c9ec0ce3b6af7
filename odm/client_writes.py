"""``save_all`` across collections in one round trip: MongoDB 8.0's ``bulkWrite`` command
(``MongoClient.bulk_write``), when the server has it.

The engines use it when a save touches two collections or more; the writes are those of
:func:`odm.saving.save_operations`, in the same order (referenced collections first), so
the outcome is the one the per-collection writes give, in one command instead of one per
collection (its errors: :func:`odm.write_errors.translate_client_write_error`).
``MongoClient.bulk_write`` encodes with the client's codec options, which lack
odm's fallback encoder (sets...): documents the client cannot encode go pre-encoded with the
engine's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import bson
import bson.errors
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

    def encodable(document: Mapping[str, Any]) -> Any:
        # As a dict when the client can encode it: the driver's checks of an update or a
        # replacement read its keys, which a RawBSONDocument would decode in full.
        try:
            bson.encode(document)
        except bson.errors.InvalidDocument:
            return encode(document)
        return document

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
                models.append(pymongo.UpdateOne(encodable(operation.filter),
                                                encodable(operation.update), upsert=True,
                                                namespace=namespace))
            else:
                models.append(pymongo.ReplaceOne(encodable(operation.filter),
                                                 encodable(operation.document), upsert=True,
                                                 namespace=namespace))
    return models, operations
