"""Date operators: the date parts ($year ... $isoDayOfWeek), $dateToString, $dateFromString,
and time zones."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId, Timestamp

from mongolet.errors import MongoError
from mongolet.query.expressions.compiler import (
    OPERATORS,
    Compiled,
    Variables,
    arguments,
    named_args,
    register,
)
from mongolet.query.named_errors import conversion_failure
from mongolet.query.values import MISSING, date_from_millis, render, type_name


def _zone(spec: Any) -> datetime.tzinfo | None:
    if spec is None or spec is MISSING:
        return None
    if not isinstance(spec, str):
        raise MongoError(40517, f"timezone must evaluate to a string, found {type_name(spec)}")
    if spec in ("UTC", "GMT", "Z", "+00:00", "+0000", "+00"):
        return None
    if spec[0] in "+-":
        digits = spec[1:].replace(":", "")
        if digits.isdigit() and len(digits) in (2, 4):
            hours, minutes = int(digits[:2]), int(digits[2:] or 0)
            offset = datetime.timedelta(hours=hours, minutes=minutes)
            return datetime.timezone(offset if spec[0] == "+" else -offset)
    try:
        return ZoneInfo(spec)
    except Exception:
        raise MongoError(40485, f"unrecognized time zone identifier: \"{spec}\"") from None


def _local(date: Any, zone: datetime.tzinfo | None) -> datetime.datetime:
    if isinstance(date, Timestamp):
        date = date_from_millis(date.time * 1000)
    elif isinstance(date, ObjectId):
        date = date.generation_time.replace(tzinfo=None)
    if isinstance(date, datetime.datetime) and date.tzinfo is not None:
        date = date.astimezone(datetime.UTC).replace(tzinfo=None)
    if zone is None:
        return date
    return date.replace(tzinfo=datetime.UTC).astimezone(zone).replace(tzinfo=None)


def _date_part(name: str, pick: Callable[[datetime.datetime], int]) -> Callable[[str, Any], Compiled]:
    def build(op: str, arg: Any) -> Compiled:
        if isinstance(arg, Mapping) and "date" in arg:
            args = named_args(op, arg, ("date",), ("timezone",))
            date_arg, zone_arg = args["date"], args.get("timezone")
        else:
            date_arg = arguments(op, arg, 1)[0]
            zone_arg = None

        def run(root: Mapping[str, Any], variables: Variables) -> Any:
            date = date_arg(root, variables)
            if date is None or date is MISSING:
                return None
            if not isinstance(date, (datetime.datetime, Timestamp, ObjectId)):
                raise MongoError(16006, f"can't convert from BSON type {type_name(date)} to Date")
            zone = _zone(zone_arg(root, variables)) if zone_arg else None
            return pick(_local(date, zone))

        return run

    return build


for _name, _pick in (
    ("$year", lambda d: d.year),
    ("$month", lambda d: d.month),
    ("$dayOfMonth", lambda d: d.day),
    ("$hour", lambda d: d.hour),
    ("$minute", lambda d: d.minute),
    ("$second", lambda d: d.second),
    ("$millisecond", lambda d: d.microsecond // 1000),
    ("$dayOfYear", lambda d: d.timetuple().tm_yday),
    ("$dayOfWeek", lambda d: d.isoweekday() % 7 + 1),
    ("$week", lambda d: int(d.strftime("%U"))),
    ("$isoWeek", lambda d: d.isocalendar()[1]),
    ("$isoWeekYear", lambda d: d.isocalendar()[0]),
    ("$isoDayOfWeek", lambda d: d.isoweekday()),
):
    OPERATORS[_name] = _date_part(_name, _pick)


_FORMAT_CODES: dict[str, Callable[[datetime.datetime], str]] = {
    "Y": lambda d: f"{d.year:04d}",
    "m": lambda d: f"{d.month:02d}",
    "d": lambda d: f"{d.day:02d}",
    "H": lambda d: f"{d.hour:02d}",
    "M": lambda d: f"{d.minute:02d}",
    "S": lambda d: f"{d.second:02d}",
    "L": lambda d: f"{d.microsecond // 1000:03d}",
    "j": lambda d: f"{d.timetuple().tm_yday:03d}",
    "w": lambda d: str(d.isoweekday() % 7 + 1),
    "u": lambda d: str(d.isoweekday()),
    "U": lambda d: d.strftime("%U"),
    "V": lambda d: f"{d.isocalendar()[1]:02d}",
    "G": lambda d: f"{d.isocalendar()[0]:04d}",
    "b": lambda d: d.strftime("%b"),
    "B": lambda d: d.strftime("%B"),
    "%": lambda d: "%",
}


def format_date(fmt: str, date: Any, zone: datetime.tzinfo | None) -> str:
    """``date`` printed with ``$dateToString``'s format codes (``%Y-%m-%d``...)."""
    local = _local(date, zone)
    out = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(fmt):
            raise MongoError(18535, "Unmatched '%' at end of format string")
        code = fmt[i + 1]
        if code == "z" or code == "Z":
            offset = (local - _local(date, None)).total_seconds() // 60 if zone else 0
            sign = "+" if offset >= 0 else "-"
            offset = abs(int(offset))
            out.append(f"{sign}{offset // 60:02d}{offset % 60:02d}" if code == "z" else f"{sign if offset else '+'}{offset}")
        elif code in _FORMAT_CODES:
            out.append(_FORMAT_CODES[code](local))
        else:
            raise MongoError(18536, f"Invalid format character '%{code}' in format string")
        i += 2
    return "".join(out)


