"""Unified-format operations on a GridFS ``bucket`` entity (PyMongo's ``GridFSBucket``)."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from typing import Any

from gridfs import GridFSBucket

from tests.spec.matching import RootDocuments
from tests.spec.operations import Args


def _bytes(source: Any) -> bytes:
    if isinstance(source, dict) and set(source) == {"$$hexBytes"}:
        return binascii.unhexlify(source["$$hexBytes"])
    return bytes(source)


def op_upload(bucket: GridFSBucket, a: Args) -> Any:
    kwargs = a.options({"chunkSizeBytes": "chunk_size_bytes", "metadata": "metadata"})
    a.pop("disableMD5")  # PyMongo 4 never computes an MD5
    filename, source = a.required("filename"), _bytes(a.required("source"))
    return bucket.upload_from_stream(filename, source, session=a.session(), **kwargs)


def op_download(bucket: GridFSBucket, a: Args) -> Any:
    return bucket.open_download_stream(a.required("id"), session=a.session()).read()


def op_downloadByName(bucket: GridFSBucket, a: Args) -> Any:
    kwargs = a.options({"revision": "revision"})
    filename = a.required("filename")
    return bucket.open_download_stream_by_name(filename, session=a.session(), **kwargs).read()


def op_delete(bucket: GridFSBucket, a: Args) -> Any:
    bucket.delete(a.required("id"), session=a.session())


def op_deleteByName(bucket: GridFSBucket, a: Args) -> Any:
    bucket.delete_by_name(a.required("filename"), session=a.session())


def op_rename(bucket: GridFSBucket, a: Args) -> Any:
    bucket.rename(a.required("id"), a.required("newFilename"), session=a.session())


def op_renameByName(bucket: GridFSBucket, a: Args) -> Any:
    bucket.rename_by_name(a.required("filename"), a.required("newFilename"),
                          session=a.session())


def op_find(bucket: GridFSBucket, a: Args) -> Any:
    kwargs = a.options({"sort": "sort", "skip": "skip", "limit": "limit",
                        "batchSize": "batch_size"})
    files = bucket.find(a.pop("filter", {}), session=a.session(), **kwargs)
    return RootDocuments(file._file for file in files)


def op_drop(bucket: GridFSBucket, a: Args) -> Any:
    a.finish()
    bucket._files.drop()  # the bucket's two collections, as the spec's drop does
    bucket._chunks.drop()


OPERATIONS: dict[tuple[type, ...], dict[str, Callable[[Any, Args], Any]]] = {
    (GridFSBucket,): {"upload": op_upload, "download": op_download,
                      "downloadByName": op_downloadByName, "delete": op_delete,
                      "deleteByName": op_deleteByName, "rename": op_rename,
                      "renameByName": op_renameByName, "find": op_find, "drop": op_drop},
}
