"""``index.times.iso``: the stored form of a time is exactly what strftime always gave."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, strategies as st

from index.times import iso, parse_iso

STORED_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
ZONES = st.sampled_from([None, timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-11))])


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)), ZONES)
def test_iso_is_strftime_of_the_utc_time(moment: datetime, zone: timezone | None) -> None:
    value = moment if zone is None else moment.replace(tzinfo=zone)
    utc = value.replace(tzinfo=timezone.utc) if zone is None else value.astimezone(timezone.utc)
    assert iso(value) == utc.strftime(STORED_FORMAT)


def test_iso_examples() -> None:
    assert iso(datetime(2025, 1, 2, 0, 0, 7, tzinfo=timezone.utc)) == "2025-01-02T00:00:07.000000Z"
    assert iso(datetime(2025, 1, 2, 3, 4, 5, 60, tzinfo=timezone(timedelta(hours=1)))) == "2025-01-02T02:04:05.000060Z"
    assert iso(datetime(1000, 12, 31, 23, 59, 59, 999999)) == "1000-12-31T23:59:59.999999Z"
    # Years below 1000 keep strftime's own spelling (unpadded here), as they always had.
    assert iso(datetime(999, 1, 1, tzinfo=timezone.utc)) == datetime(999, 1, 1).strftime(STORED_FORMAT)
    assert parse_iso(iso(datetime(2026, 12, 2, 4, 5, 6, 7, tzinfo=timezone.utc))) == datetime(2026, 12, 2, 4, 5, 6, 7, tzinfo=timezone.utc)
