"""Legacy timestamps: parsed to UTC and rendered back exactly as they were written."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.legacy.parsing import json_equal
from store.legacy.times import parse_time, render_time


@pytest.mark.parametrize(
    ("value", "expected", "kind"),
    [
        (1752355623, datetime(2025, 7, 12, 21, 27, 3, tzinfo=timezone.utc), "epoch"),
        (1752355623.0, datetime(2025, 7, 12, 21, 27, 3, tzinfo=timezone.utc), "epoch"),
        (1752355623250, datetime(2025, 7, 12, 21, 27, 3, 250000, tzinfo=timezone.utc), "epoch"),
        (1752355623250.5, datetime(2025, 7, 12, 21, 27, 3, 250500, tzinfo=timezone.utc), "epoch"),
        ("2025-07-12T21:26:03", datetime(2025, 7, 12, 21, 26, 3, tzinfo=timezone.utc), "iso"),
        ("2025-07-12T21:26:03Z", datetime(2025, 7, 12, 21, 26, 3, tzinfo=timezone.utc), "iso"),
        ("2025-07-12 21:26:03.123+02:00", datetime(2025, 7, 12, 19, 26, 3, 123000, tzinfo=timezone.utc), "iso"),
        ("2025-07-12T21:26:03.123456-05:30", datetime(2025, 7, 13, 2, 56, 3, 123456, tzinfo=timezone.utc), "iso"),
        ("2025-07-12", datetime(2025, 7, 12, tzinfo=timezone.utc), "iso"),
        ("2025-07-12T21:26", datetime(2025, 7, 12, 21, 26, tzinfo=timezone.utc), "iso"),
        ("2025-07-12T21:26:03.1", datetime(2025, 7, 12, 21, 26, 3, 100000, tzinfo=timezone.utc), "raw"),
        (1752355623.1234567, None, "raw"),
    ],
)
def test_known_formats_round_trip(value: Any, expected: datetime | None, kind: str) -> None:
    parsed = parse_time(value)
    assert parsed is not None
    moment, fmt = parsed
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    if expected is not None:
        assert moment == expected
    assert fmt["kind"] == kind
    assert json_equal(render_time(moment, fmt), value)


@pytest.mark.parametrize("value", [None, True, "yesterday", "", [1], {"t": 1}, float("inf"), 10**30, -(10**30)])
def test_not_timestamps(value: Any) -> None:
    assert parse_time(value) is None


def test_render_follows_the_unified_time() -> None:
    moment, fmt = parse_time("2025-07-12T21:26:03+02:00") or (None, None)
    assert moment is not None and fmt is not None
    assert render_time(moment + timedelta(hours=1), fmt) == "2025-07-12T22:26:03+02:00"
    seconds = parse_time(100)
    assert seconds is not None
    # An int-seconds time moved by a fraction can no longer be an int: the change shows.
    assert render_time(seconds[0] + timedelta(microseconds=5), seconds[1]) == 100.000005


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(timezone.utc)
    ),
    st.sampled_from(["T", " "]),
    st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]),
    st.sampled_from(["naive", "Z", "+00:00", "+08:00", "-03:30"]),
)
def test_iso_strings_round_trip(moment: datetime, sep: str, spec: str, zone: str) -> None:
    if zone == "naive":
        text = moment.replace(tzinfo=None).isoformat(sep=sep, timespec=spec)
    elif zone == "Z":
        text = moment.replace(tzinfo=None).isoformat(sep=sep, timespec=spec) + "Z"
    else:
        sign = -1 if zone[0] == "-" else 1
        offset = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        text = moment.astimezone(offset).isoformat(sep=sep, timespec=spec)
    parsed = parse_time(text)
    assert parsed is not None
    assert parsed[1]["kind"] == "iso"
    assert render_time(*parsed) == text


@given(st.one_of(st.integers(min_value=0, max_value=4 * 10**12), st.floats(min_value=0, max_value=4e12)))
def test_epoch_numbers_round_trip(value: float) -> None:
    parsed = parse_time(value)
    assert parsed is not None
    assert json_equal(render_time(*parsed), value)


@given(
    st.datetimes(timezones=st.just(timezone.utc)),
    st.integers(min_value=-23 * 60, max_value=23 * 60),
    st.sampled_from(["T", " "]),
)
def test_any_iso_string_parses_or_is_refused_never_crashes(moment: datetime, minutes: int, sep: str) -> None:
    text = moment.replace(tzinfo=None).isoformat(sep=sep) + f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    parsed = parse_time(text)
    if parsed is not None:
        assert render_time(*parsed) == text


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_times_outside_the_utc_range_are_not_timestamps(value: str) -> None:
    assert parse_time(value) is None
