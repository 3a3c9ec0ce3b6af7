"""BSON regular expressions as Python patterns (for ``$regex`` and ``$regexMatch``)."""

from __future__ import annotations

import re
from typing import Any

from bson import Regex

from mongolet.errors import MongoError, bad_value

_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "u": 0}


def compile_regex(pattern: Any, options: Any = None) -> re.Pattern[str]:
    """A Python regex for a BSON regex, a ``re.Pattern``, or a pattern string + options."""
    if isinstance(pattern, re.Pattern):
        if options:
            raise MongoError(51075, "options set in both $regex and $options")
        return pattern
    if isinstance(pattern, Regex):
        if options and pattern.flags:
            raise MongoError(51075, "options set in both $regex and $options")
        flags = pattern.flags if isinstance(pattern.flags, int) else _flags_from(pattern.flags)
        if options:
            flags |= _flags_from(options)
        source = pattern.pattern
        if isinstance(source, bytes):
            source = source.decode()
        return _compile_python_regex(source, flags)
    if not isinstance(pattern, str):
        raise bad_value("$regex has to be a string")
    if options is not None and not isinstance(options, str):
        raise bad_value("$options has to be a string")
    return _compile_python_regex(pattern, _flags_from(options or ""))


def _flags_from(options: str) -> int:
    flags = 0
    for letter in options:
        if letter not in _REGEX_FLAGS:
            raise MongoError(51108, f"invalid flag in regex options: {letter}")
        flags |= _REGEX_FLAGS[letter]
    return flags


def _compile_python_regex(source: str, flags: int) -> re.Pattern[str]:
    try:
        return re.compile(source, flags & ~re.LOCALE)
    except re.error as exc:
        raise MongoError(51091, f"Regular expression is invalid: {exc}") from None
