"""MongoDB wire protocol framing: bytes in, command documents out, and back. No I/O.

A message is a 16-byte header (length, requestID, responseTo, opCode; little endian)
followed by an opcode-specific body. Drivers send commands as OP_MSG; PyMongo before 4.18
sends its first handshake as a legacy OP_QUERY on ``admin.$cmd`` and expects an OP_REPLY.

    >>> request = decode_request(header, payload)   # doctest: +SKIP
    >>> encode_reply(request, {"ok": 1.0})           # doctest: +SKIP
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion

from mongolet.errors import MongoError

OP_REPLY = 1
OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013

HEADER = struct.Struct("<iiii")
HEADER_SIZE = HEADER.size
_INT32 = struct.Struct("<i")
_REPLY_PREFIX = struct.Struct("<iqii")  # responseFlags, cursorID, startingFrom, numberReturned

MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024
MAX_INTERNAL_BSON_SIZE = MAX_BSON_OBJECT_SIZE + 16 * 1024  # mongod's BSONObjMaxInternalSize
MAX_MESSAGE_SIZE = 48_000_000

# OP_MSG flag bits.
CHECKSUM_PRESENT = 1 << 0
MORE_TO_COME = 1 << 1
EXHAUST_ALLOWED = 1 << 16
_KNOWN_FLAGS = CHECKSUM_PRESENT | MORE_TO_COME | EXHAUST_ALLOWED
_REQUIRED_FLAG_BITS = 0xFFFF  # bits 0-15 must be understood by the receiver

# Keep every BSON type as it came (Int64 stays Int64, binary UUIDs stay Binary), and do not
# fail on dates outside datetime's range.
CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    document_class=dict, datetime_conversion=DatetimeConversion.DATETIME_AUTO
)


class FramingError(Exception):
    """The byte stream cannot be framed any more: the connection must be closed."""


@dataclass(frozen=True, slots=True)
class Header:
    length: int
    request_id: int
    response_to: int
    op_code: int


@dataclass(slots=True)
class Request:
    """One decoded request: the command body and how to answer it."""

    request_id: int
    op_code: int
    body: dict[str, Any]
    more_to_come: bool = False  # OP_MSG moreToCome: execute, send no reply (w: 0 writes)
    exhaust_allowed: bool = False  # OP_MSG exhaustAllowed: getMore replies may be streamed


def parse_header(data: bytes) -> Header:
    """Read the 16-byte header; a length no valid message can have is a framing error."""
    length, request_id, response_to, op_code = HEADER.unpack(data)
    if length < HEADER_SIZE + 1 or length > MAX_MESSAGE_SIZE:
        raise FramingError(f"invalid message length {length}")
    return Header(length, request_id, response_to, op_code)


def decode_request(header: Header, payload: bytes) -> Request:
    """Decode a message body (everything after the header) into a command document.

    Raises ``MongoError`` for a well-framed but invalid message (the connection can answer
    it and carry on) and ``FramingError`` when the stream can no longer be trusted.
    """
    if header.op_code == OP_MSG:
        body, flags = _decode_op_msg(payload)
        return Request(header.request_id, OP_MSG, body, bool(flags & MORE_TO_COME),
                       bool(flags & EXHAUST_ALLOWED))
    if header.op_code == OP_QUERY:
        return Request(header.request_id, OP_QUERY, _decode_op_query(payload))
    if header.op_code == OP_COMPRESSED:
        # We never advertise compression, so a driver never sends this.
        raise MongoError(17, "compressed messages are not supported by this server")
    raise MongoError(17, f"unsupported wire protocol opcode {header.op_code}")


def _decode_document(data: bytes | memoryview, start: int, end: int) -> tuple[dict[str, Any], int]:
    """Decode one BSON document at ``start``; return it and the offset after it."""
    if end - start < 5:
        raise MongoError(22, "truncated BSON document")
    (size,) = _INT32.unpack_from(data, start)
    if size < 5 or start + size > end:
        raise MongoError(22, f"invalid BSON document length {size}")
    try:
        doc = bson.decode(data[start:start + size], codec_options=CODEC_OPTIONS)
    except Exception as exc:  # bson raises InvalidBSON and friends
        raise MongoError(22, f"invalid BSON: {exc}") from None
    return doc, start + size


def _refuse_oversize(size: int) -> None:
    # mongod parses documents up to its internal limit (16 MiB + 16 KiB, room for a command's
    # own fields); the command then refuses a user document over 16 MiB with its own error.
    if size > MAX_INTERNAL_BSON_SIZE:
        raise MongoError(
            10334, f"BSONObj size: {size} (0x{size:X}) is invalid. Size must be between 0 and "
            f"{MAX_INTERNAL_BSON_SIZE}(16MB)"
        )


def _read_cstring(data: bytes, start: int, end: int) -> tuple[str, int]:
    stop = data.find(b"\x00", start, end)
    if stop < 0:
        raise MongoError(17, "unterminated C string in message")
    try:
        return data[start:stop].decode("utf-8"), stop + 1
    except UnicodeDecodeError:
        raise MongoError(17, "C string in message is not valid UTF-8") from None


def _decode_op_msg(payload: bytes) -> tuple[dict[str, Any], int]:
    if len(payload) < 5:
        raise MongoError(17, "OP_MSG too short")
    (flags,) = _INT32.unpack_from(payload, 0)
    flags &= 0xFFFFFFFF
    unknown_required = flags & _REQUIRED_FLAG_BITS & ~_KNOWN_FLAGS
    if unknown_required:
        raise MongoError(17, f"OP_MSG has unknown required flag bits {unknown_required:#x}")
    end = len(payload) - (4 if flags & CHECKSUM_PRESENT else 0)
    pos = 4
    body: dict[str, Any] | None = None
    sequences: dict[str, list[dict[str, Any]]] = {}
    while pos < end:
        kind = payload[pos]
        pos += 1
        if kind == 0:
            if body is not None:
                raise MongoError(40430, "OP_MSG has more than one body section")
            body, pos = _decode_document(payload, pos, end)
        elif kind == 1:
            if end - pos < 4:
                raise MongoError(17, "truncated document sequence")
            (size,) = _INT32.unpack_from(payload, pos)
            section_end = pos + size
            if size < 5 or section_end > end:
                raise MongoError(17, f"invalid document sequence length {size}")
            identifier, cursor = _read_cstring(payload, pos + 4, section_end)
            if identifier in sequences:
                raise MongoError(40431, f"duplicate document sequence '{identifier}'")
            documents = []
            while cursor < section_end:
                if section_end - cursor >= 4:
                    _refuse_oversize(_INT32.unpack_from(payload, cursor)[0])
                doc, cursor = _decode_document(payload, cursor, section_end)
                documents.append(doc)
            sequences[identifier] = documents
            pos = section_end
        else:
            raise MongoError(17, f"unknown OP_MSG section kind {kind}")
    if body is None:
        raise MongoError(40587, "OP_MSG has no body section")
    for identifier, documents in sequences.items():
        if identifier in body:
            raise MongoError(40433, f"duplicate field '{identifier}' in OP_MSG body and sequence")
        body[identifier] = documents
    return body, flags


def _decode_op_query(payload: bytes) -> dict[str, Any]:
    if len(payload) < 4:
        raise MongoError(17, "OP_QUERY too short")
    namespace, pos = _read_cstring(payload, 4, len(payload))
    pos += 8  # numberToSkip, numberToReturn
    query, _ = _decode_document(payload, pos, len(payload))
    database, _, collection = namespace.partition(".")
    if collection != "$cmd":
        raise MongoError(17, "legacy OP_QUERY is only supported for commands on '<db>.$cmd'")
    if "$query" in query:  # a wrapped command: {$query: {...}, $readPreference: ...}
        query = dict(query["$query"])
    query["$db"] = database
    return query


def encode_reply(request: Request, reply: dict[str, Any], reply_id: int,
                 more_to_come: bool = False, response_to: int | None = None) -> bytes:
    """Frame ``reply`` as the answer to ``request``: OP_MSG, or OP_REPLY for OP_QUERY.
    ``more_to_come``: an exhaust reply, more follow unasked (each answering the previous
    one, ``response_to``)."""
    doc = bson.encode(reply, codec_options=CODEC_OPTIONS)
    if request.op_code == OP_QUERY:
        body = _REPLY_PREFIX.pack(0, 0, 0, 1) + doc
        op_code = OP_REPLY
    else:
        flags = MORE_TO_COME if more_to_come else 0
        body = _INT32.pack(flags) + b"\x00" + doc  # flagBits, one kind-0 section
        op_code = OP_MSG
    answers = request.request_id if response_to is None else response_to
    return HEADER.pack(HEADER_SIZE + len(body), reply_id, answers, op_code) + body


def encode_error_reply(request_id: int, op_code: int, error: MongoError, reply_id: int) -> bytes:
    """An error answer for a request whose body could not be decoded."""
    request = Request(request_id, OP_QUERY if op_code == OP_QUERY else OP_MSG, {})
    return encode_reply(request, error.to_reply(), reply_id)
