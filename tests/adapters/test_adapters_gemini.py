"""The Gemini adapter against the loopback fake (which rejects what generateContent rejects)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters import AdapterError, ChatRequest, ProviderError, ToolSpec, resolve
from adapters.gemini import CONTINUE_PLACEHOLDER, SKIP_SIGNATURE, GeminiAdapter
from store.schema import Message, ToolCall
from tests.fakes import FakeGemini, echo_text, fake_gemini  # noqa: F401

WEATHER = ToolSpec(
    name="get_weather",
    description="Weather for a city",
    parameters={
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


def ask(model: str, messages: list[Message], **kwargs: Any) -> Any:
    return asyncio.run(resolve(model).complete(ChatRequest(model=model, messages=messages, **kwargs)))


def test_plain_request_path_header_system_and_config(fake_gemini: FakeGemini) -> None:
    reply = ask("gemini-2.5-flash", [Message(role="user", content="hello")], system="be brief", temperature=0.5, max_tokens=64)
    (request,) = fake_gemini.requests
    assert request.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert request.headers["x-goog-api-key"] == "test-key" and request.query == {"alt": ["sse"]}
    assert request.body == {
        "contents": [{"role": "user", "parts": [{"text": "hello"}]}],
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "generationConfig": {"temperature": 0.5, "maxOutputTokens": 64},
    }
    assert reply.text == echo_text("hello") and reply.finish_reason == "STOP" and reply.provider == "gemini"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (10, 5)


def test_roles_are_user_and_model_and_same_roles_merge(fake_gemini: FakeGemini) -> None:
    history = [
        Message(role="user", content="one"),
        Message(role="assistant", content=""),  # a failed reply: nothing to send, the user turns merge
        Message(role="user", content=[{"type": "text", "text": "two"}, {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}]),
        Message(role="system", content="mid-conversation note"),
        Message(role="assistant", content=[{"type": "text", "text": ""}, {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]),
        Message(role="assistant", content="more"),
        Message(role="user", content=[{"type": "image_url", "image_url": {"url": "https://x.test/b.png"}}]),
    ]
    ask("gemini-2.5-pro", history)
    body = fake_gemini.last_body
    assert body["systemInstruction"] == {"parts": [{"text": "mid-conversation note"}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "one"}, {"text": "two"}, {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}}]},
        {"role": "model", "parts": [{"text": "[image: https://x.test/a.png]"}, {"text": "more"}]},
        {"role": "user", "parts": [{"text": "[image: https://x.test/b.png]"}]},
    ]


def test_function_call_round_trip_and_signatures(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_reply(
        "Checking Oslo.",
        function_calls=[{"name": "get_weather", "args": {"city": "Oslo"}, "thoughtSignature": "c2lnLW9zbG8="}, {"name": "get_weather", "args": {"city": "Rome"}}],
    )
    history = [
        Message(role="user", content="weather in Paris and Lyon?"),
        Message(
            role="assistant",
            content=None,
            tool_calls=[
                ToolCall(id="gemini_0_x", name="get_weather", arguments={"city": "Paris"}, extra={"gemini": {"thoughtSignature": "c2ln"}}),
                ToolCall(id="gemini_1_x", name="get_weather", arguments={"city": "Lyon"}),
            ],
        ),
        Message(role="tool", tool_call_id="gemini_0_x", content='{"temp": 20}'),
        Message(role="tool", tool_call_id="gemini_1_x", content="rainy"),
        Message(role="user", content="and Oslo, Rome?"),
    ]
    reply = ask("gemini-3-pro-preview", history, tools=[WEATHER])
    body = fake_gemini.last_body
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
                {"functionCall": {"name": "get_weather", "args": {"city": "Lyon"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 20}}},
                {"functionResponse": {"name": "get_weather", "response": {"result": "rainy"}}},
                {"text": "and Oslo, Rome?"},
            ],
        },
    ]
    assert body["tools"] == [
        {"functionDeclarations": [{"name": "get_weather", "description": "Weather for a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}
    ]
    assert "toolConfig" not in body
    assert reply.text == "Checking Oslo."
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})]
    first, second = reply.tool_calls
    assert first.id != second.id and first.id.startswith("gemini_0_") and second.id.startswith("gemini_1_")
    assert first.extra == {"gemini": {"thoughtSignature": "c2lnLW9zbG8="}} and second.extra == {}


def test_gemini_3_gets_the_skip_signature_for_calls_made_elsewhere(fake_gemini: FakeGemini) -> None:
    history = [
        Message(role="user", content="go"),
        Message(role="assistant", content="", tool_calls=[ToolCall(id="call_1", name="lookup", arguments="{\"k\": 1}")]),
        Message(role="tool", tool_call_id="call_1", content="found"),
    ]
    reply = ask("gemini-3-pro-preview", history)
    body = fake_gemini.last_body
    assert body["contents"][1] == {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"k": 1}}, "thoughtSignature": SKIP_SIGNATURE}]}
    assert body["tools"] == [{"functionDeclarations": [{"name": "lookup", "description": "A tool used earlier in this conversation."}]}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}
    assert reply.text == echo_text("go")


def test_reply_tool_names_are_mapped_back_and_thoughts_kept() -> None:
    adapter = GeminiAdapter(base_url="http://127.0.0.1:9", api_key="k")
    reply = adapter.parse_reply(
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": "thinking...", "thought": True}, {"text": "answer"}, "junk", {"functionCall": {"name": "files_read_x", "id": "fc-1"}}]},
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3, "thoughtsTokenCount": 11},
        },
        "gemini-x",
        2.0,
        {"files_read_x": "files.read"},
    )
    assert reply.text == "answer" and reply.provider_extra == {"thoughts": "thinking..."}
    assert reply.tool_calls == [ToolCall(id="fc-1", name="files.read", arguments={})]
    assert reply.usage.extra == {"thoughtsTokenCount": 11}
    assert adapter.parse_reply({"candidates": [{"content": {}}]}, "m", 0).usage is None


def test_blocked_prompt_and_empty_answers_are_provider_errors(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue({"promptFeedback": {"blockReason": "SAFETY"}})
    with pytest.raises(ProviderError, match=r"blocked \(SAFETY\)"):
        ask("gemini-2.5-flash", [Message(role="user", content="x")])
    fake_gemini.enqueue({"candidates": []})
    with pytest.raises(ProviderError, match="no candidates"):
        ask("gemini-2.5-flash", [Message(role="user", content="x")])


def test_a_history_starting_with_the_model_gets_a_user_turn_first(fake_gemini: FakeGemini) -> None:
    ask("gemini-2.5-flash", [Message(role="assistant", content="summary so far"), Message(role="user", content="go on")])
    assert fake_gemini.last_body["contents"] == [
        {"role": "user", "parts": [{"text": CONTINUE_PLACEHOLDER}]},
        {"role": "model", "parts": [{"text": "summary so far"}]},
        {"role": "user", "parts": [{"text": "go on"}]},
    ]


def test_empty_conversation_is_refused_before_sending() -> None:
    with pytest.raises(AdapterError, match="no message"):
        GeminiAdapter(base_url="http://x", api_key="k").build_body(ChatRequest(model="gemini-x", messages=[]))


def test_empty_tool_descriptions_are_left_out(fake_gemini: FakeGemini) -> None:
    ask("gemini-2.5-flash", [Message(role="user", content="x")], tools=[ToolSpec(name="noop")])
    assert fake_gemini.last_body["tools"] == [{"functionDeclarations": [{"name": "noop", "parameters": {"type": "object", "properties": {}}}]}]


def test_model_names_are_quoted_in_the_path() -> None:
    adapter = GeminiAdapter(base_url="http://h/", api_key="k")
    assert adapter.url("tuned/my model") == "http://h/v1beta/models/tuned%2Fmy%20model:generateContent"
