"""String operators: $concat, $substr*, $strLen*, $split, $trim, $replace*, $regex*..."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from mongolet.errors import MongoError
from mongolet.query.expressions.compiler import (
    OPERATORS,
    Compiled,
    Variables,
    fixed,
    missing_to_null,
    named_args,
)
from mongolet.query.expressions.conversions import to_string
from mongolet.query.regexes import compile_regex
from mongolet.query.values import MISSING, is_number, numeric, render, type_name


def _concat(*values: Any) -> Any:
    for value in values:
        if value is None or value is MISSING:
            return None
        if not isinstance(value, str):
            raise MongoError(16702, f"$concat only supports strings, not {type_name(value)}")
    return "".join(values)


def _string_of(name: str, value: Any) -> str:
    """How $toLower/$toUpper/$substr see a value: null as "", numbers and dates printed."""
    if value is None or value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    if (is_number(value) and not isinstance(value, bool)) or isinstance(value, datetime.datetime):
        return to_string(value)
    raise MongoError(16007, f"can't convert from BSON type {type_name(value)} to String")


def _substr_bytes(value: Any, start: Any, length: Any) -> str:
    text = _string_of("$substrBytes", value).encode()
    if not is_number(start) or not is_number(length):
        raise MongoError(16034, "$substrBytes: starting index must be a numeric type")
    begin = int(numeric(start))
    if begin < 0:
        return ""
    count = int(numeric(length))
    piece = text[begin:] if count < 0 else text[begin : begin + count]
    try:
        return piece.decode()
    except UnicodeDecodeError:
        raise MongoError(28656, "$substrBytes: Invalid range, starting index is a UTF-8 continuation byte.") from None


def _substr_cp(value: Any, start: Any, length: Any) -> str:
    text = _string_of("$substrCP", value)
    if not is_number(start) or numeric(start) != int(numeric(start)):
        raise MongoError(34450 if not is_number(start) else 34451, "$substrCP: starting index must be a numeric type")
    if not is_number(length) or numeric(length) != int(numeric(length)):
        raise MongoError(34452 if not is_number(length) else 34453, "$substrCP: length must be a numeric type")
    begin, count = int(numeric(start)), int(numeric(length))
    if begin < 0:
        raise MongoError(34455, "$substrCP: the starting index must be nonnegative integer.")
    if count < 0:
        raise MongoError(34454, "$substrCP: length must be a nonnegative integer.")
    return text[begin : begin + count]


def _str_len_cp(value: Any) -> Any:
    if not isinstance(value, str):
        raise MongoError(34471, f"$strLenCP requires a string argument, found: {type_name(value)}")
    return len(value)


def _str_len_bytes(value: Any) -> Any:
    if not isinstance(value, str):
        raise MongoError(34473, f"$strLenBytes requires a string argument, found: {type_name(value)}")
    return len(value.encode())


def _split(value: Any, delimiter: Any) -> Any:
    if value is None or value is MISSING:
        return None
    if not isinstance(value, str):
        raise MongoError(40085, f"$split requires an expression that evaluates to a string as a first argument, found: {type_name(value)}")
    if not isinstance(delimiter, str):
        raise MongoError(40086, f"$split requires an expression that evaluates to a string as a second argument, found: {type_name(delimiter)}")
    if not delimiter:
        raise MongoError(40087, "$split requires a non-empty separator")
    return value.split(delimiter)


def _strcasecmp(a: Any, b: Any) -> int:
    x, y = _string_of("$strcasecmp", a).upper(), _string_of("$strcasecmp", b).upper()
    return -1 if x < y else (1 if x > y else 0)


def _index_of(name: str) -> Callable[..., Any]:
    def run(value: Any, search: Any, *bounds: Any) -> Any:
        if value is None or value is MISSING:
            return None
        if not isinstance(value, str):
            raise MongoError(40091, f"{name} requires a string as the first argument, found: {type_name(value)}")
        if not isinstance(search, str):
            raise MongoError(40092, f"{name} requires a string as the second argument, found: {type_name(search)}")
        start = int(numeric(bounds[0])) if bounds else 0
        end = int(numeric(bounds[1])) if len(bounds) > 1 else None
        if name == "$indexOfBytes":
            data, needle = value.encode(), search.encode()
            return data.find(needle, start, end if end is not None else len(data))
        return value.find(search, start, end if end is not None else len(value))

    return run


_WHITESPACE = "\u0000\u0020\u0009\u000a\u000b\u000c\u000d\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"


def _trim(kind: str) -> Callable[[str, Any], Compiled]:
    def build(name: str, arg: Any) -> Compiled:
        args = named_args(name, arg, ("input",), ("chars",))

        def run(root: Mapping[str, Any], variables: Variables) -> Any:
            value = args["input"](root, variables)
            if value is None or value is MISSING:
                return None
            if not isinstance(value, str):
                raise MongoError(50699, f"{name} requires its input to be a string, got {render(value)} (of type {type_name(value)}) instead.")
            chars = args["chars"](root, variables) if "chars" in args else _WHITESPACE
            if chars is None or chars is MISSING:
                return None
            if not isinstance(chars, str):
                raise MongoError(50700, f"{name} requires 'chars' to be a string, got {render(chars)} (of type {type_name(chars)}) instead.")
            if kind == "both":
                return value.strip(chars)
            return value.lstrip(chars) if kind == "left" else value.rstrip(chars)

        return run

    return build


def _replace(all_: bool) -> Callable[[str, Any], Compiled]:
    def build(name: str, arg: Any) -> Compiled:
        args = named_args(name, arg, ("input", "find", "replacement"))

        def run(root: Mapping[str, Any], variables: Variables) -> Any:
            values = {k: a(root, variables) for k, a in args.items()}
            if any(v is None or v is MISSING for v in values.values()):
                return None
            for key, value in values.items():
                if not isinstance(value, str):
                    raise MongoError(51746, f"{name} requires that '{key}' be a string, found: {render(value)}")
            return values["input"].replace(values["find"], values["replacement"], -1 if all_ else 1)

        return run

    return build


def _regex_op(mode: str) -> Callable[[str, Any], Compiled]:
    def build(name: str, arg: Any) -> Compiled:
        args = named_args(name, arg, ("input", "regex"), ("options",))

        def run(root: Mapping[str, Any], variables: Variables) -> Any:
            value = args["input"](root, variables)
            pattern = args["regex"](root, variables)
            options = args["options"](root, variables) if "options" in args else None
            if value is None or value is MISSING or pattern is None:
                return False if mode == "match" else (None if mode == "find" else [])
            if not isinstance(value, str):
                raise MongoError(51104, f"{name} needs 'input' to be of type string")
            regex = compile_regex(pattern, options if options is not MISSING else None)
            if mode == "match":
                return regex.search(value) is not None
            found = [
                {"match": m.group(0), "idx": len(value[: m.start()]),
                 "captures": [missing_to_null(g) for g in m.groups()]}
                for m in regex.finditer(value)
            ]
            if mode == "find":
                return found[0] if found else None
            return found

        return run

    return build


fixed("$concat", (0, None), _concat)
fixed("$toLower", 1, lambda v: _string_of("$toLower", v).lower())
fixed("$toUpper", 1, lambda v: _string_of("$toUpper", v).upper())
fixed("$substr", 3, _substr_bytes)
fixed("$substrBytes", 3, _substr_bytes)
fixed("$substrCP", 3, _substr_cp)
fixed("$strLenCP", 1, _str_len_cp)
fixed("$strLenBytes", 1, _str_len_bytes)
fixed("$split", 2, _split)
fixed("$strcasecmp", 2, _strcasecmp)
fixed("$indexOfBytes", (2, 4), _index_of("$indexOfBytes"))
fixed("$indexOfCP", (2, 4), _index_of("$indexOfCP"))
OPERATORS["$trim"] = _trim("both")
OPERATORS["$ltrim"] = _trim("left")
OPERATORS["$rtrim"] = _trim("right")
OPERATORS["$replaceOne"] = _replace(False)
OPERATORS["$replaceAll"] = _replace(True)
OPERATORS["$regexMatch"] = _regex_op("match")
OPERATORS["$regexFind"] = _regex_op("find")
OPERATORS["$regexFindAll"] = _regex_op("all")
