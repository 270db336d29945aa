"""The OpenAI-compatible adapter against the loopback fake: exact requests sent, replies parsed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from adapters import ChatRequest, ProviderError, ToolSpec, resolve
from adapters.openai_compat import OpenAICompatAdapter
from store.schema import Message, ToolCall
from tests.fakes import FakeOpenAI, echo_text, fake_openai  # noqa: F401

T = TypeVar("T")
WEATHER = ToolSpec(name="get_weather", description="Weather for a city", parameters={"type": "object", "properties": {"city": {"type": "string"}}})


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def ask(model: str, messages: list[Message], **kwargs: Any) -> Any:
    return run(resolve(model).complete(ChatRequest(model=model, messages=messages, **kwargs)))


def test_plain_chat_request_and_reply(fake_openai: FakeOpenAI) -> None:
    reply = ask("kimi-k2-0905-preview", [Message(role="user", content="hello")], system="be brief", temperature=0.3, max_tokens=50)
    (request,) = fake_openai.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.body == {
        "model": "kimi-k2-0905-preview",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
        "temperature": 0.3,
        "max_tokens": 50,
        "stream": True,  # Moonshot streams its usage unasked: no stream_options
    }
    assert reply.text == echo_text("hello")
    assert (reply.provider, reply.model, reply.finish_reason) == ("moonshot", "kimi-k2-0905-preview", "stop")
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (10, 5)
    assert reply.latency_ms > 0


def test_tool_calls_are_sent_as_json_strings_and_parsed_back_to_objects(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue_reply(
        None,
        tool_calls=[{"id": "functions.get_weather:1", "name": "get_weather", "arguments": {"city": "London"}}],
        extra_message={"reasoning_content": "I should call the tool."},
        usage=(120, 30),
    )
    history = [
        Message(role="user", content="weather in Paris?"),
        Message(role="assistant", content=None, tool_calls=[ToolCall(id="functions.get_weather:0", name="get_weather", arguments={"city": "Paris"})]),
        Message(role="tool", tool_call_id="functions.get_weather:0", content='{"temp": 20}'),
        Message(role="assistant", content="20 degrees."),
        Message(role="user", content="and London?"),
    ]
    reply = ask("kimi-k2", history, tools=[WEATHER])
    body = fake_openai.last_body
    assert body["messages"] == [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "functions.get_weather:0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}],
        },
        {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": '{"temp": 20}'},
        {"role": "assistant", "content": "20 degrees."},
        {"role": "user", "content": "and London?"},
    ]
    assert body["tools"] == [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", "parameters": WEATHER.parameters}}]
    assert reply.tool_calls == [ToolCall(id="functions.get_weather:1", name="get_weather", arguments={"city": "London"})]
    assert reply.finish_reason == "tool_calls" and reply.text == ""
    assert reply.provider_extra == {"reasoning_content": "I should call the tool."}
    assert reply.usage.input_tokens == 120


def test_moonshot_replays_recorded_reasoning_content_on_tool_call_turns(fake_openai: FakeOpenAI) -> None:
    call = ToolCall(id="functions.f:0", name="f", arguments={})
    history = [
        Message(role="user", content="go"),
        Message(role="assistant", content="", tool_calls=[call], extra={"moonshot": {"reasoning_content": "think"}}),
        Message(role="tool", tool_call_id="functions.f:0", content="done"),
    ]
    ask("kimi-k2-thinking", history)
    assert fake_openai.last_body["messages"][1]["reasoning_content"] == "think"
    # Moonshot: nothing recorded, nothing sent.
    ask("kimi-k2-thinking", [history[0], history[1].model_copy(update={"extra": {}}), history[2]])
    assert "reasoning_content" not in fake_openai.last_body["messages"][1]


def test_deepseek_always_sends_reasoning_content_on_tool_call_turns(fake_openai: FakeOpenAI) -> None:
    history = [
        Message(role="user", content="go"),
        Message(role="assistant", content="calling", tool_calls=[ToolCall(id="call_0", name="f", arguments={"a": 1})]),
        Message(role="tool", tool_call_id="call_0", content="done"),
        Message(role="assistant", content="plain answer", extra={"deepseek": {"reasoning_content": "not replayed"}}),
        Message(role="user", content="next"),
    ]
    ask("deepseek-reasoner", history)
    messages = fake_openai.last_body["messages"]
    assert messages[1]["reasoning_content"] == "" and messages[1]["content"] == "calling"
    assert "reasoning_content" not in messages[3]


def test_openai_uses_max_completion_tokens_and_drops_temperature_for_reasoning_models(fake_openai: FakeOpenAI) -> None:
    ask("o3-mini", [Message(role="user", content="x")], temperature=0.2, max_tokens=99)
    assert fake_openai.last_body == {"model": "o3-mini", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 99,
                                     "stream": True, "stream_options": {"include_usage": True}}
    ask("gpt-4o", [Message(role="user", content="x")], temperature=0.2, max_tokens=99)
    assert fake_openai.last_body["temperature"] == 0.2 and fake_openai.last_body["max_completion_tokens"] == 99


def test_content_parts_text_and_images(fake_openai: FakeOpenAI) -> None:
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="}},
        {"type": "note", "text": "a custom part with text"},
        {"type": "empty"},
    ]
    ask("gpt-4o", [Message(role="user", content=parts), Message(role="assistant", content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]), Message(role="user", content="ok")])
    messages = fake_openai.last_body["messages"]
    assert messages[0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="}},
        {"type": "text", "text": "a custom part with text"},
    ]
    assert messages[1] == {"role": "assistant", "content": "a\nb"}


def test_broken_histories_are_repaired_into_requests_the_api_accepts(fake_openai: FakeOpenAI) -> None:
    history = [
        Message(role="system", content="extra system note"),
        Message(role="tool", tool_call_id="lost", name="search", content="orphan result"),
        Message(role="user", content="q"),
        Message(role="assistant", content=None, tool_calls=[ToolCall(id="a", name="f", arguments="not json"), ToolCall(id="", name="g", arguments=None)]),
        Message(role="tool", tool_call_id="zzz", content="answers nothing"),
        Message(role="tool", tool_call_id="a", content="fa"),
        Message(role="assistant", content=""),  # a failed reply
        Message(role="user", content="next"),
    ]
    reply = ask("gpt-4o", history, system="sys")
    assert reply.text == echo_text("next")
    messages = fake_openai.last_body["messages"]
    assert [m["role"] for m in messages] == ["system", "system", "user", "user", "assistant", "tool", "tool", "user", "user"]
    assert messages[2]["content"] == "[result of search (call lost)]\norphan result"
    calls = messages[4]["tool_calls"]
    assert calls[0]["function"]["arguments"] == '{"value": "not json"}'
    assert calls[1]["id"] == "call_1" and calls[1]["function"]["arguments"] == "{}"
    assert messages[5] == {"role": "tool", "tool_call_id": "a", "content": "fa"}
    assert messages[6] == {"role": "tool", "tool_call_id": "call_1", "content": "(no result was recorded for this tool call)"}
    assert "answers nothing" in messages[7]["content"]


def test_openrouter_sends_vendor_model_upstream_and_ollama_needs_no_key(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    reply = ask("openrouter/anthropic/claude-3.5-sonnet", [Message(role="user", content="x")])
    assert fake_openai.last_body["model"] == "anthropic/claude-3.5-sonnet"
    assert reply.model == "openrouter/anthropic/claude-3.5-sonnet" and reply.provider == "openrouter"
    with FakeOpenAI(api_key=None) as ollama:
        monkeypatch.setenv("OLLAMA_BASE_URL", ollama.base_url)
        ask("ollama/llama3", [Message(role="user", content="local")])
        assert ollama.last_body["model"] == "llama3"
        assert "authorization" not in ollama.requests[0].headers


def test_reply_without_choices_is_a_provider_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue({"error": "overloaded"})
    with pytest.raises(ProviderError, match="no completion: overloaded"):
        ask("gpt-4o", [Message(role="user", content="x")])


def test_reply_parsing_edge_cases() -> None:
    adapter = OpenAICompatAdapter(provider="openai", base_url="http://unused/v1/", api_key=None)
    assert adapter.url == "http://unused/v1/chat/completions"
    assert "Authorization" not in adapter.headers()
    reply = adapter.parse_reply(
        {
            "choices": [
                {
                    "message": {
                        "content": [{"type": "text", "text": "part"}],
                        "tool_calls": [{"function": {"name": "f", "arguments": "{broken"}}, {"id": "c2", "function": {"name": "g", "arguments": ""}}, "junk"],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "completion_tokens_details": {"reasoning_tokens": 2}},
        },
        "gpt-x",
        1.0,
    )
    assert reply.text == "part"
    assert [(c.id, c.arguments) for c in reply.tool_calls] == [("call_0", "{broken"), ("c2", {})]
    assert reply.usage.extra == {"completion_tokens_details": {"reasoning_tokens": 2}}
    assert adapter.parse_reply({"choices": [{"message": {"content": "hi"}}]}, "m", 0).usage is None
    assert json.loads(json.dumps(reply.model_dump(mode="json")))["model"] == "gpt-x"
