"""``$text``: search a collection's text index, as mongod does for ``english`` and ``none``.

A document's text is the strings of the index's fields (every string for ``$**``). It is cut
into words at anything that is not a letter or digit, lower-cased and stripped of accents
(unless ``$caseSensitive`` / ``$diacriticSensitive``); for ``english`` stop words are dropped
and the rest stemmed (Snowball's English stemmer, mongod's). A search string holds terms
(a document matches when it has one of them), ``"phrases"`` (all required, matched in the
raw text) and ``-negations`` (none allowed). The score follows mongod's formula: per field,
each term's decayed frequency (1, 1/2, 1/4... per repetition) times the field's weight,
times ``0.5 + 0.5 * count / words in the field``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

import snowballstemmer

from mongolet.errors import MongoError
from mongolet.indexes import IndexSpec
from mongolet.storage import Collection, Record

LANGUAGES = {"english": "english", "en": "english", "none": "none"}
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SEARCH = re.compile(r'(-?)"([^"]*)"|(-?)(\S+)')
_STOP_WORDS_TEXT = """
a about above after again against all am an and any are aren't as at be because been before
being below between both but by can't cannot could couldn't did didn't do does doesn't doing
don't down during each few for from further had hadn't has hasn't have haven't having he he'd
he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if in
into is isn't it it's its itself let's me more most mustn't my myself no nor not of off on
once only or other ought our ours ourselves out over own same shan't she she'd she'll she's
should shouldn't so some such than that that's the their theirs them themselves then there
there's these they they'd they'll they're they've this those through to too under until up
very was wasn't we we'd we'll we're we've were weren't what what's when when's where where's
which while who who's whom why why's with won't would wouldn't you you'd you'll you're you've
your yours yourself yourselves
"""
ENGLISH_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
_STEMMER = snowballstemmer.stemmer("english")


def text_index(coll: Collection) -> IndexSpec | None:
    for spec in coll.indexes.values():
        if any(direction == "text" for direction in spec.key.values()):
            return spec
    return None


def _fold(text: str, case_sensitive: bool, diacritic_sensitive: bool) -> str:
    if not diacritic_sensitive:
        text = "".join(c for c in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(c))
    return text if case_sensitive else text.lower()


class TextSearch:
    """One ``$text`` query against one collection's text index."""

    def __init__(self, coll: Collection, arg: Any) -> None:
        if not isinstance(arg, Mapping):
            raise MongoError(2, "$text expects an object")
        spec = text_index(coll)
        if spec is None:
            raise MongoError(27, "text index required for $text query")
        search = arg.get("$search")
        if not isinstance(search, str):
            raise MongoError(2, "$search required and must be a string" if search is None
                             else "$search needs a String")
        for name in arg:
            if name not in ("$search", "$language", "$caseSensitive", "$diacriticSensitive"):
                raise MongoError(2, f"Unexpected field {name} in $text parameters")
        options = spec.options
        language = arg.get("$language", options.get("default_language", "english"))
        if language not in LANGUAGES:
            raise MongoError(17262, f"language override unsupported: {language}")
        self.language = LANGUAGES[language]
        self.case_sensitive = bool(arg.get("$caseSensitive", False))
        self.diacritic_sensitive = bool(arg.get("$diacriticSensitive", False))
        self.fields = [f for f, d in spec.key.items() if d == "text"]
        self.weights: dict[str, float] = dict(options.get("weights") or {})
        self.override = options.get("language_override", "language")
        self.scores: dict[int, float] = {}
        self.terms: set[str] = set()
        self.negated: set[str] = set()
        self.phrases: list[str] = []
        self.negated_phrases: list[str] = []
        for match in _SEARCH.finditer(search):
            if match.group(2) is not None:
                phrase = _fold(match.group(2), self.case_sensitive, self.diacritic_sensitive)
                (self.negated_phrases if match.group(1) else self.phrases).append(phrase)
                if not match.group(1):
                    self.terms.update(self._words(match.group(2), self.language))
            else:
                words = self._words(match.group(4), self.language)
                (self.negated if match.group(3) else self.terms).update(words)

    def _words(self, text: str, language: str) -> list[str]:
        words = _WORD.findall(_fold(text, self.case_sensitive, self.diacritic_sensitive))
        if language != "english":
            return words
        kept = [w for w in words if w.lower() not in ENGLISH_STOP_WORDS]
        return kept if self.case_sensitive else list(_STEMMER.stemWords(kept))

    def _texts(self, doc: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """``(field, string)`` for each string the index holds of ``doc``."""
        if "$**" in self.fields:
            yield from _strings(doc, "")
            return
        from mongolet.query.paths import path_values

        for name in self.fields:
            for value in path_values(doc, name):
                if isinstance(value, str):
                    yield name, value

    def score(self, doc: Mapping[str, Any]) -> float | None:
        """The document's score, or None when it does not match."""
        language = doc.get(self.override, self.language) if self.override else self.language
        language = LANGUAGES.get(language, self.language) if isinstance(language, str) \
            else self.language
        total = 0.0
        found: set[str] = set()
        raw: list[str] = []
        for name, text in self._texts(doc):
            raw.append(_fold(text, self.case_sensitive, self.diacritic_sensitive))
            words = self._words(text, language)
            if not words:
                continue
            # mongod divides by every word of the field, stop words included
            size = len(_WORD.findall(text))
            counts: dict[str, tuple[int, float]] = {}
            for word in words:
                count, freq = counts.get(word, (0, 0.0))
                counts[word] = (count + 1, freq + 1.0 / (2 ** count))
            weight = float(self.weights.get(name, 1))
            for word, (count, freq) in counts.items():
                if word in self.terms:
                    found.add(word)
                    total += weight * freq * (0.5 * count / size + 0.5)
                if word in self.negated:
                    return None
        if not found:
            return None
        text = " ".join(raw)
        if any(p not in text for p in self.phrases) or any(p in text for p in
                                                           self.negated_phrases):
            return None
        return total

    def matching(self, pairs: Iterator[tuple[Record, dict[str, Any]]]
                 ) -> Iterator[tuple[Record, dict[str, Any]]]:
        for record, doc in pairs:
            found = self.score(doc)
            if found is not None:
                self.scores[id(doc)] = found
                yield record, doc


def _strings(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield prefix, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, prefix)
