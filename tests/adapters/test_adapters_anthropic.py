"""The Anthropic adapter against the loopback fake (which rejects what the Messages API rejects)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters import AdapterError, ChatRequest, ProviderError, ToolSpec, resolve
from adapters.anthropic import CONTINUE_PLACEHOLDER, HISTORY_TOOL_DESCRIPTION, AnthropicAdapter, default_max_tokens
from adapters._convert import safe_id, safe_name
from store.schema import Message, ToolCall
from tests.fakes import FakeAnthropic, echo_text, fake_anthropic  # noqa: F401

WEATHER = ToolSpec(name="get_weather", description="Weather for a city", parameters={"type": "object", "properties": {"city": {"type": "string"}}})


def ask(model: str, messages: list[Message], **kwargs: Any) -> Any:
    return asyncio.run(resolve(model).complete(ChatRequest(model=model, messages=messages, **kwargs)))


def test_plain_request_headers_system_and_max_tokens(fake_anthropic: FakeAnthropic) -> None:
    reply = ask("claude-sonnet-4-5", [Message(role="user", content="hello")], system="be brief", temperature=1.7)
    (request,) = fake_anthropic.requests
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "test-key" and request.headers["anthropic-version"] == "2023-06-01"
    assert request.body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8192,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
        "system": "be brief",
        "temperature": 1.0,
        "stream": True,
    }
    assert reply.text == echo_text("hello") and reply.finish_reason == "end_turn" and reply.provider == "anthropic"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (10, 5)


def test_default_max_tokens_per_model() -> None:
    assert default_max_tokens("claude-3-haiku-20240307") == 4096
    assert default_max_tokens("claude-3-opus-20240229") == 4096
    assert default_max_tokens("claude-3-5-sonnet-latest") == 8192
    assert default_max_tokens("claude-opus-4-1") == 8192


def test_system_messages_are_hoisted_and_same_roles_merged(fake_anthropic: FakeAnthropic) -> None:
    history = [
        Message(role="system", content="summary of earlier turns"),
        Message(role="assistant", content="I said this first"),
        Message(role="assistant", content=[{"type": "text", "text": "  "}, {"type": "text", "text": "and this"}]),
        Message(role="user", content="one"),
        Message(role="user", content=""),
        Message(role="user", content=[{"type": "text", "text": "two"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="}}, {"type": "image_url", "image_url": "https://x.test/cat.png"}]),
    ]
    ask("claude-3-5-haiku", history, system="sys", max_tokens=100)
    body = fake_anthropic.last_body
    assert body["system"] == "sys\n\nsummary of earlier turns" and body["max_tokens"] == 100
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": CONTINUE_PLACEHOLDER}]},
        {"role": "assistant", "content": [{"type": "text", "text": "I said this first"}, {"type": "text", "text": "and this"}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "one"},
                {"type": "text", "text": "two"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="}},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.png"}},
            ],
        },
    ]


def test_tool_round_trip_with_kimi_ids_and_reply_tool_use(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue_reply("Let me check.", tool_uses=[{"id": "toolu_01", "name": "get_weather", "input": {"city": "Oslo"}}])
    history = [
        Message(role="user", content="weather in Paris?"),
        Message(role="assistant", content="checking", tool_calls=[ToolCall(id="functions.get_weather:0", name="get_weather", arguments='{"city": "Paris"}')]),
        Message(role="tool", tool_call_id="functions.get_weather:0", content="20C", extra={"is_error": False}),
        Message(role="user", content="and Oslo?"),
    ]
    reply = ask("claude-sonnet-4-5", history, tools=[WEATHER])
    body = fake_anthropic.last_body
    mapped = safe_id("functions.get_weather:0")
    assert mapped.startswith("functions_get_weather_0_")
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "checking"}, {"type": "tool_use", "id": mapped, "name": "get_weather", "input": {"city": "Paris"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": mapped, "content": "20C"}, {"type": "text", "text": "and Oslo?"}]},
    ]
    assert body["tools"] == [{"name": "get_weather", "description": "Weather for a city", "input_schema": WEATHER.parameters}]
    assert "tool_choice" not in body
    assert reply.text == "Let me check." and reply.finish_reason == "tool_use"
    assert reply.tool_calls == [ToolCall(id="toolu_01", name="get_weather", arguments={"city": "Oslo"})]


def test_kimi_ids_repeated_across_turns_become_unique(fake_anthropic: FakeAnthropic) -> None:
    kimi_id = "functions.get_weather:0"  # Kimi numbers calls per turn: the same id every turn
    history: list[Message] = []
    for city in ("Paris", "Rome", "Oslo"):
        history += [
            Message(role="user", content=f"weather in {city}?"),
            Message(role="assistant", content=None, tool_calls=[ToolCall(id=kimi_id, name="get_weather", arguments={"city": city})]),
            Message(role="tool", tool_call_id=kimi_id, content=f"{city}: fine"),
        ]
    reply = ask("claude-sonnet-4-5", history)
    assert reply.text == echo_text("weather in Oslo?")
    messages = fake_anthropic.last_body["messages"]
    uses = [b["id"] for m in messages if m["role"] == "assistant" for b in m["content"]]
    results = [b["tool_use_id"] for m in messages if m["role"] == "user" for b in m["content"] if b["type"] == "tool_result"]
    base = safe_id(kimi_id)
    assert uses == results == [base, f"{base}_2", f"{base}_3"]


def test_history_tools_are_defined_with_tool_choice_none_when_none_offered(fake_anthropic: FakeAnthropic) -> None:
    history = [
        Message(role="user", content="go"),
        Message(role="assistant", content=None, tool_calls=[ToolCall(id="call_1", name="mcp.search", arguments={"q": "x"}), ToolCall(id="call_2", name="mcp.search", arguments={})]),
        Message(role="tool", tool_call_id="call_1", content="", extra={"is_error": True}),
        # call_2 never answered: a placeholder result is sent
        Message(role="assistant", content="done "),
    ]
    ask("claude-sonnet-4-5", history)
    body = fake_anthropic.last_body
    name = safe_name("mcp.search")
    assert body["tools"] == [{"name": name, "description": HISTORY_TOOL_DESCRIPTION, "input_schema": {"type": "object"}}]
    assert body["tool_choice"] == {"type": "none"}
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "is_error": True},
        {"type": "tool_result", "tool_use_id": "call_2", "content": "(no result was recorded for this tool call)"},
    ]
    # A final assistant turn is a prefill: no trailing whitespace.
    assert body["messages"][3] == {"role": "assistant", "content": [{"type": "text", "text": "done"}]}


def test_reply_tool_names_are_mapped_back(fake_anthropic: FakeAnthropic) -> None:
    odd = ToolSpec(name="files.read", description="")
    fake_anthropic.enqueue_reply(None, tool_uses=[{"id": "toolu_9", "name": safe_name("files.read"), "input": {"path": "a"}}])
    reply = ask("claude-sonnet-4-5", [Message(role="user", content="read a")], tools=[odd])
    assert fake_anthropic.last_body["tools"] == [{"name": safe_name("files.read"), "input_schema": odd.parameters}]
    assert reply.tool_calls[0].name == "files.read" and reply.text == ""


def test_empty_conversation_is_refused_before_sending() -> None:
    adapter = AnthropicAdapter(base_url="http://127.0.0.1:9", api_key="k")
    with pytest.raises(AdapterError, match="no message"):
        adapter.build_body(ChatRequest(model="claude-x", messages=[Message(role="user", content="  ")]))


def test_reply_parsing_edge_cases() -> None:
    adapter = AnthropicAdapter(base_url="http://127.0.0.1:9/", api_key="k")
    reply = adapter.parse_reply(
        {
            "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "a"}, "junk", {"type": "text", "text": "b"}, {"type": "tool_use", "name": "f"}],
            "stop_reason": "max_tokens",
            "usage": {"input_tokens": 1, "output_tokens": 2, "cache_read_input_tokens": 5, "cache_creation_input_tokens": None},
        },
        "claude-x",
        3.0,
    )
    assert reply.text == "ab" and reply.provider_extra == {"thinking": "hmm"}
    assert reply.tool_calls[0].id == "toolu_0" and reply.tool_calls[0].arguments == {}
    assert reply.usage.extra == {"cache_read_input_tokens": 5}
    assert adapter.parse_reply({"content": []}, "m", 0).usage is None
    with pytest.raises(ProviderError, match="no content"):
        adapter.parse_reply({"type": "error", "error": {"type": "overloaded_error"}}, "m", 0)
