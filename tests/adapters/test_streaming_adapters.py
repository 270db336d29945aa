"""Streamed answers through the three wire formats, against the loopback fakes.

The same scripted answer is asked for twice, streamed and not (``stream=False``, what
``stream = false`` in the config file gives), and the two replies must be equal: text, tool
calls, usage, finish reason, provider extras. Then what a broken stream does: the partial
answer in :class:`StreamInterrupted`, no retry once text arrived, a retry when nothing did.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters import ChatReply, ChatRequest, ToolSpec, list_models, resolve
from adapters.anthropic import AnthropicAdapter
from adapters.gemini import GeminiAdapter
from adapters.http_adapter import HttpAdapter
from adapters.openai_compat import OpenAICompatAdapter
from adapters.retry import RetryPolicy
from adapters.stream_assembly import AnthropicStream, GeminiStream, OpenAIStream, StreamEventError
from adapters.streaming import StreamInterrupted, listening
from store.schema import Message
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI, fake_anthropic, fake_gemini, fake_openai  # noqa: F401
from tests.fakes._base import sse

TOOL = ToolSpec(name="lookup", description="Look something up", parameters={"type": "object", "properties": {"q": {"type": "string"}}})
FAST = RetryPolicy(max_retries=2, total_timeout=20, base_delay=0.01, max_delay=0.02)
LONG_TEXT = "Streaming keeps every piece: naïve café, 東京, emoji 🙂 and a long tail. " * 6


def ask(adapter: HttpAdapter, model: str, tools: list[ToolSpec] | None = None) -> ChatReply:
    request = ChatRequest(model=model, messages=[Message(role="user", content="question")], tools=tools or [])
    return asyncio.run(adapter.complete(request))


def comparable(reply: ChatReply) -> dict[str, Any]:
    data = reply.model_dump(exclude={"latency_ms"})
    for call in data["tool_calls"]:  # Gemini's call ids end with a random batch tag
        call["id"] = re.sub(r"_[0-9a-f]{8}$", "_<batch>", call["id"])
    return data


def both_ways(make: Callable[[bool], HttpAdapter], enqueue: Callable[[], None], model: str, tools: list[ToolSpec] | None = None) -> tuple[ChatReply, ChatReply]:
    enqueue()
    streamed = ask(make(True), model, tools)
    enqueue()
    plain = ask(make(False), model, tools)
    return streamed, plain


def openai_adapter(fake: FakeOpenAI, provider: str = "openai") -> Callable[[bool], HttpAdapter]:
    return lambda stream: OpenAICompatAdapter(provider=provider, base_url=fake.base_url, api_key=fake.api_key, policy=FAST, stream=stream)


def anthropic_adapter(fake: FakeAnthropic) -> Callable[[bool], HttpAdapter]:
    return lambda stream: AnthropicAdapter(base_url=fake.base_url, api_key=fake.api_key, policy=FAST, stream=stream)


def gemini_adapter(fake: FakeGemini) -> Callable[[bool], HttpAdapter]:
    return lambda stream: GeminiAdapter(base_url=fake.base_url, api_key=fake.api_key, policy=FAST, stream=stream)


# ------------------------------------------------------------------ same reply either way


@pytest.mark.parametrize("provider, model", [("openai", "gpt-4o"), ("moonshot", "kimi-k2-0905-preview"), ("deepseek", "deepseek-reasoner")])
def test_openai_format_text_reasoning_and_usage_are_the_same_streamed(fake_openai: FakeOpenAI, provider: str, model: str) -> None:
    make = openai_adapter(fake_openai, provider)
    enqueue = lambda: fake_openai.enqueue_reply(LONG_TEXT, usage=(321, 54), model=model,  # noqa: E731
                                                extra_message={"reasoning_content": "First I think. " * 5})
    streamed, plain = both_ways(make, enqueue, model)
    assert comparable(streamed) == comparable(plain)
    assert streamed.text == LONG_TEXT and streamed.usage.input_tokens == 321 and streamed.usage.output_tokens == 54
    assert streamed.provider_extra == {"reasoning_content": "First I think. " * 5}
    first, second = fake_openai.requests[-2:]
    assert first.streamed and first.body["stream"] is True and not second.streamed and "stream" not in second.body
    # Moonshot sends the usage of a stream unasked (and may not know stream_options).
    assert ("stream_options" in first.body) is (provider != "moonshot")


def test_openai_format_tool_calls_are_the_same_streamed(fake_openai: FakeOpenAI) -> None:
    calls = [{"id": "call_a", "name": "lookup", "arguments": {"q": "first " * 10}},
             {"id": "call_b", "name": "lookup", "arguments": {"q": "second", "n": [1, 2, 3]}}]
    enqueue = lambda: fake_openai.enqueue_reply("Let me look.", tool_calls=calls, usage=(50, 20))  # noqa: E731
    streamed, plain = both_ways(openai_adapter(fake_openai), enqueue, "gpt-4o", [TOOL])
    assert comparable(streamed) == comparable(plain)
    assert [call.arguments for call in streamed.tool_calls] == [calls[0]["arguments"], calls[1]["arguments"]]
    assert streamed.finish_reason == "tool_calls" and streamed.text == "Let me look."


def test_anthropic_text_tool_use_thinking_and_usage_are_the_same_streamed(fake_anthropic: FakeAnthropic) -> None:
    content = [
        {"type": "thinking", "thinking": "Consider the question carefully. " * 4, "signature": "sig-123"},
        {"type": "text", "text": LONG_TEXT},
        {"type": "tool_use", "id": "toolu_01", "name": "lookup", "input": {"q": "deep", "nested": {"a": [1, "two"]}}},
    ]
    enqueue = lambda: fake_anthropic.enqueue(FakeAnthropic.message(content, "tool_use", (1234, 567), "claude-fake"))  # noqa: E731
    streamed, plain = both_ways(anthropic_adapter(fake_anthropic), enqueue, "claude-sonnet-4-5", [TOOL])
    assert comparable(streamed) == comparable(plain)
    assert streamed.text == LONG_TEXT and streamed.tool_calls[0].arguments == {"q": "deep", "nested": {"a": [1, "two"]}}
    assert (streamed.usage.input_tokens, streamed.usage.output_tokens, streamed.finish_reason) == (1234, 567, "tool_use")
    assert streamed.provider_extra["thinking"].startswith("Consider")


def test_gemini_text_thoughts_function_calls_and_usage_are_the_same_streamed(fake_gemini: FakeGemini) -> None:
    parts = [
        {"text": "Thinking it over. " * 3, "thought": True},
        {"text": LONG_TEXT},
        {"functionCall": {"name": "lookup", "args": {"q": "x"}}, "thoughtSignature": "c2ln"},
        {"functionCall": {"name": "lookup", "args": {"q": "y"}}},
    ]
    enqueue = lambda: fake_gemini.enqueue(FakeGemini.response(parts, "STOP", (77, 88)))  # noqa: E731
    streamed, plain = both_ways(gemini_adapter(fake_gemini), enqueue, "gemini-2.5-flash", [TOOL])
    assert comparable(streamed) == comparable(plain)
    assert streamed.text == LONG_TEXT and streamed.provider_extra["thoughts"] == "Thinking it over. " * 3
    assert [call.extra for call in streamed.tool_calls] == [{"gemini": {"thoughtSignature": "c2ln"}}, {}]
    assert (streamed.usage.input_tokens, streamed.usage.output_tokens) == (77, 88)
    streamed_request = fake_gemini.requests[-2]
    assert streamed_request.path.endswith(":streamGenerateContent") and streamed_request.query == {"alt": ["sse"]}


def test_an_endpoint_answering_json_to_a_stream_request_is_read_as_json(fake_openai: FakeOpenAI) -> None:
    # Some OpenAI-compatible servers ignore "stream": a JSON body (sent raw, so never streamed) is read as usual.
    fake_openai.enqueue(json.dumps(FakeOpenAI.completion({"role": "assistant", "content": "plain json"}, "stop", (1, 2), "m")))
    reply = ask(openai_adapter(fake_openai)(True), "gpt-4o")
    assert reply.text == "plain json" and reply.usage.output_tokens == 2
    assert fake_openai.requests[0].body["stream"] is True and not fake_openai.requests[0].streamed


# ------------------------------------------------------------------ the listener


def test_the_listener_hears_every_piece_with_rising_counts(fake_anthropic: FakeAnthropic) -> None:
    heard: list[tuple[str, int]] = []

    class Listener:
        def received(self, text: str, characters: int) -> None:
            heard.append((text, characters))

    fake_anthropic.enqueue_reply(LONG_TEXT, tool_uses=[{"id": "t1", "name": "lookup", "input": {"q": "z"}}])
    with listening(Listener()):
        reply = ask(anthropic_adapter(fake_anthropic)(True), "claude-sonnet-4-5", [TOOL])
    assert "".join(text for text, _ in heard) == reply.text == LONG_TEXT
    counts = [count for _, count in heard]
    assert counts == sorted(counts) and counts[-1] == len(LONG_TEXT) + len('{"q": "z"}')
    assert sum(1 for text, _ in heard if text) == len(fake_anthropic.pieces(LONG_TEXT))


# ------------------------------------------------------------------ broken streams


@pytest.mark.parametrize("wire", ["openai", "anthropic", "gemini"])
def test_a_stream_cut_halfway_raises_with_the_partial_answer_and_is_not_retried(
    wire: str, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, fake_gemini: FakeGemini
) -> None:
    fake: Any = {"openai": fake_openai, "anthropic": fake_anthropic, "gemini": fake_gemini}[wire]
    make = {"openai": openai_adapter, "anthropic": anthropic_adapter, "gemini": gemini_adapter}[wire](fake)
    pieces = fake.pieces(LONG_TEXT)
    # Events before the text: OpenAI's role chunk; Anthropic's message_start, ping, block start.
    before = {"openai": 1, "anthropic": 3, "gemini": 0}[wire]
    fake.enqueue_reply(LONG_TEXT, cut_after=before + len(pieces) // 2)
    with pytest.raises(StreamInterrupted) as caught:
        ask(make(True), {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}[wire])
    error = caught.value
    assert error.partial_text == "".join(pieces[: len(pieces) // 2]) and LONG_TEXT.startswith(error.partial_text)
    assert "stopped mid-stream" in str(error) and f"after {len(error.partial_text):,} characters" in str(error)
    assert "connection lost" in error.reason and not error.retryable
    assert len(fake.requests) == 1  # part of an answer arrived: never asked twice


def test_a_stream_that_breaks_before_any_text_is_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue_reply("never seen", cut_after=1)  # only the role chunk arrives
    fake_openai.enqueue_reply("second try")
    assert ask(openai_adapter(fake_openai)(True), "gpt-4o").text == "second try"
    assert len(fake_openai.requests) == 2


def test_a_stream_that_ends_without_finishing_is_interrupted(fake_openai: FakeOpenAI) -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": "m",
             "choices": [{"index": 0, "delta": {"content": "half an answer"}, "finish_reason": None}]}
    fake_openai.enqueue(sse(chunk) + sse("[DONE]"), headers={"Content-Type": "text/event-stream"})
    with pytest.raises(StreamInterrupted) as caught:
        ask(openai_adapter(fake_openai)(True), "gpt-4o")
    assert caught.value.partial_text == "half an answer"
    assert caught.value.reason == "the stream ended before the answer was complete"


def test_an_error_event_mid_stream_is_interrupted_with_the_providers_message(fake_anthropic: FakeAnthropic) -> None:
    events = [
        sse({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "content": [],
                                                  "model": "c", "usage": {"input_tokens": 3, "output_tokens": 1}}}, "message_start"),
        sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, "content_block_start"),
        sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "So far"}}, "content_block_delta"),
        sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error"),
    ]
    fake_anthropic.enqueue(b"".join(events), headers={"Content-Type": "text/event-stream"})
    with pytest.raises(StreamInterrupted) as caught:
        ask(anthropic_adapter(fake_anthropic)(True), "claude-sonnet-4-5")
    assert caught.value.partial_text == "So far" and "overloaded_error: Overloaded" in caught.value.reason


def test_a_stream_slower_than_the_timeout_is_interrupted_with_what_arrived(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_reply(LONG_TEXT, event_delay=0.25)
    adapter = GeminiAdapter(base_url=fake_gemini.base_url, api_key=fake_gemini.api_key,
                            policy=RetryPolicy(max_retries=0, total_timeout=1.0))
    with pytest.raises(StreamInterrupted) as caught:
        ask(adapter, "gemini-2.5-flash")
    assert caught.value.reason.startswith("timeout") and caught.value.partial_text
    assert LONG_TEXT.startswith(caught.value.partial_text) and caught.value.partial_text != LONG_TEXT


# ------------------------------------------------------------------ stream = false


def test_stream_false_in_the_config_file_sends_unstreamed_requests(fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "llm.toml"
    config.write_text(f'[endpoints.old]\nbase_url = "{fake_openai.base_url}"\napi_key_env = "OPENAI_API_KEY"\nstream = false\n\n'
                      f'[endpoints.new]\nbase_url = "{fake_openai.base_url}"\napi_key_env = "OPENAI_API_KEY"\n', encoding="utf-8")
    monkeypatch.setenv("LLM_MCP_CONFIG", str(config))
    for model in ("old/llama", "new/llama"):
        asyncio.run(resolve(model).complete(ChatRequest(model=model, messages=[Message(role="user", content="hi")])))
    old, new = fake_openai.requests
    assert "stream" not in old.body and not old.streamed
    assert new.body["stream"] is True and new.streamed
    streams = {info.provider: info.stream for info in list_models()}
    assert streams["old"] is False and streams["new"] is True and streams["openai"] is True


def test_stream_must_be_a_boolean_in_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "llm.toml"
    config.write_text('[endpoints.old]\nbase_url = "http://127.0.0.1:9"\nstream = "sometimes"\n', encoding="utf-8")
    monkeypatch.setenv("LLM_MCP_CONFIG", str(config))
    with pytest.raises(Exception, match=r"endpoints\.old\.stream"):
        resolve("old/x")


# ------------------------------------------------------------------ the assemblers alone (pure)


@pytest.mark.parametrize("assembler", [OpenAIStream(), AnthropicStream(), GeminiStream()], ids=["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("data, fragment", [("not json", "is not JSON"), ("[1, 2]", "not a JSON object")])
def test_an_event_that_is_not_a_json_object_is_a_stream_error(assembler: Any, data: str, fragment: str) -> None:
    with pytest.raises(StreamEventError, match=fragment):
        assembler.feed("message", data)


@pytest.mark.parametrize("assembler, data, expected", [
    (OpenAIStream(), '{"error": {"type": "server_error", "message": "boom"}}', "openai stream error: server_error: boom"),
    (GeminiStream(), '{"error": {"code": 503, "status": "UNAVAILABLE", "message": "overloaded"}}', "gemini stream error: UNAVAILABLE: overloaded"),
    (AnthropicStream(), '{"type": "error", "error": "plain text"}', "anthropic stream error: plain text"),
], ids=["openai", "gemini", "anthropic"])
def test_error_events_name_the_providers_error(assembler: Any, data: str, expected: str) -> None:
    with pytest.raises(StreamEventError) as caught:
        assembler.feed("error", data)
    assert str(caught.value) == expected


def test_streamed_tool_input_that_is_not_json_is_a_stream_error() -> None:
    stream = AnthropicStream()
    stream.feed("content_block_start", '{"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}}}')
    stream.feed("content_block_delta", '{"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\\"a\\": "}}')
    assert stream.answer()["content"] == []  # an open tool_use block has no usable input yet
    with pytest.raises(StreamEventError, match="tool input that is not JSON"):
        stream.feed("content_block_stop", '{"type": "content_block_stop", "index": 0}')


def test_chunks_without_choices_or_candidates_add_nothing() -> None:
    openai, gemini = OpenAIStream(), GeminiStream()
    assert openai.feed("message", '{"id": "c", "choices": []}') == "" and openai.text() == ""
    assert openai.feed("message", '{"choices": ["odd"]}') == ""
    assert gemini.feed("message", '{"promptFeedback": {"blockReason": "SAFETY"}}') == ""
    assert gemini.answer() == {"promptFeedback": {"blockReason": "SAFETY"}} and not gemini.complete
