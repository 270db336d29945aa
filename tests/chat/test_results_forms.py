"""The readable forms of the organising results (``update_session``, ``delete_session``) and of a
listing's line, checked on the dicts the tools return (the tools are wired in ``server.py``)."""

from __future__ import annotations

from mcp.types import TextContent

from chat import results

SUMMARY = {
    "session_id": "s-1", "id": "s-1", "title": "Date parsing\nreview", "created_at": "2026-12-07T10:15:00+00:00",
    "updated_at": "2026-12-07T10:20:00+00:00", "current_model": "gpt-4o", "models_used": ["gpt-4o", "claude-x"],
    "tags": ["review"], "message_count": 4, "cost_usd": 0.0123, "unpriced_answers": 0,
}


def _text(result: object) -> str:
    (block,) = [b for b in result.content if isinstance(b, TextContent)]  # type: ignore[attr-defined]
    return block.text


def test_update_session_reads_as_one_listing_line() -> None:
    result = results.session_summary_result(SUMMARY)
    assert result.structured_content == SUMMARY and list(result.structured_content)[0] == "session_id"
    assert _text(result) == "s-1 · 2026-12-07 10:20 · gpt-4o,claude-x · 4 msgs · $0.0123 · tags review · Date parsing review"
    results.SessionSummaryOutput.model_validate(result.structured_content)


def test_delete_session_says_where_and_how_to_restore() -> None:
    data = {"session_id": "s-1", "trashed_to": "/r/trash/s-1.json", "restore": "scripts/sessions.py restore s-1"}
    result = results.deleted_result(data)
    assert result.structured_content == data
    assert _text(result) == "session s-1 moved to the trash (/r/trash/s-1.json); to restore it: scripts/sessions.py restore s-1"


def test_list_sessions_gains_session_id_first_and_keeps_id() -> None:
    legacy_item = {k: v for k, v in SUMMARY.items() if k != "session_id"}
    result = results.list_sessions_result({"sessions": [legacy_item], "total": 3, "index_pending": 2}, offset=1)
    (item,) = result.structured_content["sessions"]
    assert list(item)[:2] == ["session_id", "id"] and item["session_id"] == item["id"] == "s-1"
    lines = _text(result).splitlines()
    assert lines[0] == "3 session(s), showing 2-2 (2 written but not yet indexed)"
    assert lines[1].endswith("· Date parsing review") and lines[2] == "more: call again with offset=2"
