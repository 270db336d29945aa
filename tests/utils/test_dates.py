from __future__ import annotations

from datetime import datetime, timezone

import pytest

from utils.dates import InvalidDate, parse_user_time


def test_plain_date_is_the_whole_utc_day() -> None:
    assert parse_user_time("2026-11-25") == datetime(2026, 11, 25, tzinfo=timezone.utc)
    assert parse_user_time("2026-11-25", end_of_day=True) == datetime(2026, 11, 25, 23, 59, 59, 999999, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T13:00:00Z", datetime(2026, 11, 25, 13, tzinfo=timezone.utc)),
        ("2026-11-25T13:00:00", datetime(2026, 11, 25, 13, tzinfo=timezone.utc)),
        ("2026-11-25T15:00:00+02:00", datetime(2026, 11, 25, 13, tzinfo=timezone.utc)),
        (" 2026-11-25T13:00z ", datetime(2026, 11, 25, 13, tzinfo=timezone.utc)),
    ],
)
def test_times_become_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_user_time(text)
    assert parsed == expected and parsed.tzinfo is timezone.utc


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "", "2026-11-25T25:00"])
def test_bad_input_is_a_clear_error(bad: str) -> None:
    with pytest.raises(InvalidDate, match="ISO-8601"):
        parse_user_time(bad)
