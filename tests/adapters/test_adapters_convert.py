"""Provider-neutral conversion helpers: history repair, argument shapes, id mapping (with properties)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

import pytest

from adapters import _convert as cv
from adapters._convert import NO_RESULT, arguments_json, arguments_object, content_text, decode_arguments
from adapters._convert import normalize_history, safe_id, safe_name, split_data_url, split_system, tool_names_in
from adapters.base import ToolSpec
from adapters.errors import AdapterError
from store.schema import Message, ToolCall

SAFE = re.compile(r"^[a-zA-Z0-9_-]+$")


def test_content_text_shapes() -> None:
    assert content_text(None) == "" and content_text("x") == "x"
    assert content_text([{"type": "text", "text": "a"}, {"type": "image_url"}, {"text": "b"}]) == "a\nb"
    assert content_text({"odd": "shape"}) == '{"odd": "shape"}'


def test_argument_shapes() -> None:
    assert arguments_object({"a": 1}) == {"a": 1}
    assert arguments_object('{"a": 1}') == {"a": 1}
    assert arguments_object("") == {} and arguments_object(None) == {}
    assert arguments_object("not json") == {"value": "not json"}
    assert arguments_object("[1, 2]") == {"value": [1, 2]}
    assert arguments_object(7) == {"value": 7}
    assert arguments_json({"a": "é"}) == '{"a": "é"}'
    assert arguments_json('{"already": "json"}') == '{"already": "json"}'
    assert arguments_json("plain") == '{"value": "plain"}'
    assert arguments_json(None) == "{}"
    assert decode_arguments('{"a": 1}') == {"a": 1}
    assert decode_arguments("  ") == {} and decode_arguments(None) == {}
    assert decode_arguments("{oops") == "{oops"
    assert decode_arguments({"x": 1}) == {"x": 1}


def test_data_urls() -> None:
    assert split_data_url("data:image/png;base64,QUJD") == ("image/png", "QUJD")
    assert split_data_url("https://x.test/a.png") is None


def test_safe_id_examples() -> None:
    assert safe_id("toolu_01ABC-x") == "toolu_01ABC-x"
    mapped = safe_id("functions.get_weather:0")
    assert SAFE.match(mapped) and mapped == safe_id("functions.get_weather:0")
    assert safe_id("functions.get_weather:0") != safe_id("functions_get_weather_0")
    assert safe_id("a.b") != safe_id("a:b")
    assert safe_name("get_weather") == "get_weather"
    assert re.match(r"^[a-zA-Z0-9_-]{1,64}$", safe_name("x" * 100))
    assert safe_name("...").startswith("___")
    assert safe_name("").startswith("tool_")


@given(st.text(min_size=1, max_size=300))
def test_safe_id_always_valid_deterministic_and_injective_on_changes(raw: str) -> None:
    mapped = safe_id(raw)
    assert SAFE.match(mapped) and len(mapped) <= max(len(raw), 65)
    assert safe_id(raw) == mapped
    if SAFE.match(raw):
        assert mapped == raw
    else:
        assert mapped != safe_id(raw + "x")


@given(st.text(max_size=200))
def test_safe_name_always_valid(raw: str) -> None:
    assert re.match(r"^[a-zA-Z0-9_-]{1,64}$", safe_name(raw))


def test_normalize_keeps_valid_histories_unchanged() -> None:
    history = [
        Message(role="user", content="q"),
        Message(role="assistant", content=None, tool_calls=[ToolCall(id="a", name="f"), ToolCall(id="b", name="g")]),
        Message(role="tool", tool_call_id="b", content="rb"),
        Message(role="tool", tool_call_id="a", content="ra"),
        Message(role="assistant", content="done"),
    ]
    out = normalize_history(history)
    assert [(m.role, m.tool_call_id, m.name) for m in out] == [
        ("user", None, None), ("assistant", None, None), ("tool", "a", "f"), ("tool", "b", "g"), ("assistant", None, None),
    ]
    assert history[2].name is None  # inputs are not modified


def test_normalize_repairs_orphans_duplicates_and_gaps() -> None:
    history = [
        Message(role="assistant", content=None, tool_calls=[ToolCall(id="a", name="f")]),
        Message(role="tool", tool_call_id="a", content="first"),
        Message(role="tool", tool_call_id="a", content="duplicate"),
        Message(role="user", content="interrupts"),
        Message(role="tool", tool_call_id="a", content="late"),
    ]
    out = normalize_history(history)
    assert [m.role for m in out] == ["assistant", "tool", "user", "user", "user"]
    assert out[1].content == "first"
    assert out[2].content == "[result of a tool (call a)]\nduplicate"
    assert out[4].content == "[result of a tool (call a)]\nlate"
    unanswered = normalize_history([Message(role="assistant", content="", tool_calls=[ToolCall(id="z", name="f")])])
    assert unanswered[1].content == NO_RESULT and unanswered[1].tool_call_id == "z"


def test_normalize_renames_an_id_repeated_within_one_message() -> None:
    history = [
        Message(role="assistant", content=None, tool_calls=[ToolCall(id="x", name="f"), ToolCall(id="x", name="g")]),
        Message(role="tool", tool_call_id="x", content="for f"),
    ]
    out = normalize_history(history)
    assert [c.id for c in out[0].tool_calls] == ["x", "x_1"]
    assert [(m.tool_call_id, m.content) for m in out[1:]] == [("x", "for f"), ("x_1", NO_RESULT)]


def test_split_system_and_tool_names() -> None:
    messages = [Message(role="system", content="a"), Message(role="system", content=" "), Message(role="user", content="u")]
    assert split_system(messages, "top") == ("top\n\na", [messages[2]])
    assert split_system(messages, "  ")[0] == "a"
    calls = [Message(role="assistant", content=None, tool_calls=[ToolCall(id="1", name="f"), ToolCall(id="2", name="g"), ToolCall(id="3", name="f")])]
    assert tool_names_in(calls) == ["f", "g"]


def _turns(pieces: list[tuple[str, list[dict]]]) -> list[dict]:
    return cv.alternating_turns(pieces, items_key="items", is_result=lambda item: "result" in item, placeholder={"text": "P"})


def test_alternating_turns_merge_drop_order_and_placeholder() -> None:
    turns = _turns([("user", [{"text": "a"}]), ("user", []), ("model", [{"text": "b"}]), ("user", [{"text": "c"}]), ("user", [{"result": 1}])])
    assert turns == [
        {"role": "user", "items": [{"text": "a"}]},
        {"role": "model", "items": [{"text": "b"}]},
        {"role": "user", "items": [{"result": 1}, {"text": "c"}]},  # merged, the result first
    ]
    assert _turns([("model", [{"text": "b"}, {"result": 2}])]) == [
        {"role": "user", "items": [{"text": "P"}]},
        {"role": "model", "items": [{"text": "b"}, {"result": 2}]},  # only user turns are reordered
    ]
    with pytest.raises(AdapterError, match="no message to send"):
        _turns([("user", []), ("model", [])])


def test_history_only_tools_and_tool_name_maps() -> None:
    history = [
        Message(role="assistant", tool_calls=[ToolCall(id="1", name="a.b"), ToolCall(id="2", name="kept")]),
        Message(role="assistant", tool_calls=[ToolCall(id="3", name="a.b"), ToolCall(id="4", name="new")]),
    ]
    assert cv.history_only_tools(["kept"], history) == [safe_name("a.b"), "new"]
    assert cv.history_only_tools([safe_name("a.b"), "kept", "new"], history) == []
    assert cv.sent_tool_names([ToolSpec(name="a.b"), ToolSpec(name="ok")]) == {safe_name("a.b"): "a.b", "ok": "ok"}
    assert cv.described("") == {} and cv.described("d") == {"description": "d"}


def test_usage_from_shapes() -> None:
    assert cv.usage_from(None, "i", "o") is None and cv.usage_from({}, "i", "o") is None and cv.usage_from([1], "i", "o") is None
    usage = cv.usage_from({"i": 3, "o": 4, "total": 7, "cached": None, "other": 1}, "i", "o", drop=("total",))
    assert (usage.input_tokens, usage.output_tokens, usage.extra) == (3, 4, {"cached": None, "other": 1})
    assert cv.usage_from({"i": 3, "cached": None, "other": 1}, "i", "o", drop_none=True).extra == {"other": 1}
