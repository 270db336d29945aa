"""``chat(..., reasoning_effort=...)`` through the chat core, the real adapters and the loopback fakes:
what is sent, what is stored (reasoning text under ``extra.<provider>``, never as the reply), the
warnings, and the refusals that happen before anything is written or sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

import server
from adapters import context_windows, registry
from chat.errors import InvalidToolArgument
from store import SessionStore
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI, fake_anthropic, fake_gemini, fake_openai  # noqa: F401
from tests.fakes.anthropic_fake import THINKING_TEXT
from tests.fakes.gemini_fake import THOUGHT_TEXT
from tests.fakes.openai_fake import REASONING_TEXT
from tests.chat_helpers import chat_unified


def loopback_app(tmp_path: Path) -> server.App:
    """The chat core with the real registry (the fakes' variables are set by their fixtures)."""
    return server.App(
        store=SessionStore(tmp_path / "root"),
        legacy_root=tmp_path / "legacy",
        resolve_adapter=registry.resolve,
        context_window=context_windows.context_window,
        estimate_tokens=context_windows.estimate_tokens,
    )


def chat(app: server.App, prompt: str, model: str, **kwargs: Any) -> dict[str, Any]:
    return anyio.run(lambda: chat_unified(app, prompt, model, **kwargs))


def test_claude_thinking_is_stored_apart_from_the_reply(tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    app = loopback_app(tmp_path)
    result = chat(app, "why?", "claude-sonnet-4-5", reasoning_effort="medium")
    assert fake_anthropic.last_body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert result["reply"] == "echo: why?" and THINKING_TEXT not in result["reply"] and result["warnings"] == []
    answer = app.store.load(result["session_id"]).messages[-1]
    assert answer.content == "echo: why?" and answer.extra["anthropic"] == {"thinking": THINKING_TEXT}


def test_gemini_thoughts_and_deepseek_reasoning_are_stored_apart(
    tmp_path: Path, fake_gemini: FakeGemini, fake_openai: FakeOpenAI
) -> None:
    app = loopback_app(tmp_path)
    gemini = chat(app, "q", "gemini-2.5-pro", reasoning_effort="high")
    deepseek = chat(app, "q", "deepseek-reasoner", reasoning_effort="high")
    assert app.store.load(gemini["session_id"]).messages[-1].extra["gemini"]["thoughts"] == THOUGHT_TEXT
    assert app.store.load(deepseek["session_id"]).messages[-1].extra["deepseek"] == {"reasoning_content": REASONING_TEXT}
    assert gemini["reply"] == deepseek["reply"] == "echo: q"


def test_a_model_without_the_control_answers_with_a_warning(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    app = loopback_app(tmp_path)
    result = chat(app, "hi", "gpt-4o", reasoning_effort="low")
    assert result["reply"] == "echo: hi"
    assert result["warnings"] == [
        "reasoning_effort was not applied: gpt-4o is not an OpenAI reasoning model (o-series, gpt-5); "
        "it answered with its default behaviour"
    ]


def test_plan_warnings_follow_the_model_switch_warning(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    app = loopback_app(tmp_path)
    first = chat(app, "hi", "gpt-4o")
    result = chat(app, "again", "o3", session_id=first["session_id"], temperature=0.3, reasoning_effort="high")
    assert fake_openai.last_body["reasoning_effort"] == "high" and "temperature" not in fake_openai.last_body
    assert result["warnings"][0].startswith("model switched from gpt-4o to o3")
    assert result["warnings"][1] == "temperature was not sent: OpenAI reasoning models such as o3 reject it"


@pytest.mark.parametrize(
    ("model", "kwargs", "error"),
    [
        ("claude-sonnet-4-5", {"reasoning_effort": "high", "max_tokens": 1500}, "needs max_tokens of at least 2048"),
        ("claude-sonnet-4-5", {"reasoning_effort": "extreme"}, "use low, medium or high"),
    ],
)
def test_impossible_settings_are_refused_before_anything_is_written_or_sent(
    tmp_path: Path, fake_anthropic: FakeAnthropic, model: str, kwargs: dict[str, Any], error: str
) -> None:
    app = loopback_app(tmp_path)
    with pytest.raises(InvalidToolArgument, match=error):
        chat(app, "hi", model, session_id="kept-empty", **kwargs)
    assert fake_anthropic.requests == [] and not app.store.exists("kept-empty")
