"""The legacy Kimi reader and its lossless mapping to and from the unified schema."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from store.codec import decode_session, encode_session
from store.ids import validate_session_id
from store.legacy import (
    LegacyReadError,
    LegacyShapeError,
    LegacySource,
    NotMigratedFromLegacy,
    first_difference,
    json_equal,
    parse_legacy_document,
    safe_session_id,
    to_legacy,
    to_unified,
)
from store.schema import Session
from tests.conftest import SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES / "legacy_kimi_sessions"
GOOD = [
    "design-review_20250601_0900.json",
    "extras_20250712_1200.json",
    "long-session_20250710_0800.json",
    "refactor-model-agnostic-sessions_20250712_2126.json",
    "tool-calls_20250705_1400.json",
    "中文会话_20250615_1010.json",
]
BROKEN = {"empty_20250712_0000.json": "empty", "truncated_20250711_2359.json": "truncated"}
FALLBACK = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)


def source_for(name: str, data: bytes = b"") -> LegacySource:
    return LegacySource(
        file_name=name, legacy_id=Path(name).stem, sha256=hashlib.sha256(data).hexdigest(), fallback_time=FALLBACK
    )


def migrate_doc(document: Any, session_id: str = "s1") -> Session:
    """Map, then encode and decode as the store does (so only what reaches disk counts)."""
    session = to_unified(document, session_id=session_id, source=source_for(f"{session_id}.json"))
    return decode_session(encode_session(session), Path(f"{session_id}.json"))


def assert_round_trip(document: Any) -> Session:
    session = migrate_doc(document)
    assert first_difference(to_legacy(session), document) is None
    return session


def load_fixture(name: str) -> tuple[bytes, Any]:
    data = (FIXTURES / name).read_bytes()
    return data, parse_legacy_document(data)


def test_fixture_folder_is_what_the_tests_expect() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.json")) == sorted(GOOD + list(BROKEN))


@pytest.mark.parametrize("name", GOOD)
def test_every_good_fixture_maps_and_rebuilds_exactly(name: str) -> None:
    data, document = load_fixture(name)
    stem = Path(name).stem
    session = to_unified(document, session_id=stem, source=source_for(name, data))
    reread = decode_session(encode_session(session), Path(name))
    assert reread == session
    assert json_equal(to_legacy(reread), document)
    assert reread.id == stem == validate_session_id(stem)
    ext = reread.extensions["kimi"]
    assert ext["source"] == {"file": name, "sha256": hashlib.sha256(data).hexdigest()}
    assert ext["message_count"] == len(reread.messages)


@pytest.mark.parametrize(("name", "words"), [("empty_20250712_0000.json", "empty"), ("truncated_20250711_2359.json", "truncated")])
def test_broken_fixtures_are_refused_with_a_reason(name: str, words: str) -> None:
    with pytest.raises(LegacyReadError) as caught:
        parse_legacy_document((FIXTURES / name).read_bytes())
    assert words in caught.value.reason


def test_bare_list_fixture() -> None:
    _, document = load_fixture("design-review_20250601_0900.json")
    session = migrate_doc(document)
    assert [m.role for m in session.messages] == ["user", "assistant"]
    assert session.messages[0].content == "Review this API: def chat(prompt, session_id=None)"
    assert session.current_model is None and session.models_used == []
    assert session.extensions["kimi"]["shape"] == "list"
    # No time anywhere: the fallback (file mtime) is used, and recorded as synthesised.
    assert session.created_at == FALLBACK and session.messages[1].created_at == FALLBACK
    assert session.extensions["kimi"]["synthesised"] == ["created_at", "updated_at"]


def test_history_key_epoch_time_and_chinese() -> None:
    _, document = load_fixture("中文会话_20250615_1010.json")
    session = migrate_doc(document, "中文会话_20250615_1010")
    assert session.id == "中文会话_20250615_1010"
    assert session.created_at == datetime.fromtimestamp(1749982200, timezone.utc)
    assert session.messages[1].content == "FTS5 是 SQLite 的全文检索扩展，支持 bm25 排序。"
    assert session.messages[1].model == "moonshot-v1-128k"
    assert session.messages[0].model is None
    assert session.current_model == "moonshot-v1-128k" and session.models_used == ["moonshot-v1-128k"]
    ext = session.extensions["kimi"]
    assert ext["messages_key"] == "history" and ext["id_key"] == "id"
    assert ext["created"] == {"key": "created", "fmt": {"kind": "epoch", "unit": "s", "type": "int"}}


def test_tool_calls_become_provider_neutral() -> None:
    _, document = load_fixture("tool-calls_20250705_1400.json")
    session = migrate_doc(document)
    user, call, result, answer = session.messages
    assert user.content == [{"type": "text", "text": "What is the weather in Paris? Use the tool."}]
    assert call.content is None and call.tool_calls is not None
    only = call.tool_calls[0]
    assert (only.id, only.name, only.arguments) == ("call_1", "get_weather", {"city": "Paris"})
    assert only.extra == {"type": "function"}
    assert (result.role, result.tool_call_id, result.name) == ("tool", "call_1", "get_weather")
    assert answer.content == "It is 21 °C in Paris." and answer.model == "kimi-k2-0711-preview"
    assert session.created_at == datetime(2025, 7, 5, 14, tzinfo=timezone.utc)


def test_usage_and_message_timestamps() -> None:
    _, document = load_fixture("refactor-model-agnostic-sessions_20250712_2126.json")
    session = migrate_doc(document)
    reply = session.messages[2]
    assert reply.usage is not None
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (812, 240)
    assert reply.usage.extra == {"total_tokens": 1052}
    assert reply.created_at == datetime.fromtimestamp(1752355643.0, timezone.utc)
    # The system message has no timestamp: it inherits the session's creation time.
    assert session.messages[0].created_at == datetime(2025, 7, 12, 21, 26, 3, tzinfo=timezone.utc)
    assert session.updated_at == datetime(2025, 7, 12, 21, 35, 43, tzinfo=timezone.utc)
    assert session.extra == {"metadata": {"temperature": 0.6, "project": "llm-mcp-server"}}


def test_unknown_keys_are_kept_verbatim() -> None:
    _, document = load_fixture("extras_20250712_1200.json")
    session = migrate_doc(document)
    assert session.extra == {"pinned": True, "x_custom": {"nested": [1, 2, 3]}}
    assert session.tags == ["greeting"]
    assert session.messages[0].extra == {"x_client": "vim-plugin", "attachments": [{"name": "a.py", "sha": "abc"}]}
    assert session.messages[1].extra == {"reasoning_content": "The user greets me."}


def test_long_session_keeps_all_1500_messages_in_order() -> None:
    _, document = load_fixture("long-session_20250710_0800.json")
    session = assert_round_trip(document)
    assert len(session.messages) == 1500
    assert session.messages[-1].content == document["messages"][-1]["content"]
    assert len({m.id for m in session.messages}) == 1500
    assert "messages" not in session.extensions["kimi"]  # plain messages need no per-message notes


# -- tolerance ---------------------------------------------------------------------------------


def test_bom_is_accepted() -> None:
    document = parse_legacy_document("\ufeff[{\"role\": \"user\", \"content\": \"hi\"}]".encode())
    assert document == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\xff\xfe{}", "UTF-8"),
        (b"   \n", "empty"),
        (b'{"a": 1, "a": 2}', "duplicate key"),
        (b'{"a": NaN}', "NaN"),
        (b"[" * 100000, "JSON"),
    ],
)
def test_unreadable_bytes(data: bytes, words: str) -> None:
    with pytest.raises(LegacyReadError) as caught:
        parse_legacy_document(data)
    assert words in caught.value.reason


@pytest.mark.parametrize(
    ("document", "words"),
    [
        (42, "found int"),
        ({"session_id": "x", "model": "kimi"}, "no list of messages"),
        ({"messages": "hello"}, "no list of messages"),
        ([{"role": "user", "content": "a"}, "b"], "message 1 is a str"),
        ([{"content": "no role"}], "message 0 has no recognisable role"),
        ([{"role": "wizard", "content": "?"}], "message 0 has no recognisable role"),
    ],
)
def test_not_a_session_shape(document: Any, words: str) -> None:
    with pytest.raises(LegacyShapeError) as caught:
        to_unified(document, session_id="x", source=source_for("x.json"))
    assert words in caught.value.reason


def test_camel_case_aliases_and_iso_offsets() -> None:
    document = {
        "sessionId": "abc",
        "modelName": "kimi-k2",
        "createdAt": "2025-07-12T21:26:03.120+08:00",
        "updatedAt": 1752355623456,
        "conversation": [
            {"author": "Human", "text": "hello", "createdAt": "2025-07-12 13:26:05"},
            {"sender": "AI", "body": "hi!", "ts": 1752326766.5, "model": "kimi-k2-turbo",
             "tokenUsage": {"promptTokens": 3, "completionTokens": 4, "cost": 0.1}},
        ],
        "labels": ["a", "b"],
        "topic": "greeting",
    }
    session = assert_round_trip(document)
    assert session.created_at == datetime(2025, 7, 12, 13, 26, 3, 120000, tzinfo=timezone.utc)
    assert session.updated_at == datetime.fromtimestamp(1752355623.456, timezone.utc)
    assert session.title == "greeting" and session.tags == ["a", "b"]
    first, second = session.messages
    assert (first.role, first.content) == ("user", "hello")
    assert first.created_at == datetime(2025, 7, 12, 13, 26, 5, tzinfo=timezone.utc)
    assert (second.role, second.content, second.model) == ("assistant", "hi!", "kimi-k2-turbo")
    assert second.usage is not None and (second.usage.input_tokens, second.usage.output_tokens) == (3, 4)
    assert session.models_used == ["kimi-k2", "kimi-k2-turbo"] and session.current_model == "kimi-k2"


def test_odd_tool_calls_and_contents_survive() -> None:
    document = [
        {"role": "assistant", "content": None, "toolCalls": [{"id": "functions.read:0", "name": "read", "input": {"p": 1}}]},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "index": 0,
                                              "function": {"name": "f", "arguments": "{\"a\":\"é\"}", "strict": True}}]},
        {"role": "assistant", "tool_calls": [{"id": "c2", "function": {"name": "g", "arguments": "not json"}}]},
        {"role": "assistant", "tool_calls": [{"id": "c3", "function": {"name": "h", "arguments": "{\n  \"x\": 1\n}"}}]},
        {"role": "assistant", "tool_calls": [{"id": "c4", "function": {"name": "k"}}]},
        {"role": "assistant", "tool_calls": [{"function": {"name": "no id"}}]},
        {"role": "assistant", "tool_calls": [{"id": "c5", "function": "broken"}]},
        {"role": "assistant", "tool_calls": [{"id": "c6", "args": "[1, 2]", "name": "flat"}]},
        {"role": "assistant", "tool_calls": [{"id": "c7", "name": 7, "arguments": "{}"}]},
        {"role": "tool", "toolCallId": "c1", "content": {"structured": True}},
        {"role": "user", "content": ["plain", "strings"]},
        {"role": "user"},
        {"role": "user", "content": "x", "usage": "lots", "model": 5, "name": None, "id": 7, "timestamp": "yesterday"},
        {"role": "user", "content": "y", "usage": {"prompt_tokens": 1.0, "completion_tokens": True}},
    ]
    session = assert_round_trip(document)
    calls = [m.tool_calls for m in session.messages]
    assert calls[0] is not None and calls[0][0].arguments == {"p": 1} and calls[0][0].id == "functions.read:0"
    assert calls[1] is not None and calls[1][0].arguments == {"a": "é"} and calls[1][0].extra == {"type": "function", "index": 0}
    assert calls[2] is not None and calls[2][0].arguments == "not json"
    assert calls[3] is not None and calls[3][0].arguments == {"x": 1}
    assert calls[4] is not None and calls[4][0].arguments == {}
    assert calls[5] is None and session.messages[5].extra == {"tool_calls": [{"function": {"name": "no id"}}]}
    assert calls[6] is None
    assert calls[8] is None and "tool_calls" in session.messages[8].extra
    assert session.messages[9].tool_call_id == "c1" and session.messages[9].content == '{"structured": true}'
    assert session.messages[11].content == ""
    odd = session.messages[12]
    assert odd.extra == {"usage": "lots", "model": 5, "name": None, "id": 7, "timestamp": "yesterday"}
    assert session.messages[13].usage is not None and session.messages[13].usage.input_tokens is None
    # Content that was not text is stored as JSON text; editing it is noticed, even into non-JSON.
    for edited in ('{"structured": false}', "no longer JSON"):
        copy = session.model_copy(deep=True)
        copy.messages[9].content = edited
        assert first_difference(to_legacy(copy), document) is not None
    copy = session.model_copy(deep=True)
    copy.messages[11].content = "added later"
    assert first_difference(to_legacy(copy), document) is not None


def test_a_non_empty_message_list_wins_over_an_empty_alias() -> None:
    document = {"messages": [], "history": [{"role": "user", "content": "the real one"}]}
    session = assert_round_trip(document)
    assert [m.content for m in session.messages] == ["the real one"]
    assert session.extra == {"messages": []}
    odd = {"messages": [None], "history": []}
    assert assert_round_trip(odd).extra == {"messages": [None]}


def test_inner_id_different_from_file_name_is_kept() -> None:
    document = {"session_id": "other", "messages": []}
    session = migrate_doc(document, "mine")
    assert session.id == "mine"
    assert session.extensions["kimi"]["id_value"] == "other"
    assert to_legacy(session) == document


# -- ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("legacy_id", ["a b", "a:b", "..", "con", "CON.x", "", "x" * 300, "日本語 ok", "\udcff", "._."])
def test_invalid_legacy_ids_get_a_safe_deterministic_id(legacy_id: str) -> None:
    safe, why = safe_session_id(legacy_id)
    assert why is not None
    assert validate_session_id(safe) == safe
    assert safe_session_id(legacy_id) == (safe, why)


def test_distinct_invalid_ids_stay_distinct() -> None:
    assert safe_session_id("a b")[0] != safe_session_id("a:b")[0]
    assert safe_session_id("valid-id") == ("valid-id", None)


# -- the reverse mapping notices changes -----------------------------------------------------


def tampered(session: Session, change: Any) -> Any:
    copy = session.model_copy(deep=True)
    change(copy)
    return to_legacy(copy)


def test_reverse_mapping_notices_each_kind_of_change() -> None:
    _, document = load_fixture("refactor-model-agnostic-sessions_20250712_2126.json")
    session = migrate_doc(document)
    changes = [
        lambda s: setattr(s.messages[1], "content", "edited"),
        lambda s: setattr(s.messages[1], "role", "assistant"),
        lambda s: setattr(s.messages[2], "created_at", datetime(2020, 1, 1, tzinfo=timezone.utc)),
        lambda s: setattr(s, "created_at", datetime(2020, 1, 1, tzinfo=timezone.utc)),
        lambda s: setattr(s.messages[2].usage, "output_tokens", 1),
        lambda s: s.messages.pop(3),
        lambda s: s.extra.clear(),
        lambda s: setattr(s, "models_used", ["gpt-4o"]),
    ]
    for change in changes:
        assert first_difference(tampered(session, change), document) is not None
    _, tools = load_fixture("tool-calls_20250705_1400.json")
    tool_session = migrate_doc(tools)

    def change_args(s: Session) -> None:
        assert s.messages[1].tool_calls is not None
        s.messages[1].tool_calls[0].arguments = {"city": "Lyon"}

    assert first_difference(tampered(tool_session, change_args), tools) is not None


def test_messages_added_after_migration_are_not_legacy() -> None:
    _, document = load_fixture("tool-calls_20250705_1400.json")
    session = migrate_doc(document)
    from store.schema import Message

    session.messages.append(Message(role="user", content="continued in the unified store"))
    session.updated_at = datetime.now(timezone.utc)
    assert json_equal(to_legacy(session), document)


def test_to_legacy_needs_the_migration_record() -> None:
    with pytest.raises(NotMigratedFromLegacy):
        to_legacy(Session(id="fresh"))


def test_json_equal_is_type_strict() -> None:
    assert not json_equal(1, 1.0) and not json_equal(True, 1) and not json_equal([1], [1, 2])
    assert json_equal(float("nan"), float("nan")) and json_equal({"a": [1]}, {"a": [1]})
    assert first_difference({"a": 1}, {"b": 1}) == "$.a: only in the first document"
    assert first_difference({"a": 1}, {"a": 1, "b": 2}) == "$.b: only in the second document"
    assert "items" in (first_difference([1, 2], [1]) or "")
    assert json.loads(json.dumps(["x" * 100]))  # long values are shortened in messages
    assert "..." in (first_difference("x" * 100, "y") or "")
