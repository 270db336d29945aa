"""Schema v1: every field survives encode/decode and a real save/load; unknown keys land in ``extra``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import Message, ModelSwitch, Session, SessionStore, Summary, ToolCall, Usage, message_text
from store.codec import UnreadableSessionFile, decode_session, encode_session
from store.schema import as_utc
from tests.helpers_store import full_document, load_json

UTC = timezone.utc
SOURCE = Path("test.json")


def _decode(document: dict[str, Any]) -> Session:
    return decode_session(json.dumps(document, ensure_ascii=False).encode("utf-8"), SOURCE)


def test_every_field_is_read() -> None:
    session = _decode(full_document())
    assert session.schema_version == 1
    assert session.id == "中文会话_20250615_1010"
    assert session.title == "调试会话 🎉 emoji"
    assert session.tags == ["work", "中文", "🔥"]
    assert session.current_model == "claude-sonnet-4"
    assert session.models_used == ["kimi-k2", "claude-sonnet-4"]
    assert session.tool_state == {"pending": [], "results": {"functions.read_file:0": "ok"}}
    assert session.extensions == {"kimi": {"partial": True, "raw": [1, "二", {"3": None}]}}

    system, user, assistant, tool, final = session.messages
    assert (system.role, system.content) == ("system", "You are helpful.")
    assert user.content == [
        {"type": "text", "text": "看这张图 👀"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    assert message_text(user) == "看这张图 👀"
    assert assistant.content is None
    assert message_text(assistant) == ""
    assert (assistant.model, assistant.provider, assistant.latency_ms) == ("kimi-k2", "moonshot", 123.5)
    assert assistant.tool_calls is not None
    first_call, second_call = assistant.tool_calls
    assert isinstance(first_call, ToolCall)
    assert (first_call.id, first_call.name) == ("functions.read_file:0", "read_file")
    assert first_call.arguments == {"path": "src/主.py", "lines": [1, 2]}
    assert second_call.arguments == "{\"raw\": \"json string\"}"
    assert isinstance(assistant.usage, Usage)
    assert (assistant.usage.input_tokens, assistant.usage.output_tokens) == (12, 34)
    assert (tool.role, tool.tool_call_id, tool.name, tool.content) == (
        "tool",
        "functions.read_file:0",
        "read_file",
        "file body ✅",
    )
    assert final.usage is not None and final.usage.input_tokens is None and final.usage.output_tokens == 7
    assert message_text(final) == "完成 ✨"

    (switch,) = session.model_switches
    assert isinstance(switch, ModelSwitch)
    assert (switch.at_message, switch.from_model, switch.to_model, switch.warning) == (
        4,
        "kimi-k2",
        "claude-sonnet-4",
        "context re-tokenised",
    )
    (summary,) = session.summaries
    assert isinstance(summary, Summary)
    assert (summary.covers, summary.text, summary.model) == ((0, 3), "摘要 summary", "kimi-k2")


def test_unknown_keys_land_in_extra_at_every_level() -> None:
    session = _decode(full_document())
    assert session.extra == {"imported_from": "legacy", "future_top_level": {"nested": ["x", {"y": 1.5}]}}
    assert session.messages[1].extra == {"client_hint": {"from": "cursor"}}
    assistant = session.messages[2]
    assert assistant.extra == {"finish_reason": "tool_calls"}
    assert assistant.tool_calls is not None
    assert assistant.tool_calls[0].extra == {"type": "function", "index": 0}
    assert assistant.tool_calls[1].extra == {}
    assert assistant.usage is not None and assistant.usage.extra == {"cached_tokens": 5}
    assert session.model_switches[0].extra == {"reason_code": 7}
    assert session.summaries[0].extra == {"tokens_saved": 1000}
    assert session.messages[0].extra == {}


def test_times_are_utc_aware() -> None:
    session = _decode(full_document())
    # +02:00 is converted, naive is taken as UTC, Z and -05:00 are converted.
    assert session.created_at == datetime(2025, 6, 15, 8, 10, tzinfo=UTC)
    assert session.created_at.utcoffset() == timedelta(0)
    assert session.updated_at == datetime(2025, 6, 15, 10, 11, 12, 345678, tzinfo=UTC)
    assert session.updated_at.tzinfo is not None
    assert [m.created_at.hour for m in session.messages] == [8, 8, 8, 8, 8]
    assert all(m.created_at.utcoffset() == timedelta(0) for m in session.messages)
    assert session.model_switches[0].at == datetime(2025, 6, 15, 8, 10, 3, 500000, tzinfo=UTC)
    assert session.summaries[0].created_at == datetime(2025, 6, 15, 8, 20, tzinfo=UTC)

    naive = Message(role="user", created_at=datetime(2025, 1, 2, 3, 4, 5))
    assert naive.created_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    plus_two = ModelSwitch(
        at_message=0, from_model=None, to_model="m", at=datetime(2025, 1, 2, 3, 0, tzinfo=timezone(timedelta(hours=2)))
    )
    assert plus_two.at == datetime(2025, 1, 2, 1, 0, tzinfo=UTC)
    assert plus_two.at.tzinfo == UTC
    assert as_utc(datetime(2025, 1, 1)).tzinfo == UTC


def test_encode_decode_round_trip_is_exact_and_stable() -> None:
    session = _decode(full_document())
    encoded = encode_session(session)
    again = decode_session(encoded, SOURCE)
    assert again == session
    assert encode_session(again) == encoded
    assert encoded.endswith(b"\n")
    # UTF-8 on disk, not \u escapes: people read these files.
    assert "调试会话 🎉".encode("utf-8") in encoded
    written = json.loads(encoded)
    assert written["schema_version"] == 1
    assert written["extra"]["future_top_level"] == {"nested": ["x", {"y": 1.5}]}
    assert written["messages"][2]["tool_calls"][0]["extra"] == {"type": "function", "index": 0}


def test_save_load_through_real_files_keeps_everything(store: SessionStore) -> None:
    session = _decode(full_document())
    store.save_new(session)
    path = store.path_for(session.id)
    assert path.is_file()
    loaded = store.load(session.id)
    assert loaded == session
    # A second generation (load, change, save) still keeps the unknown keys.
    store.set_title(session.id, "renamed")
    reloaded = store.load(session.id)
    assert reloaded.title == "renamed"
    assert reloaded.extra == session.extra
    assert reloaded.messages == session.messages
    assert reloaded.model_switches == session.model_switches
    assert reloaded.summaries == session.summaries
    assert load_json(path)["messages"][2]["usage"]["extra"] == {"cached_tokens": 5}


def test_extra_merges_with_unknown_keys_and_must_be_an_object() -> None:
    message = Message.model_validate({"role": "user", "extra": {"a": 1}, "b": 2})
    assert message.extra == {"a": 1, "b": 2}
    with pytest.raises(ValueError):
        Message.model_validate({"role": "user", "extra": [1], "b": 2})


def test_time_out_of_range_after_utc_conversion_is_unreadable_not_a_crash() -> None:
    document = full_document()
    document["created_at"] = "0001-01-01T00:30:00+02:00"
    with pytest.raises(UnreadableSessionFile, match="created_at"):
        _decode(document)


def test_bom_and_deep_nesting() -> None:
    encoded = encode_session(_decode(full_document()))
    assert decode_session(b"\xef\xbb\xbf" + encoded, SOURCE).id == "中文会话_20250615_1010"
    with pytest.raises(UnreadableSessionFile, match="nested too deeply"):
        decode_session(b"[" * 100_000 + b"]" * 100_000, SOURCE)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"schema_version": 1, "id": "x", "messages": [{"role": "robot"}]}, "schema error at messages.0.role"),
        ({"schema_version": 1, "id": "x", "messages": [{"role": "robot"}, {}]}, "and 1 more"),
        ({"schema_version": 1}, "schema error at id"),
        ({"id": "x"}, "missing schema_version"),
        ({"schema_version": "1", "id": "x"}, "positive integer"),
        ({"schema_version": True, "id": "x"}, "positive integer"),
        ({"schema_version": 0, "id": "x"}, "positive integer"),
    ],
)
def test_schema_errors_are_explained(document: dict[str, Any], reason: str) -> None:
    with pytest.raises(UnreadableSessionFile, match=reason):
        _decode(document)


# -- property test ---------------------------------------------------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
_extra = st.dictionaries(st.text(max_size=6), _json, max_size=3)
_times = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.none() | st.builds(
        timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59))
    )
)
_names = st.text(min_size=1, max_size=12)
_usage = st.builds(
    Usage,
    input_tokens=st.none() | st.integers(0, 10**9),
    output_tokens=st.none() | st.integers(0, 10**9),
    extra=_extra,
)
_tool_call = st.builds(ToolCall, id=_names, name=_names, arguments=_json, extra=_extra)
_content = st.none() | st.text(max_size=30) | st.lists(st.dictionaries(st.text(max_size=6), _json, max_size=3), max_size=3)
_message = st.builds(
    Message,
    id=_names,
    role=st.sampled_from(["system", "user", "assistant", "tool"]),
    content=_content,
    model=st.none() | _names,
    provider=st.none() | _names,
    created_at=_times,
    tool_calls=st.none() | st.lists(_tool_call, max_size=2),
    tool_call_id=st.none() | _names,
    name=st.none() | _names,
    usage=st.none() | _usage,
    latency_ms=st.none() | st.floats(min_value=0, max_value=1e9),
    extra=_extra,
)
_switch = st.builds(
    ModelSwitch,
    at_message=st.integers(0, 1000),
    from_model=st.none() | _names,
    to_model=_names,
    at=_times,
    warning=st.text(max_size=20),
    extra=_extra,
)
_summary = st.builds(
    Summary,
    covers=st.tuples(st.integers(0, 100), st.integers(0, 100)),
    text=st.text(max_size=30),
    model=_names,
    created_at=_times,
    extra=_extra,
)
_sessions = st.builds(
    Session,
    id=st.text(alphabet="abcxyz019._-中文", min_size=1, max_size=20),
    title=st.none() | st.text(max_size=20),
    created_at=_times,
    updated_at=_times,
    tags=st.lists(st.text(max_size=8), max_size=3),
    current_model=st.none() | _names,
    models_used=st.lists(_names, max_size=3),
    messages=st.lists(_message, max_size=4),
    model_switches=st.lists(_switch, max_size=2),
    tool_state=_extra,
    summaries=st.lists(_summary, max_size=2),
    extensions=st.dictionaries(_names, _extra, max_size=2),
    extra=_extra,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=_sessions)
def test_property_any_session_round_trips(session: Session) -> None:
    encoded = encode_session(session)
    decoded = decode_session(encoded, SOURCE)
    assert decoded == session
    assert encode_session(decoded) == encoded


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unknown=st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k not in Message.model_fields), _json, max_size=4))
def test_property_unknown_message_keys_survive(unknown: dict[str, Any]) -> None:
    document = {"schema_version": 1, "id": "p", "messages": [{"role": "user", "content": "hi", **unknown}]}
    session = _decode(document)
    assert session.messages[0].extra == unknown
    assert decode_session(encode_session(session), SOURCE).messages[0].extra == unknown


def test_model_switch_from_model_may_be_absent() -> None:
    switch = ModelSwitch.model_validate({"at_message": 0, "to_model": "gpt-4o", "at": "2025-01-01T00:00:00Z"})
    assert switch.from_model is None
