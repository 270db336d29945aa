"""Legacy timestamps (epoch seconds/ms, ISO strings) <-> UTC datetimes, reversibly.

``parse_time`` returns the UTC datetime *and* a format descriptor (plain JSON) such that
``render_time(datetime, descriptor)`` gives back exactly the original value. When no known
format reproduces the original, the descriptor keeps the original value verbatim
(``{"kind": "raw", "value": ...}``) so nothing is lost.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

from store.legacy.parsing import json_equal

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Numbers at or above this are taken as milliseconds (1e11 s is the year 5138).
MILLISECONDS_THRESHOLD = 10**11
_ONE_MICROSECOND = timedelta(microseconds=1)
_SEPARATORS = ("T", " ")
_TIMESPECS = ("auto", "seconds", "milliseconds", "microseconds", "minutes", "date")

TimeFormat = dict[str, Any]


def _from_number(value: int | float) -> tuple[datetime, TimeFormat] | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    unit = "ms" if abs(value) >= MILLISECONDS_THRESHOLD else "s"
    try:
        delta = timedelta(milliseconds=value) if unit == "ms" else timedelta(seconds=value)
        moment = EPOCH + delta
    except (OverflowError, ValueError):
        return None
    return moment, {"kind": "epoch", "unit": unit, "type": "int" if isinstance(value, int) else "float"}


def _from_string(value: str) -> tuple[datetime, TimeFormat] | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc), {"kind": "iso", "tz": "naive"}
    offset = parsed.utcoffset()
    assert offset is not None
    try:
        moment = parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        return None
    style = "Z" if value.endswith(("Z", "z")) else "offset"
    return moment, {"kind": "iso", "tz": style, "offset_seconds": int(offset.total_seconds())}


def render_time(moment: datetime, fmt: TimeFormat) -> Any:
    """The legacy value for ``moment`` in format ``fmt`` (the inverse of ``parse_time``)."""
    kind = fmt.get("kind")
    if kind == "raw":
        return fmt.get("value")
    moment = moment.astimezone(timezone.utc)
    if kind == "epoch":
        micros = (moment - EPOCH) // _ONE_MICROSECOND
        per_unit = 1000 if fmt.get("unit") == "ms" else 1_000_000
        if fmt.get("type") == "int":
            whole, rest = divmod(micros, per_unit)
            return whole if rest == 0 else micros / per_unit
        return micros / per_unit
    tz = fmt.get("tz")
    if tz == "naive":
        local = moment.replace(tzinfo=None)
    else:
        local = moment.astimezone(timezone(timedelta(seconds=int(fmt.get("offset_seconds", 0)))))
    timespec = fmt.get("timespec", "auto")
    if timespec == "date":
        return local.date().isoformat()
    text = local.isoformat(sep=str(fmt.get("sep", "T")), timespec=str(timespec))
    if tz == "Z":
        text = text[: -len("+00:00")] + "Z"
    return text


def parse_time(value: Any) -> tuple[datetime, TimeFormat] | None:
    """``(utc_datetime, format)`` for a legacy timestamp, or ``None`` if it is not one.

    Numbers are epoch seconds, or milliseconds when >= 1e11; strings are ISO-8601 (naive
    means UTC). The format always reproduces ``value`` exactly through ``render_time``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    found = _from_number(value) if not isinstance(value, str) else _from_string(value)
    if found is None:
        return None
    moment, fmt = found
    candidates: list[TimeFormat] = [fmt]
    if fmt["kind"] == "iso":
        candidates = [{**fmt, "sep": sep, "timespec": spec} for spec in _TIMESPECS for sep in _SEPARATORS]
    for candidate in candidates:
        if json_equal(render_time(moment, candidate), value):
            return moment, candidate
    return moment, {"kind": "raw", "value": value}
