"""One conversation with tool calls moving between providers: every fake must accept every request."""

from __future__ import annotations

import asyncio
import json

from adapters import ChatReply, ChatRequest, ToolSpec, resolve
from adapters._convert import safe_id
from adapters.gemini import SKIP_SIGNATURE
from store.schema import Message
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI, echo_text, fake_anthropic, fake_gemini, fake_openai  # noqa: F401

WEATHER = ToolSpec(name="get_weather", description="Current weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})
KIMI_ID = "functions.get_weather:0"


def ask(model: str, messages: list[Message], tools: list[ToolSpec] | None = None) -> ChatReply:
    request = ChatRequest(model=model, messages=messages, system="You are terse.", tools=tools or [])
    return asyncio.run(resolve(model).complete(request))


def stored(reply: ChatReply) -> Message:
    """The assistant message the server would store for ``reply``."""
    return Message(
        role="assistant",
        content=reply.text,
        tool_calls=reply.tool_calls or None,
        model=reply.model,
        provider=reply.provider,
        extra={reply.provider: reply.provider_extra} if reply.provider_extra else {},
    )


def test_kimi_tool_calls_continue_on_claude_then_gemini(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, fake_gemini: FakeGemini
) -> None:
    # 1. Kimi (OpenAI format) asks for a tool with its own id style.
    fake_openai.enqueue_reply(
        None,
        tool_calls=[{"id": KIMI_ID, "name": "get_weather", "arguments": {"city": "Paris"}}],
        extra_message={"reasoning_content": "need weather"},
    )
    history = [Message(role="user", content="What's the weather in Paris?")]
    kimi = ask("kimi-k2", history, tools=[WEATHER])
    assert kimi.tool_calls[0].id == KIMI_ID and kimi.tool_calls[0].arguments == {"city": "Paris"}
    history += [stored(kimi), Message(role="tool", tool_call_id=KIMI_ID, name="get_weather", content='{"temp_c": 21}')]

    # 2. Switch to Claude, without offering tools: the history's tool blocks still need definitions.
    fake_anthropic.enqueue_reply("It is 21 C in Paris.")
    claude = ask("claude-sonnet-4-5", history)
    body = fake_anthropic.last_body
    mapped = safe_id(KIMI_ID)
    assert body["system"] == "You are terse."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What's the weather in Paris?"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": mapped, "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": mapped, "content": '{"temp_c": 21}'}]},
    ]
    assert body["tool_choice"] == {"type": "none"} and [t["name"] for t in body["tools"]] == ["get_weather"]
    history += [stored(claude), Message(role="user", content="And in Rome?")]

    # 3. Claude calls the tool itself this time.
    fake_anthropic.enqueue_reply(None, tool_uses=[{"id": "toolu_rome", "name": "get_weather", "input": {"city": "Rome"}}])
    claude_call = ask("claude-sonnet-4-5", history, tools=[WEATHER])
    assert fake_anthropic.requests[-1].rejected is None
    history += [stored(claude_call), Message(role="tool", tool_call_id="toolu_rome", content="sunny, 25 C")]

    # 4. Switch to Gemini 3: two function-call turns, answered by functionResponse parts.
    gemini = ask("gemini-3-pro-preview", history)
    contents = fake_gemini.last_body["contents"]
    assert fake_gemini.requests[-1].rejected is None
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user", "model", "user"]
    assert contents[1] == {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SKIP_SIGNATURE}]}
    assert contents[2] == {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}]}
    assert contents[5]["parts"][0]["functionCall"] == {"name": "get_weather", "args": {"city": "Rome"}}
    assert contents[6] == {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "sunny, 25 C"}}}]}
    assert gemini.text == echo_text("And in Rome?")
    history.append(stored(gemini))

    # 5. Back to OpenAI format: ids are the originals, arguments JSON strings, Kimi reasoning replayed.
    history.append(Message(role="user", content="Thanks!"))
    ask("kimi-k2", history)
    messages = fake_openai.last_body["messages"]
    assert fake_openai.requests[-1].rejected is None
    assistant_calls = [m for m in messages if m.get("tool_calls")]
    assert [c["tool_calls"][0]["id"] for c in assistant_calls] == [KIMI_ID, "toolu_rome"]
    assert json.loads(assistant_calls[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Rome"}
    assert assistant_calls[0]["reasoning_content"] == "need weather"
    assert "reasoning_content" not in assistant_calls[1]  # made by Claude: nothing recorded for Moonshot
    assert [m["role"] for m in messages] == [
        "system", "user", "assistant", "tool", "assistant", "user", "assistant", "tool", "assistant", "user",
    ]
    assert all(r.rejected is None for fake in (fake_openai, fake_anthropic, fake_gemini) for r in fake.requests)
