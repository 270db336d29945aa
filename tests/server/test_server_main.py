"""``server.main`` in-process: arguments, production wiring, start-up clean-up, the background
index watcher's lifecycle, and stderr logging with secrets redacted. (The transports
themselves run in subprocesses in ``test_mcp_stdio.py``.)
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer

import server
from index import SearchIndex
from store import Message, SessionStore


@pytest.fixture(autouse=True)
def keep_signal_handlers() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)
    logging.getLogger().handlers.clear()


def test_parse_args_defaults_and_options() -> None:
    args = server.parse_args([])
    assert (args.transport, args.host, args.port, args.root) == ("stdio", "127.0.0.1", 8765, None)
    args = server.parse_args(["--transport", "http", "--port", "9000", "--root", "/x"])
    assert (args.transport, args.port, args.root) == ("http", 9000, "/x")
    with pytest.raises(SystemExit) as exit_info:
        server.parse_args(["--transport", "carrier-pigeon"])
    assert exit_info.value.code == 2


def test_default_app_uses_the_registry_and_lists_models_without_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-shown-123456")
    app = server.default_app(tmp_path / "root", tmp_path / "legacy")
    assert app.resolve_adapter("gpt-4o").provider == "openai"
    assert app.context_window("gpt-4o") > 8000
    models = server.build_server(app)
    listed = app.list_models()  # type: ignore[misc]
    assert any(info.provider == "openai" and info.key_set for info in listed.providers)
    assert any(facts.model == "gpt-4o" and facts.context_window for facts in listed.models)
    assert "sk-never-shown" not in repr(listed) and models is not None
    app.store.create("s1", model="gpt-4o")
    app.store.append_message("s1", Message(role="user", content="quokka facts"))
    app.index.index_paths([app.store.path_for("s1")])  # type: ignore[union-attr]
    assert [hit.session_id for hit in app.reader.search("quokka")] == ["s1"]  # type: ignore[misc]
    assert app.reader.model_switch_history(session_id="s1") == []  # type: ignore[misc]


def test_main_cleans_up_runs_the_watcher_and_stops_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    store = SessionStore(root)
    stale = store.layout.sessions / ".tmp-crashed.json.abc"
    stale.write_text("{")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-supersecret-9876543210")
    seen: dict[str, Any] = {}

    def fake_run(self: MCPServer, transport: str = "stdio", **kwargs: Any) -> None:
        seen["transport"], seen["kwargs"] = transport, kwargs
        # Removed in the background, after the first requests could be answered.
        deadline = time.monotonic() + 10
        while stale.exists():
            assert time.monotonic() < deadline, "the stale temp file was not removed"
            time.sleep(0.02)
        # The watcher indexes a file written by someone else while the server runs.
        other = SessionStore(root)
        other.create("written-elsewhere")
        other.append_message("written-elsewhere", Message(role="user", content="wombat census"))
        deadline = time.monotonic() + 15
        with SearchIndex(root) as index:
            while not index.search("wombat"):
                assert time.monotonic() < deadline, "the background watcher did not index the file"
                time.sleep(0.02)
        assert any(t.name == "index-watcher" for t in threading.enumerate())
        logging.getLogger("llm_mcp_server").warning("key is sk-ant-supersecret-9876543210")
        raise KeyboardInterrupt  # Ctrl-C / SIGTERM

    monkeypatch.setattr(MCPServer, "run", fake_run)
    assert server.main(["--transport", "http", "--port", "9999", "--root", str(root)]) == 0
    assert seen == {
        "transport": "streamable-http",
        "kwargs": {
            "host": "127.0.0.1",
            "port": 9999,
            "streamable_http_path": "/mcp",
            "transport_security": server.http_security("127.0.0.1"),
        },
    }
    assert seen["kwargs"]["transport_security"].enable_dns_rebinding_protection
    assert not any(t.name == "index-watcher" for t in threading.enumerate())
    out, err = capfd.readouterr()
    assert out == ""  # stdout is the MCP channel
    assert "removed 1 stale temp file" in err and "server stopped" in err
    assert "supersecret" not in err and "[REDACTED]" in err
    assert signal.getsignal(signal.SIGTERM) is server._stop_on_signal
    with pytest.raises(KeyboardInterrupt):
        server._stop_on_signal(signal.SIGTERM, None)
    monkeypatch.setattr(MCPServer, "run", lambda self, transport="stdio", **kw: seen.update(transport=transport))
    assert server.main(["--root", str(root)]) == 0 and seen["transport"] == "stdio"


def test_the_server_and_its_watcher_share_one_index_writer(tmp_path: Path) -> None:
    root = tmp_path / "root"
    app = server.default_app(root, tmp_path / "legacy")
    with server.background_indexing(root, app.index) as watcher:
        assert watcher.indexer is app.index
        app.store.create("ours", model="gpt-4o")
        app.store.append_message("ours", Message(role="user", content="numbat survey"))
        app.index.index_paths([app.store.path_for("ours")])  # type: ignore[union-attr]
        other = SessionStore(root)  # a file written by another process: the watcher indexes it
        other.create("theirs")
        other.append_message("theirs", Message(role="user", content="numbat census"))
        assert watcher.wait_until_idle(timeout=20)
        assert {hit.session_id for hit in app.reader.search("numbat")} == {"ours", "theirs"}  # type: ignore[misc]
        # One writer: one WAL checkpointer thread serves both the turns and the watcher.
        assert sum(t.name == "index-checkpoint" for t in threading.enumerate()) <= 1
    assert not app.index.is_open  # closed once, by its owner, after the watcher stopped
    assert not any(t.name in ("index-watcher", "index-checkpoint") for t in threading.enumerate())


def test_main_freezes_start_up_objects_and_raises_the_gc_thresholds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from utils.gc_tuning import OLDER_THRESHOLDS, YOUNG_THRESHOLD

    before = gc.get_threshold()
    seen: dict[str, Any] = {}

    def fake_run(self: MCPServer, transport: str = "stdio", **kwargs: Any) -> None:
        seen["frozen"], seen["threshold"] = gc.get_freeze_count(), gc.get_threshold()

    monkeypatch.setattr(MCPServer, "run", fake_run)
    try:
        assert server.main(["--root", str(tmp_path / "root")]) == 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert seen["frozen"] > 10_000  # the imported modules and schemas at least
    assert seen["threshold"] == (YOUNG_THRESHOLD, *OLDER_THRESHOLDS)


def test_main_loads_the_price_table_after_start_up_and_freezes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The genai-prices table is start-up data, loaded off the start-up path (the first requests
    need it not) and then frozen like the rest of start-up."""
    import chat.pricing
    import utils.gc_tuning

    order: list[str] = []
    loaded = threading.Event()
    monkeypatch.setattr(server, "START_DELAY_SECONDS", 0.05)
    monkeypatch.setattr(chat.pricing, "load_prices", lambda: (order.append("prices"), loaded.set()))
    monkeypatch.setattr(utils.gc_tuning, "tune_for_serving", lambda: order.append("freeze"))
    monkeypatch.setattr(gc, "freeze", lambda: order.append("freeze prices"))

    def run(self: MCPServer, transport: str = "stdio", **kwargs: Any) -> None:
        order.append("run")
        assert loaded.wait(10)
        time.sleep(0.05)

    monkeypatch.setattr(MCPServer, "run", run)
    assert server.main(["--root", str(tmp_path / "root")]) == 0
    assert order[:2] == ["freeze", "run"] and order[2:] == ["prices", "freeze prices"]
