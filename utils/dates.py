"""Parsing the dates and times users type (tool arguments, CLI flags) into UTC datetimes."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone


class InvalidDate(ValueError):
    """A date or time that is not ISO-8601."""


def parse_user_time(value: str, *, end_of_day: bool = False) -> datetime:
    """Parse ``2026-11-25``, ``2026-11-25T13:00``, ``...Z`` or ``...+02:00`` to an aware UTC datetime.

    A plain date means the whole UTC day: its start, or with ``end_of_day=True`` its last
    microsecond (so ``until=2026-11-25`` includes that day). A time without a zone is UTC.
    """
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.min, tzinfo=timezone.utc)
            return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InvalidDate(
            f"{value!r} is not an ISO-8601 date or time: use e.g. 2026-11-25 or 2026-11-25T13:00:00Z"
        ) from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)
