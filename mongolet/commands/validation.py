"""Collection validators (``validator`` / ``validationLevel`` / ``validationAction`` of
create and collMod), enforced on inserts, updates, replacements and upserts.

As on mongod: level "strict" (default) checks every insert and update, "moderate" leaves
alone updates of documents that already failed, "off" checks nothing; action "error"
(default) refuses the write with 121 DocumentValidationFailure and an ``errInfo`` naming the
document and why, "warn" lets it through. ``bypassDocumentValidation: true`` skips it all.
Query validators are supported; ``$jsonSchema`` is refused at create/collMod (BadValue).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mongolet.commands.registry import CommandContext, type_name
from mongolet.errors import MongoError
from mongolet.query import matcher
from mongolet.query.failure_details import failure_details
from mongolet.storage import Collection

_LEVELS = ("off", "strict", "moderate")
_ACTIONS = ("error", "warn")


def check_options(command: str, options: Mapping[str, Any]) -> None:
    """Refuse a malformed validator, level or action before storing it."""
    validator = options.get("validator")
    if validator is not None:
        if not isinstance(validator, dict):
            raise MongoError(14, f"BSON field '{command}.validator' is the wrong type "
                                 f"'{type_name(validator)}', expected type 'object'")
        matcher.compile_filter(validator)
    for field, allowed in (("validationLevel", _LEVELS), ("validationAction", _ACTIONS)):
        value = options.get(field)
        if value is not None and value not in allowed:
            raise MongoError(2, f"Enumeration value '{value}' for field '{command}.{field}' "
                                "is not a valid value.")


class Validator:
    """One collection's validator, compiled for one command."""

    def __init__(self, validator: dict[str, Any], moderate: bool, warn: bool) -> None:
        self.validator = validator
        self.moderate = moderate
        self.warn = warn
        self.accepts: Callable[[Mapping[str, Any]], bool] = matcher.compile_filter(validator)

    def check(self, new: dict[str, Any], old: dict[str, Any] | None = None) -> None:
        """Raise 121 unless ``new`` (replacing ``old``, if an update) may be written."""
        if self.warn or self.accepts(new):
            return
        if self.moderate and old is not None and not self.accepts(old):
            return
        raise MongoError(121, "Document failed validation", extra={"errInfo": {
            "failingDocumentId": new.get("_id"),
            "details": failure_details(self.validator, new)}})


def validator_for(ctx: CommandContext, coll: Collection | None) -> Validator | None:
    """The validator this command's writes to ``coll`` must pass, if any."""
    if coll is None or ctx.body.get("bypassDocumentValidation") is True:
        return None
    validator = coll.options.get("validator")
    level = coll.options.get("validationLevel", "strict")
    if not validator or level == "off":
        return None
    return Validator(validator, level == "moderate",
                     coll.options.get("validationAction", "error") == "warn")
