"""The MCP tools of ``server.py`` called in-process (the real SDK tool machinery, real files,
real SQLite index, real legacy migration; scripted providers). The stdio/HTTP transports are
covered by ``test_mcp_stdio.py``.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError

import server
from tests.mcp_helpers import call, call_error
from adapters.base import ChatReply
from adapters.errors import ProviderError
from store.legacy import LegacyFileUnreadable, LegacyKimiStore
from tests.chat_helpers import ScriptedProvider, make_indexed_app
from tests.conftest import SHARED_FIXTURES
from tests.chat_helpers import chat_unified
from chat.errors import user_message

LEGACY_FIXTURES = SHARED_FIXTURES / "legacy_kimi_sessions"


@pytest.fixture
def wired(tmp_path: Path) -> Iterator[tuple[server.App, dict[str, ScriptedProvider], Any]]:
    app, providers = make_indexed_app(tmp_path)
    yield app, providers, server.build_server(app)
    for close in app.extra["closers"]:
        close()


def test_tools_are_listed_with_descriptions(wired: Any) -> None:
    _, _, mcp = wired
    tools = {tool.name: tool for tool in anyio.run(mcp.list_tools)}
    assert set(tools) == {
        "chat", "ask_models", "kimi_chat", "list_sessions", "update_session", "delete_session", "get_session", "search_sessions",
        "model_switch_history", "list_models",
    }
    for tool in tools.values():
        assert len(tool.description or "") > 80, tool.name
    assert tools["chat"].input_schema["required"] == ["prompt", "model"]
    assert tools["ask_models"].input_schema["required"] == ["prompt", "models"]


def test_chat_then_search_reads_its_own_write_and_history(wired: Any) -> None:
    app, _, mcp = wired
    first = call(mcp, "chat", prompt="explain the flux capacitor", model="gpt-test")
    sid = first["session_id"]
    assert first["reply"] == "echo: explain the flux capacitor"
    hits = call(mcp, "search_sessions", query="capacitor")["hits"]
    assert {hit["session_id"] for hit in hits} == {sid} and {hit["role"] for hit in hits} == {"user", "assistant", None}  # None: the title, from the first prompt
    assert set(hits[0]) == {"session_id", "message_id", "model", "role", "created_at", "snippet", "score"}
    assert call(mcp, "search_sessions", query="capacitor", role="assistant")["hits"][0]["model"] == "gpt-test"
    assert call(mcp, "search_sessions", query="capacitor", since="2999-01-01")["hits"] == []
    switched = call(mcp, "chat", prompt="and now?", model="claude-test", session_id=sid)
    assert "from gpt-test to claude-test" in switched["warnings"][0]
    (record,) = call(mcp, "model_switch_history", session_id=sid)["switches"]
    assert (record["from_model"], record["to_model"], record["at_message"]) == ("gpt-test", "claude-test", 2)
    assert call(mcp, "model_switch_history", model="nobody")["switches"] == []
    listing = call(mcp, "list_sessions", model="claude-test")
    assert listing["total"] == 1 and listing["sessions"][0]["id"] == sid
    assert call(mcp, "list_sessions", limit=1, offset=1)["sessions"] == []


def test_get_session_pages_and_truncates(wired: Any) -> None:
    app, providers, mcp = wired
    sid = None
    for i in range(3):
        sid = call(mcp, "chat", prompt=f"turn {i} " + "z" * 50, model="gpt-test", session_id=sid)["session_id"]
    newest = call(mcp, "get_session", session_id=sid, limit=2)
    assert newest["total_messages"] == 6 and newest["offset"] == 4 and newest["more_before"] and not newest["more_after"]
    assert [m["index"] for m in newest["messages"]] == [4, 5]
    assert newest["session"]["id"] == sid and "messages" not in newest["session"]
    first = call(mcp, "get_session", session_id=sid, offset=0, limit=1, max_chars_per_message=10)
    assert first["messages"][0]["content"] == "turn 0 zzz [...truncated: 57 characters in total]"
    assert first["more_after"]
    assert "limit 0 is out of range" in call_error(mcp, "get_session", session_id=sid, limit=0)
    assert "offset -1" in call_error(mcp, "get_session", session_id=sid, offset=-1)
    assert "max_chars_per_message" in call_error(mcp, "get_session", session_id=sid, max_chars_per_message=0)
    assert "no session with id 'missing'" in call_error(mcp, "get_session", session_id="missing")
    assert "invalid session id '../x'" in call_error(mcp, "get_session", session_id="../x")


def test_errors_say_what_to_do_and_server_keeps_working(wired: Any) -> None:
    app, providers, mcp = wired
    assert "list_models" in call_error(mcp, "chat", prompt="hi", model="nope-9")
    assert "set the environment variable GEMINI_API_KEY" in call_error(mcp, "chat", prompt="hi", model="gemini-nokey")
    assert "invalid session id" in call_error(mcp, "chat", prompt="hi", model="gpt-test", session_id="a/b")
    assert "temperature 9" in call_error(mcp, "chat", prompt="hi", model="gpt-test", temperature=9)
    assert "prompt is empty" in call_error(mcp, "chat", prompt=" ", model="gpt-test")
    providers["gpt-test"].queue(ProviderError("rate limited", status=429, retryable=True))
    message = call_error(mcp, "chat", prompt="hi", model="gpt-test", session_id="kept")
    assert "provider error: rate limited — this may succeed if you try again later" in message
    assert "saved in session 'kept'" in message
    providers["gpt-test"].queue(ProviderError("bad request", status=400))
    assert "provider error: bad request — your message was saved" in call_error(mcp, "chat", prompt="hi", model="gpt-test", session_id="kept")
    providers["gpt-test"].queue(RuntimeError("secret internals"))
    crash = call_error(mcp, "chat", prompt="hi", model="gpt-test")
    assert "internal error while calling the model (RuntimeError)" in crash and "secret" not in crash
    assert "your message was saved" in crash
    assert "query is empty" in call_error(mcp, "search_sessions", query="  ")
    assert "role 'boss'" in call_error(mcp, "search_sessions", query="x", role="boss")
    assert "not an ISO-8601" in call_error(mcp, "search_sessions", query="x", since="yesterday")
    assert "since is later than until" in call_error(mcp, "search_sessions", query="x", since="2026-02-01", until="2026-01-01")
    assert "invalid session id" in call_error(mcp, "search_sessions", query="x", session_id="..")
    assert "invalid session id" in call_error(mcp, "model_switch_history", session_id="a\\b")
    assert "limit 501" in call_error(mcp, "list_sessions", limit=501)
    # Still usable after all that.
    assert call(mcp, "chat", prompt="still here", model="gpt-test", session_id="kept")["reply"] == "echo: still here"
    kept = app.store.load("kept")
    assert [m.content for m in kept.messages] == ["hi", "hi", "still here", "echo: still here"]


def test_list_models_and_missing_index(wired: Any, tmp_path: Path) -> None:
    app, _, mcp = wired
    models = call(mcp, "list_models")["models"]
    assert {"pattern": "gpt-test", "provider": "openai", "configured": True} in models
    app.reader = None
    app.list_models = None
    assert "index is not configured" in call_error(mcp, "search_sessions", query="x")
    assert "index is not configured" in call_error(mcp, "model_switch_history")
    assert call(mcp, "list_models") == {"models": []}


def _legacy_copy(app: server.App, name: str) -> Path:
    app.legacy_root.mkdir(parents=True, exist_ok=True)
    target = app.legacy_root / name
    shutil.copyfile(LEGACY_FIXTURES / name, target)
    return target


def test_kimi_chat_legacy_mode_writes_legacy_files(wired: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app, providers, mcp = wired
    monkeypatch.setenv("LLM_UNIFIED", "0")
    monkeypatch.delenv("KIMI_MODEL", raising=False)
    result = call(mcp, "kimi_chat", prompt="你好")
    sid = result["session_id"]
    assert result["model"] == "kimi-k2-0711-preview" and result["reply"] == "echo: 你好"
    doc = json.loads((app.legacy_root / f"{sid}.json").read_text(encoding="utf-8"))
    assert set(doc) == {"session_id", "model", "created_at", "updated_at", "messages"}
    assert doc["session_id"] == sid and doc["model"] == "kimi-k2-0711-preview"
    assert [(m["role"], m["content"]) for m in doc["messages"]] == [("user", "你好"), ("assistant", "echo: 你好")]
    assert all(set(m) == {"role", "content", "timestamp"} for m in doc["messages"])
    assert list(app.store.iter_session_files()) == []  # the unified store is not touched
    monkeypatch.setenv("KIMI_MODEL", "kimi-latest")
    call(mcp, "kimi_chat", prompt="again", session_id=sid)  # the session keeps its own kimi model
    assert [r.messages[-3].content for r in providers["kimi-k2-0711-preview"].requests[1:]] == ["你好"]
    assert json.loads((app.legacy_root / f"{sid}.json").read_text(encoding="utf-8"))["messages"][-1]["content"] == "echo: again"


def test_kimi_chat_legacy_mode_continues_old_shapes_and_keeps_keys(wired: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app, providers, mcp = wired
    monkeypatch.setenv("LLM_UNIFIED", "off")
    monkeypatch.delenv("KIMI_MODEL", raising=False)
    bare = _legacy_copy(app, "design-review_20250601_0900.json")
    call(mcp, "kimi_chat", prompt="more?", session_id="design-review_20250601_0900")
    doc = json.loads(bare.read_text(encoding="utf-8"))
    assert isinstance(doc, list) and len(doc) == 4 and doc[0] == json.loads((LEGACY_FIXTURES / bare.name).read_text())[0]
    extras = _legacy_copy(app, "extras_20250712_1200.json")
    before = json.loads(extras.read_text(encoding="utf-8"))
    call(mcp, "kimi_chat", prompt="and?", session_id="extras_20250712_1200")
    after = json.loads(extras.read_text(encoding="utf-8"))
    assert after["x_custom"] == before["x_custom"] and after["pinned"] is True and after["messages"][:2] == before["messages"]
    assert providers["kimi-latest"].requests[-1].model == "kimi-latest"
    tools = _legacy_copy(app, "tool-calls_20250705_1400.json")
    call(mcp, "kimi_chat", prompt="and in Rome?", session_id="tool-calls_20250705_1400")
    sent = providers["kimi-k2-0711-preview"].requests[-1].messages
    assert [(m.role, m.tool_call_id) for m in sent][:4] == [("user", None), ("assistant", None), ("tool", "call_1"), ("assistant", None)]
    assert sent[1].tool_calls[0].arguments == {"city": "Paris"}  # type: ignore[index]
    assert len(json.loads(tools.read_text(encoding="utf-8"))["messages"]) == 6
    truncated = _legacy_copy(app, "truncated_20250711_2359.json")
    raw = truncated.read_bytes()
    assert "is unreadable" in call_error(mcp, "kimi_chat", prompt="hi", session_id="truncated_20250711_2359")
    assert truncated.read_bytes() == raw
    providers["kimi-k2-0711-preview"].queue(ProviderError("down", status=503, retryable=True))
    assert "saved in session 'lost'" in call_error(mcp, "kimi_chat", prompt="keep me", session_id="lost")
    assert [m["content"] for m in json.loads((app.legacy_root / "lost.json").read_text())["messages"]] == ["keep me"]


def test_kimi_chat_unified_mode_migrates_a_legacy_session_on_the_fly(wired: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app, providers, mcp = wired
    monkeypatch.setenv("LLM_UNIFIED", "1")
    monkeypatch.delenv("KIMI_MODEL", raising=False)
    legacy = _legacy_copy(app, "tool-calls_20250705_1400.json")
    raw = legacy.read_bytes()
    result = call(mcp, "kimi_chat", prompt="and in Rome?", session_id="tool-calls_20250705_1400")
    assert result["session_id"] == "tool-calls_20250705_1400" and result["model"] == "kimi-k2-0711-preview"
    assert result["warnings"] == []
    assert legacy.read_bytes() == raw  # never modified
    session = app.store.load("tool-calls_20250705_1400")
    assert len(session.messages) == 6 and session.messages[-1].content == "echo: and in Rome?"
    sent = providers["kimi-k2-0711-preview"].requests[-1].messages
    assert [m.role for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    # Continuing on another provider: the same history, tool call and result included.
    switched = call(mcp, "chat", prompt="summarise", model="claude-test", session_id="tool-calls_20250705_1400")
    assert "from kimi-k2-0711-preview to claude-test" in switched["warnings"][0]
    assert [m.role for m in providers["claude-test"].requests[-1].messages] == ["user", "assistant", "tool", "assistant", "user", "assistant", "user"]
    fresh = call(mcp, "kimi_chat", prompt="new one")
    assert app.store.load(fresh["session_id"]).current_model == "kimi-k2-0711-preview"
    assert "cannot be migrated" in call_error(mcp, "kimi_chat", prompt="x", session_id=_legacy_copy(app, "empty_20250712_0000.json").stem)
    app.migrate_legacy = None
    _legacy_copy(app, "extras_20250712_1200.json")
    assert "migration is not available" in call_error(mcp, "kimi_chat", prompt="x", session_id="extras_20250712_1200")
    monkeypatch.setenv("LLM_UNIFIED", "maybe")
    assert "LLM_UNIFIED='maybe' is not a valid flag value" in call_error(mcp, "kimi_chat", prompt="x")


def test_legacy_store_reader_edge_cases(tmp_path: Path) -> None:
    store = LegacyKimiStore(tmp_path / "legacy")
    assert store.load("nothing") is None and not store.exists("nothing")
    store.root.mkdir()
    (store.root / "num.json").write_text("42")
    (store.root / "badmsgs.json").write_text('{"messages": 3}')
    (store.root / "hist.json").write_text('{"history": [{"role": "user", "content": "h"}]}')
    (store.root / "nomsgs.json").write_text('{"model": 5}')
    # The migration's rules: a file it would refuse is refused here too.
    for name, reason in (("num", "expected a JSON object or a list"), ("badmsgs", "no list of messages"), ("nomsgs", "no list of messages")):
        with pytest.raises(LegacyFileUnreadable, match=reason):
            store.load(name)
    hist = store.load("hist")
    assert hist is not None and hist.model is None
    assert [(m.role, m.content) for m in hist.to_unified_messages()] == [("user", "h")]


def test_error_translation_corner_cases(wired: Any, caplog: pytest.LogCaptureFixture) -> None:
    import dataclasses

    import filelock

    app, _, mcp = wired
    assert "session is busy" in user_message(filelock.Timeout("x.lock"))  # type: ignore[operator]
    assert server._translate(ToolError("as is"), "chat").args == ("as is",)
    assert user_message(KeyError("x")) is None

    @dataclasses.dataclass
    class Row:
        pattern: str

    app.list_models = lambda: [Row("gpt-*")]
    assert call(mcp, "list_models") == {"models": [{"pattern": "gpt-*"}]}

    def broken() -> list[Any]:
        raise KeyError("secret detail")

    app.list_models = broken
    with caplog.at_level(logging.ERROR, logger="llm_mcp_server"):
        message = call_error(mcp, "list_models")
    assert "internal error in list_models (KeyError)" in message and "secret detail" not in message
    assert "tool list_models crashed" in caplog.text


def test_concurrent_creation_and_no_indexer(tmp_path: Path) -> None:
    from store import Session, SessionExists
    from tests.chat_helpers import make_app

    app, _ = make_app(tmp_path)
    app.index = None
    real_create = app.store.create

    def racing_create(session_id: str | None = None, **kwargs: Any) -> Session:
        real_create(session_id, **kwargs)  # another caller wins the race...
        raise SessionExists(session_id or "")

    app.store.create = racing_create  # type: ignore[method-assign]
    result = anyio.run(lambda: chat_unified(app, "hi", "gpt-test", "raced"))
    assert result["session_id"] == "raced" and len(app.store.load("raced").messages) == 2


def test_chat_with_a_legacy_only_id_migrates_it_first(wired: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app, providers, mcp = wired
    monkeypatch.delenv("LLM_UNIFIED", raising=False)
    _legacy_copy(app, "中文会话_20250615_1010.json")
    result = call(mcp, "chat", prompt="继续", model="claude-test", session_id="中文会话_20250615_1010")
    session = app.store.load(result["session_id"])
    assert session.id == "中文会话_20250615_1010" and session.messages[-1].content == "echo: 继续"
    assert len(providers["claude-test"].requests[-1].messages) == len([m for m in session.messages if m.role != "system"]) - 1
    assert session.extensions.get("kimi")  # came through the migration, not a fresh session

    # The legacy file vanishing between the check and the migration starts a fresh session.
    app.migrate_legacy = lambda root, store, sid: None
    _legacy_copy(app, "extras_20250712_1200.json")
    fresh = call(mcp, "chat", prompt="hi", model="gpt-test", session_id="extras_20250712_1200")
    assert len(app.store.load(fresh["session_id"]).messages) == 2