@register("$dateToString")
def _date_to_string(name: str, arg: Any) -> Compiled:
    args = named_args(name, arg, ("date",), ("format", "timezone", "onNull"))

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        date = args["date"](root, variables)
        if date is None or date is MISSING:
            return args["onNull"](root, variables) if "onNull" in args else None
        if not isinstance(date, (datetime.datetime, Timestamp, ObjectId)):
            raise MongoError(16006, f"can't convert from BSON type {type_name(date)} to Date")
        fmt = args["format"](root, variables) if "format" in args else "%Y-%m-%dT%H:%M:%S.%LZ"
        if not isinstance(fmt, str):
            raise MongoError(18533, f"$dateToString requires that 'format' be a string, found: {type_name(fmt)} with value {render(fmt)}")
        zone = _zone(args["timezone"](root, variables)) if "timezone" in args else None
        return format_date(fmt, date, zone)

    return run


@register("$dateFromString")
def _date_from_string(name: str, arg: Any) -> Compiled:
    args = named_args(name, arg, ("dateString",), ("format", "timezone", "onNull", "onError"))

    def run(root: Mapping[str, Any], variables: Variables) -> Any:
        text = args["dateString"](root, variables)
        if text is None or text is MISSING:
            return args["onNull"](root, variables) if "onNull" in args else None
        try:
            if not isinstance(text, str):
                raise conversion_failure(f"$dateFromString requires that 'dateString' be a string, found: {type_name(text)} with value {render(text)}")
            if "format" in args:
                fmt = args["format"](root, variables)
                parsed = datetime.datetime.strptime(text, fmt.replace("%L", "%f"))
            else:
                parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.tzinfo is not None:
                return parsed.astimezone(datetime.UTC).replace(tzinfo=None)
            zone = _zone(args["timezone"](root, variables)) if "timezone" in args else None
            if zone is not None:
                return parsed.replace(tzinfo=zone).astimezone(datetime.UTC).replace(tzinfo=None)
            return parsed
        except (ValueError, MongoError) as exc:
            if "onError" in args:
                return args["onError"](root, variables)
            if isinstance(exc, MongoError):
                raise
            raise conversion_failure(f"Error parsing date string '{text}'") from None

    return run
