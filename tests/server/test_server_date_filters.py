"""search_sessions date filters: plain dates are whole UTC days and mix with zoned times."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from tests.server.test_server_tools import call, wired  # noqa: F401  (fixture)


def test_plain_dates_and_zoned_times_mix_and_until_includes_the_day(wired: Any) -> None:  # noqa: F811
    _, _, mcp = wired
    call(mcp, "chat", prompt="the gyroscope drifts", model="gpt-test")
    today = datetime.now(timezone.utc).date()
    tomorrow = today + timedelta(days=1)

    assert call(mcp, "search_sessions", query="gyroscope", since=today.isoformat(), until=f"{tomorrow}T00:00:00Z")["hits"]
    assert call(mcp, "search_sessions", query="gyroscope", since=f"{today}T00:00:00+00:00", until=today.isoformat())["hits"]
    assert call(mcp, "search_sessions", query="gyroscope", until=(today - timedelta(days=1)).isoformat())["hits"] == []
    assert call(mcp, "search_sessions", query="gyroscope", since=tomorrow.isoformat())["hits"] == []
