"""``reasoning_effort`` on the wire: each adapter's request against the loopback fakes (which reject
reasoning settings the way the real APIs do), the fakes' own refusals, and the plans' warnings."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from adapters import ChatRequest, ProviderError, resolve
from chat.errors import InvalidToolArgument
from adapters.reasoning import ANTHROPIC_BUDGETS, GEMINI_BUDGETS, NO_PLAN, check_effort, plan_for
from store.schema import Message
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI, fake_anthropic, fake_gemini, fake_openai  # noqa: F401
from tests.fakes.anthropic_fake import THINKING_TEXT
from tests.fakes.gemini_fake import THOUGHT_TEXT
from tests.fakes.openai_fake import REASONING_TEXT

HELLO = [Message(role="user", content="hello")]


def ask(model: str, **kwargs: Any) -> Any:
    request = ChatRequest(model=model, messages=HELLO, **kwargs)
    resolved = resolve(model)
    return asyncio.run(resolved.complete(request)), resolved.reasoning_plan(request)


def sent(fake: Any) -> dict[str, Any]:
    """The last request body without the streaming switches (streaming is tested elsewhere)."""
    return {key: value for key, value in fake.last_body.items() if key not in ("stream", "stream_options")}


def post(fake: Any, path: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return httpx.post(fake.origin + path, json=body, headers=headers, timeout=10)


# ------------------------------------------------------------------------------ the effort value


def test_check_effort_accepts_the_three_levels_and_refuses_anything_else() -> None:
    assert [check_effort(value) for value in (None, "low", "medium", "high")] == [None, "low", "medium", "high"]
    for bad in ("max", "HIGH", "", 3):
        with pytest.raises(InvalidToolArgument, match="use low, medium or high"):
            check_effort(bad)


def test_an_adapter_without_a_plan_gets_the_request_as_is() -> None:
    assert plan_for(object(), ChatRequest(model="m", messages=HELLO, reasoning_effort="high")) is NO_PLAN


# ------------------------------------------------------------------------------ OpenAI family


@pytest.mark.parametrize("effort", ["low", "medium", "high"])
def test_openai_reasoning_models_get_reasoning_effort(fake_openai: FakeOpenAI, effort: str) -> None:
    reply, plan = ask("o3-mini", reasoning_effort=effort)
    assert sent(fake_openai) == {"model": "o3-mini", "messages": [{"role": "user", "content": "hello"}], "reasoning_effort": effort}
    assert plan.warnings == () and reply.text == "echo: hello"


def test_openai_reasoning_model_drops_temperature_with_a_warning(fake_openai: FakeOpenAI) -> None:
    _, plan = ask("gpt-5-mini", reasoning_effort="low", temperature=0.3)
    assert "temperature" not in fake_openai.last_body and fake_openai.last_body["reasoning_effort"] == "low"
    assert plan.warnings == ("temperature was not sent: OpenAI reasoning models such as gpt-5-mini reject it",)


@pytest.mark.parametrize("model", ["gpt-4o", "o1-mini", "gpt-5-chat-latest"])
def test_openai_models_without_the_control_answer_with_a_warning(fake_openai: FakeOpenAI, model: str) -> None:
    reply, plan = ask(model, reasoning_effort="high")
    assert "reasoning_effort" not in fake_openai.last_body and fake_openai.accepted
    assert plan.warnings[-1].startswith(f"reasoning_effort was not applied: {model}")
    assert reply.text == "echo: hello"


def test_deepseek_gets_thinking_and_effort_and_its_reasoning_is_kept_apart(fake_openai: FakeOpenAI) -> None:
    reply, plan = ask("deepseek-chat", reasoning_effort="medium", temperature=0.5)
    body = fake_openai.last_body
    assert body["thinking"] == {"type": "enabled"} and body["reasoning_effort"] == "medium" and "temperature" not in body
    assert plan.warnings == (
        "temperature was not sent: it has no effect in DeepSeek's thinking mode",
        "DeepSeek has no medium reasoning effort: it runs medium as high",
    )
    assert reply.text == "echo: hello" and reply.provider_extra == {"reasoning_content": REASONING_TEXT}


def test_kimi_k2_5_turns_thinking_on_and_says_the_level_has_no_equivalent(fake_openai: FakeOpenAI) -> None:
    reply, plan = ask("kimi-k2.5", reasoning_effort="low")
    assert fake_openai.last_body["thinking"] == {"type": "enabled"} and "reasoning_effort" not in fake_openai.last_body
    assert "thinking on/off only" in plan.warnings[0]
    assert reply.provider_extra == {"reasoning_content": REASONING_TEXT}


@pytest.mark.parametrize(("model", "why"), [("kimi-k2-thinking", "always thinks"), ("kimi-k2-0905-preview", "no reasoning control")])
def test_other_kimi_models_get_nothing_and_a_warning(fake_openai: FakeOpenAI, model: str, why: str) -> None:
    _, plan = ask(model, reasoning_effort="high")
    assert set(sent(fake_openai)) == {"model", "messages"}
    assert why in plan.warnings[0] and "not applied" in plan.warnings[0]


def test_openrouter_gets_its_reasoning_object(fake_openai: FakeOpenAI) -> None:
    ask("openrouter/anthropic/claude-sonnet-4.5", reasoning_effort="high")
    assert fake_openai.last_body["reasoning"] == {"effort": "high"} and fake_openai.last_body["model"] == "anthropic/claude-sonnet-4.5"


def test_ollama_has_no_documented_control(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", fake_openai.api_key or "")
    _, plan = ask("ollama/llama3", reasoning_effort="high")
    assert set(sent(fake_openai)) == {"model", "messages"} and "'ollama'" in plan.warnings[0]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"model": "gpt-4o", "reasoning_effort": "low"}, "'reasoning_effort' is not supported with this model"),
        ({"model": "o1-mini", "reasoning_effort": "low"}, "'reasoning_effort' is not supported"),
        ({"model": "o3", "reasoning_effort": "max"}, "Invalid value for 'reasoning_effort'"),
        ({"model": "o3", "temperature": 0.2}, "'temperature' does not support 0.2"),
        ({"model": "gpt-4o", "thinking": {"type": "enabled"}}, "Unrecognized request argument supplied: thinking"),
        ({"model": "deepseek-chat", "thinking": {"type": "on"}}, "thinking.type must be"),
        ({"model": "gpt-4o", "reasoning": {"effort": "low"}}, "Unrecognized request argument supplied: reasoning"),
        ({"model": "x/y", "reasoning": {"effort": "low", "max_tokens": 5}}, "not both"),
        ({"model": "x/y", "reasoning": {"effort": "huge"}}, "reasoning.effort 'huge' is not valid"),
    ],
)
def test_the_openai_fake_rejects_reasoning_settings_the_real_api_rejects(body: dict[str, Any], error: str) -> None:
    with FakeOpenAI() as fake:
        response = post(fake, "/v1/chat/completions", {**body, "messages": [{"role": "user", "content": "x"}]},
                        {"Authorization": "Bearer test-key"})
    assert response.status_code == 400 and error in response.json()["error"]["message"]


# ------------------------------------------------------------------------------ Anthropic


@pytest.mark.parametrize("effort", ["low", "medium", "high"])
def test_claude_gets_extended_thinking_with_room_for_the_answer(fake_anthropic: FakeAnthropic, effort: str) -> None:
    reply, plan = ask("claude-opus-4-1", reasoning_effort=effort)
    body = fake_anthropic.last_body
    budget = ANTHROPIC_BUDGETS[effort]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == budget + 8192 and "temperature" not in body
    assert plan.warnings == ()
    assert reply.text == "echo: hello" and reply.provider_extra == {"thinking": THINKING_TEXT}


def test_claude_thinking_drops_temperature_and_fits_the_callers_max_tokens(fake_anthropic: FakeAnthropic) -> None:
    _, plan = ask("claude-sonnet-4-5", reasoning_effort="high", temperature=0.2, max_tokens=5000)
    body = fake_anthropic.last_body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 5000 - 1024} and body["max_tokens"] == 5000
    assert "temperature" not in body
    assert plan.warnings == (
        "temperature was not sent: Claude's extended thinking requires it to be left unset",
        "the thinking budget for 'high' (16384 tokens) was lowered to 3976 to fit max_tokens=5000",
    )


def test_claude_thinking_with_too_small_max_tokens_is_refused_before_sending(fake_anthropic: FakeAnthropic) -> None:
    with pytest.raises(InvalidToolArgument, match="needs max_tokens of at least 2048"):
        ask("claude-sonnet-4-5", reasoning_effort="low", max_tokens=2047)
    assert fake_anthropic.requests == []
    ask("claude-sonnet-4-5", reasoning_effort="low", max_tokens=2048)
    assert fake_anthropic.last_body["thinking"]["budget_tokens"] == 1024


def test_claude_before_3_7_answers_without_thinking_and_a_warning(fake_anthropic: FakeAnthropic) -> None:
    _, plan = ask("claude-3-5-haiku-latest", reasoning_effort="high", temperature=0.4)
    assert "thinking" not in fake_anthropic.last_body and fake_anthropic.last_body["temperature"] == 0.4
    assert "has no extended thinking" in plan.warnings[0]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 1023}}, "greater than or equal to 1024"),
        ({"thinking": {"type": "enabled", "budget_tokens": 4096}}, "`max_tokens` must be greater than `thinking.budget_tokens`"),
        ({"thinking": {"type": "enabled"}}, "budget_tokens: Field required"),
        ({"thinking": {"type": "on", "budget_tokens": 2000}}, "expected tags"),
        ({"thinking": {"type": "enabled", "budget_tokens": 2000}, "temperature": 0.5}, "`temperature` may only be set to 1"),
        ({"thinking": {"type": "enabled", "budget_tokens": 2000}, "top_k": 5}, "`top_k` must be unset"),
        ({"thinking": {"type": "enabled", "budget_tokens": 2000}, "tools": [{"name": "f", "input_schema": {"type": "object"}}],
          "tool_choice": {"type": "any"}}, "tool_choice forces tool use"),
        ({"model": "claude-3-5-sonnet-latest", "thinking": {"type": "enabled", "budget_tokens": 2000}}, "not supported by claude-3-5"),
        ({"model": "claude-opus-4-1", "max_tokens": 40000}, "maximum allowed number of output tokens"),
    ],
)
def test_the_anthropic_fake_rejects_thinking_the_real_api_rejects(extra: dict[str, Any], error: str) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 4096, "messages": [{"role": "user", "content": "x"}], **extra}
    with FakeAnthropic() as fake:
        response = post(fake, "/v1/messages", body, {"x-api-key": "test-key", "anthropic-version": "2023-06-01"})
    assert response.status_code == 400 and error in response.json()["error"]["message"]


# ------------------------------------------------------------------------------ Gemini


@pytest.mark.parametrize("effort", ["low", "medium", "high"])
def test_gemini_2_5_gets_a_thinking_budget_and_its_thoughts_are_kept_apart(fake_gemini: FakeGemini, effort: str) -> None:
    reply, plan = ask("gemini-2.5-flash", reasoning_effort=effort, max_tokens=30000)
    config = fake_gemini.last_body["generationConfig"]
    assert config == {"maxOutputTokens": 30000, "thinkingConfig": {"thinkingBudget": GEMINI_BUDGETS[effort], "includeThoughts": True}}
    assert plan.warnings == ()
    assert reply.text == "echo: hello" and reply.provider_extra["thoughts"] == THOUGHT_TEXT


@pytest.mark.parametrize(("model", "effort", "level"), [("gemini-3-flash-preview", "medium", "medium"), ("gemini-3-pro-preview", "low", "low")])
def test_gemini_3_gets_a_thinking_level(fake_gemini: FakeGemini, model: str, effort: str, level: str) -> None:
    _, plan = ask(model, reasoning_effort=effort)
    assert fake_gemini.last_body["generationConfig"] == {"thinkingConfig": {"thinkingLevel": level, "includeThoughts": True}}
    assert plan.warnings == ()


def test_gemini_3_pro_runs_medium_as_high_and_says_so(fake_gemini: FakeGemini) -> None:
    _, plan = ask("gemini-3-pro-preview", reasoning_effort="medium")
    assert fake_gemini.last_body["generationConfig"]["thinkingConfig"]["thinkingLevel"] == "high"
    assert plan.warnings == ("gemini-3-pro-preview has only low and high thinking levels: medium was sent as high",)


def test_gemini_without_thinking_answers_with_a_warning(fake_gemini: FakeGemini) -> None:
    reply, plan = ask("gemini-2.0-flash", reasoning_effort="low")
    assert "generationConfig" not in fake_gemini.last_body and reply.text == "echo: hello"
    assert "has no thinking control" in plan.warnings[0]


@pytest.mark.parametrize(
    ("model", "thinking", "error"),
    [
        ("gemini-3-pro-preview", {"thinkingLevel": "low", "thinkingBudget": 1024}, "cannot use both"),
        ("gemini-2.5-pro", {"thinkingLevel": "low"}, "Thinking level is not supported"),
        ("gemini-3-pro-preview", {"thinkingLevel": "medium"}, "not supported by gemini-3-pro-preview"),
        ("gemini-2.5-pro", {"thinkingBudget": 0}, "invalid for gemini-2.5-pro"),
        ("gemini-2.5-flash", {"thinkingBudget": 24577}, "invalid for gemini-2.5-flash"),
        ("gemini-2.5-flash-lite", {"thinkingBudget": 100}, "invalid for gemini-2.5-flash-lite"),
        ("gemini-2.0-flash", {"thinkingBudget": 1024}, "Thinking is not supported for this model"),
        ("gemini-2.5-flash", {"thinking_budget": 1024}, "Unknown name"),
        ("gemini-2.5-flash", {"includeThoughts": "yes"}, "must be a boolean"),
    ],
)
def test_the_gemini_fake_rejects_thinking_configs_the_real_api_rejects(model: str, thinking: dict[str, Any], error: str) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "x"}]}], "generationConfig": {"thinkingConfig": thinking}}
    with FakeGemini() as fake:
        response = post(fake, f"/v1beta/models/{model}:generateContent", body, {"x-goog-api-key": "test-key"})
    assert response.status_code == 400 and error in response.json()["error"]["message"]


def test_a_provider_refusal_of_a_thinking_request_is_a_provider_error(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue({"error": {"code": 400, "message": "model overloaded", "status": "INVALID_ARGUMENT"}}, status=400)
    with pytest.raises(ProviderError):
        ask("gemini-2.5-pro", reasoning_effort="high")
