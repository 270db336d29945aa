"""The chat turn's parts where their subject lives: ``SessionStore.record_exchange`` stores a
turn, ``adapters.redact.scrub_reply`` cleans every reply (both chat paths and the summariser),
and ``server._error_message`` maps each error once (real files, the real tool machinery).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

import server
from adapters.base import ChatReply
from store import Message, SessionBusy, SessionStore, Summary, model_switch_warning
from tests.chat_helpers import make_app, make_indexed_app
from tests.chat_helpers import chat_unified
from chat.legacy import _chat_legacy
from chat.errors import user_message
from chat.errors import ChatFailed

KEY = "sk-turn-parts-0123456789abcdef"


def test_record_exchange_appends_switches_and_summarises_in_one_write(store: SessionStore) -> None:
    session = store.create(model="gpt-4o")
    first = store.record_exchange(
        session.id, [Message(role="user", content="q"), Message(role="assistant", content="a", model="gpt-4o")], answered_by="gpt-4o"
    )
    assert first.result is None and first.path == store.path_for(session.id)
    assert first.data == store.path_for(session.id).read_bytes()  # the exact bytes written
    summary = Summary(covers=(0, 1), text="q and a", model="gpt-4o")
    second = store.record_exchange(
        session.id,
        [Message(role="user", content="q2"), Message(role="assistant", content="a2", model="claude-x")],
        answered_by="claude-x",
        summary=summary,
    )
    switch = second.result
    assert switch is not None and (switch.from_model, switch.to_model, switch.at_message) == ("gpt-4o", "claude-x", 2)
    assert switch.warning == model_switch_warning("gpt-4o", "claude-x")
    loaded = store.load(session.id)
    assert [m.content for m in loaded.messages] == ["q", "a", "q2", "a2"]
    assert loaded.current_model == "claude-x" and loaded.models_used == ["gpt-4o", "claude-x"]
    assert [s.text for s in loaded.summaries] == ["q and a"] and len(loaded.model_switches) == 1


def test_record_exchange_of_a_failed_call_keeps_the_current_model(store: SessionStore) -> None:
    session = store.create(model="gpt-4o")
    failed = store.record_exchange(session.id, [Message(role="user", content="unanswered")])
    assert failed.result is None
    loaded = store.load(session.id)
    assert loaded.current_model == "gpt-4o" and loaded.model_switches == [] and loaded.messages[0].content == "unanswered"


def _echoing(text: str) -> ChatReply:
    return ChatReply(text=text, model="m", provider="openai", provider_extra={"reasoning_content": text})


def test_the_legacy_kimi_path_scrubs_the_reply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", KEY)
    monkeypatch.setenv("LLM_UNIFIED", "0")
    app, providers = make_app(tmp_path)
    providers["kimi-k2-0711-preview"].queue(_echoing(f"your key is {KEY}"))
    result = anyio.run(lambda: _chat_legacy(app, "what is my key?", None))
    assert result["reply"] == "your key is [REDACTED]"
    stored = (tmp_path / "legacy" / f"{result['session_id']}.json").read_text(encoding="utf-8")
    assert KEY not in stored and "[REDACTED]" in stored


def test_the_summariser_reply_is_scrubbed_before_it_is_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    app, providers = make_app(tmp_path, windows={"small-test": 200})
    providers["small-test"].summary_text = f"the user pasted {KEY}"
    sid = None
    for i in range(7):
        sid = anyio.run(lambda: chat_unified(app, f"question {i} " + "x" * 120, "small-test", sid))["session_id"]
    assert sid is not None
    session = app.store.load(sid)
    assert session.summaries and all(s.text == "the user pasted [REDACTED]" for s in session.summaries)
    assert KEY not in app.store.path_for(sid).read_text(encoding="utf-8")


# ------------------------------------------------------------------------------ error mapping


def _tool_error(mcp: Any, name: str, **arguments: Any) -> str:
    with pytest.raises(ToolError) as caught:
        anyio.run(lambda: mcp.call_tool(name, arguments))
    return str(caught.value).removeprefix(f"Error executing tool {name}: ")


@pytest.fixture
def wired(tmp_path: Path) -> Any:
    app, providers = make_indexed_app(tmp_path)
    yield app, providers, server.build_server(app)
    for close in app.extra["closers"]:
        close()


def test_session_busy_keeps_its_own_message(wired: Any, caplog: pytest.LogCaptureFixture) -> None:
    app, _, mcp = wired
    sid = anyio.run(lambda: chat_unified(app, "first", "gpt-test"))["session_id"]
    busy = SessionBusy(str(app.store.path_for(sid).with_suffix(".lock")), timeout=0.5)
    assert user_message(busy) == str(busy)
    real_update = app.store.update_shared

    def held_elsewhere(session_id: str, change: Any) -> Any:  # what ``locked`` raises after its timeout
        raise SessionBusy(str(app.store._lock_path(session_id)), 30)

    app.store.update_shared = held_elsewhere  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="llm_mcp_server"):
        text = _tool_error(mcp, "chat", prompt="second", model="gpt-test", session_id=sid)
    app.store.update_shared = real_update  # type: ignore[method-assign]
    assert f"session {sid!r} is busy: another writer held its lock for more than 30 s" in text
    assert "internal error" not in text and not [r for r in caplog.records if r.levelno >= logging.ERROR]


class _Shape(BaseModel):
    number: int


def test_a_validation_error_from_a_bug_is_a_crash_logged_with_its_traceback(wired: Any, caplog: pytest.LogCaptureFixture) -> None:
    app, _, mcp = wired

    def buggy_models() -> list[Any]:
        return [_Shape(number="not a number")]  # type: ignore[arg-type]

    app.list_models = buggy_models
    with caplog.at_level(logging.INFO, logger="llm_mcp_server"):
        text = _tool_error(mcp, "list_models")
    assert text == "internal error in list_models (ValidationError); the server log has the details"
    (record,) = [r for r in caplog.records if r.getMessage() == "tool list_models crashed"]
    assert record.levelno == logging.ERROR and record.exc_info is not None and record.exc_info[0].__name__ == "ValidationError"
    assert user_message(ValueError("a plain ValueError is a bug too")) is None


def test_a_crashing_provider_is_logged_as_an_error(wired: Any, caplog: pytest.LogCaptureFixture) -> None:
    app, providers, mcp = wired
    providers["gpt-test"].queue(ValueError("adapter bug"))
    with caplog.at_level(logging.INFO, logger="llm_mcp_server"):
        text = _tool_error(mcp, "chat", prompt="hello", model="gpt-test", session_id="crash")
    assert text.startswith("internal error while calling the model (ValueError)") and "saved in session 'crash'" in text
    crashes = [r for r in caplog.records if r.getMessage() == "chat call crashed"]
    assert crashes and crashes[0].levelno == logging.ERROR and crashes[0].exc_info is not None


def test_search_refusals_are_argument_errors(wired: Any) -> None:
    _, _, mcp = wired
    text = _tool_error(mcp, "search_sessions", query="anything", since="2025-03-01", until="2025-01-01")
    assert text == "since is later than until: nothing can match"
    assert "has no letters or digits" in _tool_error(mcp, "search_sessions", query="!!!")
    assert "limit 0 is out of range" in _tool_error(mcp, "list_sessions", limit=0)


def test_the_failed_turn_is_stored_through_record_exchange(tmp_path: Path) -> None:
    app, providers = make_app(tmp_path)
    providers["gpt-test"].queue(ValueError("boom"))
    with pytest.raises(ChatFailed):
        anyio.run(lambda: chat_unified(app, "kept", "gpt-test", "kept-session"))
    doc = json.loads(app.store.path_for("kept-session").read_text(encoding="utf-8"))
    (user,) = doc["messages"]
    assert user["content"] == "kept" and user["extra"]["delivery_failed"]["error"] == "ValueError"
