"""Collations: string comparison by language rules instead of by code point.

mongod compares strings with ICU when a command (or the collection) names a collation.
mongolet implements the ``"en"`` locale (ICU's root order, which English uses unchanged) for
the parts of a collation applications use - ``strength`` 1 to 5, ``caseLevel``,
``numericOrdering`` - as a sort key of up to three levels:

- primary: base characters, case and accents removed (``"É"`` -> ``e``; ``"ß"`` -> ``ss``),
  in ICU's group order: whitespace < punctuation < symbols < digits < letters;
- secondary: the accents of each character;
- tertiary: the case of each character, lower case first.

Strength 1 compares primaries only (``"resume" == "Résumé"``), 2 adds accents, 3 (the
default) adds case; ``caseLevel`` adds case to strengths 1 and 2; 4 equals 3 here (the
quaternary level only differs with ``alternate: "shifted"``); 5 breaks ties by code point.
``numericOrdering`` compares digit runs by value (``"10" > "9"``). Letters sort by their
Unicode code point within the letter group: ICU's order for Latin, Greek and Cyrillic
letters; letters of other scripts or unusual Latin letters (``ø``, ``ł``) may be placed
differently from ICU. Other locales and options (``caseFirst``, ``alternate: "shifted"``,
``backwards``) are refused with BadValue rather than answered wrongly.

The collation in force is a context variable: ``values.compare``, ``equal`` and
``canonical_key`` consult it, so filters, sorts, ``distinct`` and pipelines follow it when
they run inside ``applied(collation)`` - which the command layer does around the evaluation
of a query only, never around storage (whose keys must stay code-point exact).
"""

from __future__ import annotations

import contextvars
import functools
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from mongolet.errors import MongoError

_FIELDS = ("locale", "caseLevel", "caseFirst", "strength", "numericOrdering", "alternate",
           "maxVariable", "normalization", "backwards", "version")
# Locales whose collation is ICU's root order (English has no tailoring).
_ROOT_LOCALES = ("en", "root")

# ICU root order of the ASCII characters that are not letters or digits.
_ASCII_ORDER = "\t\n\v\f\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"
_WHITESPACE, _PUNCTUATION, _SYMBOL, _DIGIT, _LETTER = range(5)

_ACTIVE: contextvars.ContextVar[Collation | None] = contextvars.ContextVar(
    "mongolet_collation", default=None)

T = TypeVar("T")


@dataclass(frozen=True)
class Collation:
    strength: int = 3
    case_level: bool = False
    numeric_ordering: bool = False

    def key(self, text: str) -> tuple[Any, ...]:
        """The sort key of ``text``: equal keys for strings equal under this collation."""
        return _key(text, self.strength, self.case_level, self.numeric_ordering)


def active() -> Collation | None:
    """The collation of the query being evaluated (None: the simple, code point order)."""
    return _ACTIVE.get()


@contextmanager
def applied(collation: Collation | None) -> Iterator[None]:
    token = _ACTIVE.set(collation)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def under(collation: Collation | None, fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` evaluated under ``collation`` at every call (``fn`` itself when simple)."""
    if collation is None:
        return fn

    def collated(*args: Any, **kwargs: Any) -> T:
        token = _ACTIVE.set(collation)
        try:
            return fn(*args, **kwargs)
        finally:
            _ACTIVE.reset(token)

    return collated


def parse(spec: Any, field: str = "collation") -> Collation | None:
    """A command's ``collation`` document; None for the simple collation."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise MongoError(14, f"BSON field '{field}' is the wrong type, expected type 'object'")
    for name in spec:
        if name not in _FIELDS:
            raise MongoError(40415, f"BSON field '{field}.{name}' is an unknown field.")
    locale = spec.get("locale")
    if locale is None:
        raise MongoError(40414, f"BSON field '{field}.locale' is missing but a required "
                                "field")
    if not isinstance(locale, str):
        raise MongoError(14, f"BSON field '{field}.locale' is the wrong type, expected type "
                             "'string'")
    if locale == "simple":
        if len(spec) > 1 and any(k not in ("locale", "version") for k in spec):
            raise MongoError(2, "Collation spec must not contain options other than the "
                                "locale for the simple collation")
        return None
    if locale.split("_")[0] not in _ROOT_LOCALES or locale == "en_US_POSIX":
        raise MongoError(2, f"mongolet supports the collation locales 'simple' and 'en' "
                            f"(with its regions, e.g. 'en_US'), not '{locale}'")
    strength = spec.get("strength", 3)
    if isinstance(strength, bool) or not isinstance(strength, int | float) \
            or strength not in (1, 2, 3, 4, 5):
        raise MongoError(2, f"Field 'strength' must be an integer 1 through 5. Got: "
                            f"{strength!r}")
    _refuse_unless(spec, "caseFirst", "off")
    _refuse_unless(spec, "alternate", "non-ignorable")
    _refuse_unless(spec, "backwards", False)
    return Collation(int(strength), bool(spec.get("caseLevel", False)),
                     bool(spec.get("numericOrdering", False)))


def _refuse_unless(spec: dict[str, Any], name: str, default: Any) -> None:
    value = spec.get(name, default)
    if value != default:
        raise MongoError(2, f"mongolet does not support the collation option {name}: "
                            f"{value!r} (only {default!r})")


# --- sort keys ------------------------------------------------------------------------------


def _group(char: str) -> tuple[int, int]:
    """Primary weight of a character that is not a letter."""
    index = _ASCII_ORDER.find(char)
    if index >= 0:
        group = _WHITESPACE if index <= 5 else (_PUNCTUATION if index <= 27 else _SYMBOL)
        return group, index
    category = unicodedata.category(char)
    if category[0] == "Z" or char.isspace():
        return _WHITESPACE, 0x10000 + ord(char)
    if category[0] == "P":
        return _PUNCTUATION, 0x10000 + ord(char)
    return _SYMBOL, 0x10000 + ord(char)


@functools.lru_cache(maxsize=65536)
def _key(text: str, strength: int, case_level: bool, numeric: bool) -> tuple[Any, ...]:
    primary: list[tuple[int, ...]] = []
    accents: list[tuple[int, ...]] = []
    cases: list[int] = []
    chars = unicodedata.normalize("NFD", text)
    i, n = 0, len(chars)
    while i < n:
        char = chars[i]
        i += 1
        if unicodedata.combining(char):
            if accents:  # an accent belongs to the character before it
                accents[-1] += (ord(char),)
            continue
        if numeric and char.isdecimal():
            digits = [unicodedata.decimal(char)]
            while i < n and chars[i].isdecimal():
                digits.append(unicodedata.decimal(chars[i]))
                i += 1
            while len(digits) > 1 and digits[0] == 0:
                digits.pop(0)
            primary.append((_DIGIT, len(digits), *digits))
            accents.append(())
            cases.append(0)
            continue
        if char.isdecimal():
            weights: list[tuple[int, ...]] = [(_DIGIT, 1, unicodedata.decimal(char))]
        elif char.isalpha():
            weights = [(_LETTER, ord(c)) for c in char.casefold()]
        else:
            weights = [_group(char)]
        for weight in weights:
            primary.append(weight)
            accents.append(())
            cases.append(1 if char.isupper() else 0)
    key: list[Any] = [tuple(primary)]
    if strength >= 2:
        key.append(tuple(accents))
    if case_level or strength >= 3:
        key.append(tuple(cases))
    if strength >= 5:
        key.append(chars)
    return tuple(key)
