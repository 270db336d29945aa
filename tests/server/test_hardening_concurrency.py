"""Hardening: many processes on one ``.llm_sessions/`` at once, for a bounded run.

Two ``server.py`` processes (real stdio MCP clients, the loopback OpenAI fake), ``reindex.py
--watch``, ``migrate_kimi.py`` on a legacy folder, a script appending through ``SessionStore``
and an ad-hoc SQLite reader all work on the same root. Afterwards every message is in exactly
one file exactly once, the index converges to what a from-scratch rebuild gives
(``reindex.py --check`` exits 0), and "database is locked" appears in no output.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.fakes import FakeOpenAI
from tests.hardening_helpers import (
    LONG,
    McpClient,
    mcp_server,
    run_script,
    snapshot,
    start_script,
    stop,
    subprocess_env,
    wait_until,
    write_legacy_folder,
)

RUN_SECONDS = 30.0 if LONG else 6.0
LEGACY_COUNT = 600 if LONG else 150
LOCKED = "database is locked"


def _chat_loop(client: McpClient, name: str, stop_at: float, sent: list[str], failures: list[str]) -> None:
    """Chat until ``stop_at``: shared sessions (both servers write them), own ones, and searches."""
    turn = 0
    while time.monotonic() < stop_at:
        marker = f"{name}-turn-{turn}"
        session_id = f"shared-{turn % 2}" if turn % 3 else f"{name}-own-{turn % 4}"
        result = client.raw("chat", prompt=marker, model="gpt-4o", session_id=session_id)
        text = " ".join(getattr(block, "text", "") for block in result.content)
        if result.is_error:
            failures.append(f"{name} chat {marker}: {text}")
        else:
            sent.append(marker)
        if turn % 4 == 0:
            found = client.raw("search_sessions", query="turn", limit=5)
            if found.is_error:
                failures.append(f"{name} search: {found.content[0].text}")
        turn += 1


def _sqlite_reader(db: Path, stop_at: float, failures: list[str], reads: list[int]) -> None:
    """What a person running ``sqlite3 .llm_sessions/index.sqlite`` does meanwhile."""
    while time.monotonic() < stop_at:
        if not db.exists():
            time.sleep(0.05)
            continue
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
            try:
                reads.append(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
            finally:
                conn.close()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):  # a brand-new file being set up
                failures.append(f"sqlite reader: {exc}")
        time.sleep(0.05)


def _all_contents(root: Path) -> dict[str, list[str]]:
    """Every message text of every session file, per file."""
    result = {}
    for path in sorted((root / "sessions").glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        result[path.stem] = [m["content"] for m in document["messages"] if isinstance(m.get("content"), str)]
    return result


def _message_rows(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        messages = conn.execute("SELECT session_id, position, message_id, role, model, text FROM messages ORDER BY 1, 2").fetchall()
        sessions = conn.execute("SELECT session_id, title, message_count, switch_count, models_used FROM sessions ORDER BY 1").fetchall()
        return messages + sessions
    finally:
        conn.close()


def test_servers_watcher_migration_and_appender_at_once(tmp_path: Path) -> None:
    root = tmp_path / "root"
    legacy = tmp_path / "legacy"
    legacy_ids = write_legacy_folder(legacy, LEGACY_COUNT, messages=4)
    legacy_before = snapshot(legacy)
    logs = tmp_path / "logs"
    logs.mkdir()
    with FakeOpenAI() as openai:
        env = subprocess_env(openai.env("OPENAI") | {"KIMI_SESSIONS_DIR": str(legacy)})
        watcher = start_script("reindex.py", "--root", str(root), "--watch", "--debounce", "0.05", log_path=logs / "watch.log")
        with (
            mcp_server(root, env, logs / "server-a.log") as server_a,
            mcp_server(root, env, logs / "server-b.log") as server_b,
        ):
            assert server_a.pid != server_b.pid
            stop_at = time.monotonic() + RUN_SECONDS
            appender = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve().parents[1] / "hardening_helpers.py"), "append", str(root), "appender", str(RUN_SECONDS)],
                env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            migration = start_script(
                "migrate_kimi.py", "--from", str(legacy), "--to", str(root), "--no-progress", "--json", log_path=logs / "migrate.log"
            )
            sent: dict[str, list[str]] = {"a": [], "b": []}
            failures: list[str] = []
            reads: list[int] = []
            threads = [
                threading.Thread(target=_chat_loop, args=(server_a, "a", stop_at, sent["a"], failures)),
                threading.Thread(target=_chat_loop, args=(server_b, "b", stop_at, sent["b"], failures)),
                threading.Thread(target=_sqlite_reader, args=(root / "index.sqlite", stop_at, failures, reads)),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=RUN_SECONDS + 120)
            appended_out, appended_err = appender.communicate(timeout=120)
            assert migration.wait(timeout=120) == 0, (logs / "migrate.log").read_text()[-2000:]
            assert appender.returncode == 0, appended_err
            # The watcher alone brings the index in line with the files (bounded wait).
            check = wait_until(
                lambda: (lambda r: r if r.returncode == 0 else None)(run_script("reindex.py", "--root", str(root), "--check")),
                timeout=60, interval=0.2, what="the watcher catching up",
            )
            assert check.returncode == 0
            assert server_a.call("search_sessions", query="appender", limit=1)["hits"]
        assert stop(watcher) == 0, (logs / "watch.log").read_text()[-2000:]
    assert failures == []
    assert reads, "the ad-hoc reader never read"
    appended = appended_out.split()
    assert len(appended) > 20 and len(sent["a"]) > 3 and len(sent["b"]) > 3, (len(appended), sent)

    # Exactly once: every committed message is in one file, once; nothing else appeared.
    contents = _all_contents(root)
    where: dict[str, list[str]] = {}
    for session_id, texts in contents.items():
        for text in texts:
            where.setdefault(text, []).append(session_id)
    expected = appended + sent["a"] + sent["b"] + [f"echo: {marker}" for marker in sent["a"] + sent["b"]]
    for marker in expected:
        assert len(where.get(marker, [])) == 1, (marker, where.get(marker))
    for legacy_id in legacy_ids:
        assert contents[legacy_id] == [f"legacy {legacy_id} message {i}" for i in range(4)]
    counts = Counter(text for texts in contents.values() for text in texts)
    assert [text for text, n in counts.items() if n > 1 and not text.startswith("legacy")] == []
    assert not (root / "quarantine").exists() or list((root / "quarantine").iterdir()) == []

    # The live index equals a from-scratch rebuild of a copy of the files.
    fresh = tmp_path / "fresh"
    shutil.copytree(root / "sessions", fresh / "sessions", symlinks=True)
    assert run_script("reindex.py", "--root", str(fresh), "--full").returncode == 0
    assert _message_rows(root / "index.sqlite") == _message_rows(fresh / "index.sqlite")
    # A re-run of the migration changes nothing and verifies.
    again = run_script("migrate_kimi.py", "--from", str(legacy), "--to", str(root), "--verify", "--json", "--no-progress")
    assert again.returncode == 0 and json.loads(again.stdout)["summary"]["verify_failed"] == 0

    outputs = {path.name: path.read_text(encoding="utf-8", errors="replace") for path in logs.iterdir()}
    outputs["appender"] = appended_out + appended_err
    for name, text in outputs.items():
        assert LOCKED not in text.lower(), f"{name}: {text[-2000:]}"
        assert "Traceback" not in text, f"{name}: {text[-3000:]}"
    assert snapshot(legacy) == legacy_before  # the migration only reads the legacy folder


def test_searches_keep_answering_while_reindex_full_rebuilds(tmp_path: Path) -> None:
    """``reindex.py --full`` drops and recreates the tables; searches meanwhile must not fail
    with "no such table" (they wait for the new tables and may see a partial index)."""
    from store import Message, Session
    from store.codec import encode_session

    root = tmp_path / "root"
    (root / "sessions").mkdir(parents=True)
    for i in range(1500):
        session = Session(id=f"bulk-{i:05d}", current_model="gpt-4o", models_used=["gpt-4o"])
        session.messages = [Message(role="user", content=f"rebuildable message {i}")]
        (root / "sessions" / f"{session.id}.json").write_bytes(encode_session(session))
    assert run_script("reindex.py", "--root", str(root)).returncode == 0
    with FakeOpenAI() as openai:
        # 500 hits are over the default size limit of a result (docs/results.md); this test counts them all.
        env = subprocess_env(openai.env("OPENAI") | {"KIMI_SESSIONS_DIR": str(tmp_path / "legacy"), "LLM_MCP_MAX_RESULT_CHARS": "1000000"})
        with mcp_server(root, env, tmp_path / "server.log") as client:
            errors: list[str] = []
            searches = 0
            for _ in range(3):
                rebuild = start_script("reindex.py", "--root", str(root), "--full", log_path=tmp_path / "full.log")
                while rebuild.poll() is None:
                    result = client.raw("search_sessions", query="rebuildable", limit=3)
                    searches += 1
                    if result.is_error:
                        errors.append(result.content[0].text)
                assert rebuild.returncode == 0, (tmp_path / "full.log").read_text()
            assert errors == [] and searches > 3
            assert len(client.call("search_sessions", query="rebuildable", limit=500)["hits"]) == 500


def test_retry_rebuilding_gives_up_on_a_table_that_stays_missing() -> None:
    from index.database import is_rebuilding, retry_rebuilding

    calls = []

    def missing() -> None:
        calls.append(1)
        raise sqlite3.OperationalError("no such table: messages_fts")

    try:
        retry_rebuilding(missing, deadline_seconds=0.05)
    except sqlite3.OperationalError as exc:
        assert is_rebuilding(exc) and len(calls) > 1
    else:  # pragma: no cover - the assertion below reports it
        raise AssertionError("expected the error after the deadline")
    assert not is_rebuilding(sqlite3.OperationalError("syntax error"))
