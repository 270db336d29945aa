"""The unified chat core (``server._chat_unified``) and the tools around it, in-process.

Real session files in tmp_path; the provider is a scripted in-process adapter (wire formats
are tested against the loopback fakes elsewhere).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError

import server
from adapters.base import ChatReply, ChatRequest
from adapters.errors import MissingApiKey, ProviderError, UnknownModel
from chat.errors import InvalidToolArgument
from chat.prompt import FAILED_MARK
from store import InvalidSessionId, Message, SessionStore, ToolCall, Usage

from tests.chat_helpers import ScriptedProvider, make_app, simple_estimate
from tests.chat_helpers import chat_unified
from chat.errors import user_message
from chat.errors import ChatFailed


def chat(app: server.App, prompt: str, model: str = "gpt-test", **kwargs: Any) -> dict[str, Any]:
    return anyio.run(lambda: chat_unified(app, prompt, model, **kwargs))


def test_new_session_stores_both_messages_with_reply_metadata(tmp_path: Path) -> None:
    app, providers = make_app(tmp_path)
    providers["gpt-test"].queue(ChatReply(text="hello back", model="gpt-test", provider="openai",
                                          usage=Usage(input_tokens=5, output_tokens=2), latency_ms=12.5,
                                          finish_reason="stop", provider_extra={"system_fingerprint": "fp1"}))
    result = chat(app, "hello")
    assert result == {"session_id": result["session_id"], "model": "gpt-test", "reply": "hello back", "warnings": [],
                      "usage": {"input_tokens": 5, "output_tokens": 2, "cost_usd": None}, "created": True}
    session = app.store.load(result["session_id"])
    user, assistant = session.messages
    assert (user.role, user.content, user.model) == ("user", "hello", None)
    assert (assistant.role, assistant.content, assistant.model, assistant.provider) == ("assistant", "hello back", "gpt-test", "openai")
    assert assistant.usage == Usage(input_tokens=5, output_tokens=2) and assistant.latency_ms == 12.5
    assert assistant.extra == {"openai": {"system_fingerprint": "fp1"}, "finish_reason": "stop"}
    assert session.current_model == "gpt-test" and session.models_used == ["gpt-test"]
    assert session.model_switches == []
    assert app.extra["indexed"] == [[app.store.path_for(session.id)]]
    (request,) = providers["gpt-test"].requests
    assert request.system is None and [m.content for m in request.messages] == ["hello"]


def test_continue_sends_history_and_system_prompt_is_stored_once(tmp_path: Path) -> None:
    app, providers = make_app(tmp_path)
    first = chat(app, "q1", system="be terse", temperature=0.2, max_tokens=50)
    sid = first["session_id"]
    chat(app, "q2", session_id=sid, system="be terse")
    chat(app, "q3", session_id=sid)
    requests = providers["gpt-test"].requests
    assert requests[0].system == "be terse" and requests[0].temperature == 0.2 and requests[0].max_tokens == 50
    assert [m.content for m in requests[2].messages] == ["q1", "echo: q1", "q2", "echo: q2", "q3"]
    assert requests[2].system == "be terse"
    roles = [m.role for m in app.store.load(sid).messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    chat(app, "q4", session_id=sid, system="be verbose")
    assert providers["gpt-test"].requests[-1].system == "be verbose"
    assert [m.role for m in app.store.load(sid).messages][-3:] == ["system", "user", "assistant"]


def test_model_switch_is_recorded_with_warning(tmp_path: Path) -> None:
    app, providers = make_app(tmp_path)
    sid = chat(app, "first", model="gpt-test")["session_id"]
    result = chat(app, "second", model="claude-test", session_id=sid)
    (warning,) = result["warnings"]
    assert "from gpt-test to claude-test" in warning
    for words in ("re-tokenised", "tool-call format", "did not write the earlier answers"):
        assert words in warning
    session = app.store.load(sid)
    (switch,) = session.model_switches
    assert (switch.at_message, switch.from_model, switch.to_model, switch.warning) == (2, "gpt-test", "claude-test", warning)
    assert session.current_model == "claude-test" and session.models_used == ["gpt-test", "claude-test"]
    # The new model gets the whole conversation, including the other model's answer.
    assert [m.content for m in providers["claude-test"].requests[0].messages] == ["first", "echo: first", "second"]
    assert chat(app, "third", model="claude-test", session_id=sid)["warnings"] == []


def test_explicit_new_session_id_is_created_and_bad_ids_refused(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    assert chat(app, "hi", session_id="my-review_1")["session_id"] == "my-review_1"
    assert len(app.store.load("my-review_1").messages) == 2
    for bad in ("../etc/passwd", "a/b", "", ".."):
        with pytest.raises(InvalidSessionId):
            chat(app, "hi", session_id=bad)
    assert [p.name for p in app.store.iter_session_files()] == ["my-review_1.json"]


def test_unknown_model_and_missing_key_write_nothing(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    with pytest.raises(UnknownModel):
        chat(app, "hi", model="nope-1")
    with pytest.raises(MissingApiKey, match="GEMINI_API_KEY"):
        chat(app, "hi", model="gemini-nokey")
    for bad_model in ("", "has space", "x" * 201):
        with pytest.raises(InvalidToolArgument):
            chat(app, "hi", model=bad_model)
    with pytest.raises(InvalidToolArgument, match="max_tokens"):
        chat(app, "hi", max_tokens=-1)
    with pytest.raises(InvalidToolArgument, match="system prompt is too long"):
        chat(app, "hi", system="s" * 1_000_001)
    assert list(app.store.iter_session_files()) == []


def test_provider_failure_keeps_user_message_and_retry_does_not_resend_it(tmp_path: Path) -> None:
    app, providers = make_app(tmp_path)
    sid = chat(app, "q1")["session_id"]
    providers["claude-test"].queue(ProviderError("upstream 500", status=500, retryable=True))
    with pytest.raises(ChatFailed, match=f"saved in session '{sid}'") as caught:
        chat(app, "q2 will fail", model="claude-test", session_id=sid)
    assert isinstance(caught.value.cause, ProviderError)
    session = app.store.load(sid)
    failed = session.messages[-1]
    assert failed.content == "q2 will fail" and failed.extra[FAILED_MARK]["model"] == "claude-test"
    assert "upstream 500" in failed.extra[FAILED_MARK]["error"]
    assert session.current_model == "gpt-test" and session.model_switches == []  # no switch: nothing answered
    chat(app, "q2 again", model="claude-test", session_id=sid)
    assert [m.content for m in providers["claude-test"].requests[-1].messages] == ["q1", "echo: q1", "q2 again"]
    assert len(app.store.load(sid).messages) == 5


def test_compression_stores_summary_keeps_history_and_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app, providers = make_app(tmp_path, windows={"small-test": 400})
    monkeypatch.setenv("LLM_SUMMARY_MODEL", "gpt-test")
    providers["gpt-test"].summary_text = "SUMMARY TEXT"
    sid = None
    warnings: list[str] = []
    for i in range(7):
        result = chat(app, f"question {i} " + "x" * 120, model="small-test", session_id=sid)
        sid = result["session_id"]
        warnings.extend(result["warnings"])
    assert any("were summarised by gpt-test" in warning for warning in warnings)
    session = app.store.load(sid)  # type: ignore[arg-type]
    assert len(session.messages) == 14  # the full history stays on disk
    summary = session.summaries[-1]
    assert summary.text == "SUMMARY TEXT" and summary.model == "gpt-test" and summary.covers[0] == 0
    assert not any(r.system and r.system.startswith("You compress") for r in providers["small-test"].requests)
    last_request = providers["small-test"].requests[-1]
    assert last_request.system is not None and last_request.system.endswith("SUMMARY TEXT")
    assert last_request.messages[-1].content.startswith("question 6")  # type: ignore[union-attr]
    assert last_request.messages[0].role == "user"
    # Every stored turn after the summary is sent verbatim, nothing before it.
    assert len(last_request.messages) == 12 - summary.covers[1]


def test_prompt_over_the_window_is_refused_but_saved(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path, windows={"small-test": 50})
    with pytest.raises(ChatFailed, match="context window of 50"):
        chat(app, "y" * 400, model="small-test", session_id="big")
    (message,) = app.store.load("big").messages
    assert message.extra[FAILED_MARK]["model"] == "small-test"


def test_reply_tool_calls_are_stored_and_index_failure_does_not_fail_chat(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app, providers = make_app(tmp_path)

    def broken_index(receipt: object) -> None:
        raise RuntimeError("index is locked")

    app.index.on_written = broken_index  # type: ignore[union-attr,method-assign]
    providers["gpt-test"].queue(ChatReply(text="", model="gpt-test", provider="openai",
                                          tool_calls=[ToolCall(id="call_1", name="grep", arguments={"q": "x"})]))
    with caplog.at_level(logging.WARNING, logger="llm_mcp_server"):
        sid = chat(app, "find x")["session_id"]
    assert "indexing" in caplog.text
    assistant = app.store.load(sid).messages[-1]
    assert assistant.tool_calls == [ToolCall(id="call_1", name="grep", arguments={"q": "x"})]
    # The next turn answers the dangling call with a placeholder so every provider accepts it.
    chat(app, "go on", session_id=sid)
    sent = providers["gpt-test"].requests[-1].messages
    assert [(m.role, m.tool_call_id) for m in sent] == [("user", None), ("assistant", None), ("tool", "call_1"), ("user", None)]


def test_summariser_model_defaults_to_session_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app, providers = make_app(tmp_path, windows={"small-test": 400})
    monkeypatch.delenv("LLM_SUMMARY_MODEL", raising=False)
    sid = None
    for i in range(7):
        sid = chat(app, f"question {i} " + "x" * 120, model="small-test", session_id=sid)["session_id"]
    summary_requests = [r for r in providers["small-test"].requests if r.system and r.system.startswith("You compress")]
    assert summary_requests and app.store.load(sid).summaries[-1].model == "small-test"  # type: ignore[arg-type]


def test_unusable_summariser_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app, providers = make_app(tmp_path, windows={"small-test": 200})
    monkeypatch.setenv("LLM_SUMMARY_MODEL", "gemini-nokey")
    sid = None
    with pytest.raises(ChatFailed) as caught:
        for i in range(8):
            sid = chat(app, f"question {i} " + "x" * 120, model="small-test", session_id=sid)["session_id"]
    message = user_message(caught.value)
    assert message is not None
    assert "LLM_SUMMARY_MODEL='gemini-nokey' cannot summarise older turns" in message
    assert "GEMINI_API_KEY" in message and "unset it to use the chat model" in message
    assert "your message was saved" in message
