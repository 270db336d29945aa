"""Hardening: SIGKILL of the server mid-turn and mid-write, of the indexer mid-transaction and
of the migration mid-run. The next start recovers by itself: every session file is whole,
stale temp files are cleaned, ``reindex.py --check`` is consistent, a re-run of the migration
completes with ``--verify`` passing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from store import Message, Session, SessionStore
from store.atomic import TEMP_PREFIX
from store.codec import encode_session
from tests.fakes import FakeOpenAI
from tests.hardening_helpers import (
    LONG,
    SCRIPTS,
    kill,
    mcp_server,
    run_script,
    settle_index,
    snapshot,
    subprocess_env,
    wait_until,
    write_legacy_folder,
)


def _age_temp_files(root: Path) -> list[Path]:
    """Make every temp file look an hour old (as after a real restart much later)."""
    temps = [p for p in root.rglob(TEMP_PREFIX + "*")]
    for path in temps:
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    return temps


def _assert_every_session_whole(root: Path) -> SessionStore:
    store = SessionStore(root)
    listing = store.list()
    assert listing.quarantined == [] and listing.refused == []
    for summary in listing.sessions:
        roles = [m.role for m in store.load(summary.id).messages]
        # An exchange is stored in one atomic update: a user turn and its answer, never half.
        assert roles == ["user", "assistant"] * (len(roles) // 2), (summary.id, roles)
    return store


def test_sigkill_of_the_server_mid_turn_and_mid_write(tmp_path: Path) -> None:
    root = tmp_path / "root"
    rounds = 6 if LONG else 3
    with FakeOpenAI() as openai:
        env = subprocess_env(openai.env("OPENAI") | {"KIMI_SESSIONS_DIR": str(tmp_path / "legacy")})
        # 1. Mid-turn: the provider is slow, the kill lands while the server waits for it.
        with mcp_server(root, env, tmp_path / "server.log") as client:
            sid = client.call("chat", prompt="first turn", model="gpt-4o")["session_id"]
            before = (root / "sessions" / f"{sid}.json").read_bytes()
            openai.enqueue_reply("too late", delay=5)
            client.start("chat", timeout=20, prompt="killed while waiting", model="gpt-4o", session_id=sid)
            wait_until(lambda: len(openai.requests) >= 2, what="the slow request reached the provider")
            kill(client.pid)
        assert (root / "sessions" / f"{sid}.json").read_bytes() == before
        openai.reset()
        # 2. Mid-write: many turns in flight with big sessions, killed at a random moment.
        rng = random.Random(7)
        for round_number in range(rounds):
            with mcp_server(root, env, tmp_path / "server.log") as client:
                for i in range(8):
                    client.start("chat", timeout=20, prompt=f"round {round_number} turn {i} " + "pad " * 20_000,
                                 model="gpt-4o", session_id=f"busy-{i % 3}")
                wait_until(lambda: len(openai.requests) >= 1, what="a turn started")
                time.sleep(rng.uniform(0.0, 0.3))
                kill(client.pid)
            _assert_every_session_whole(root)
    # The next start recovers by itself: stale temp files go, the index agrees with the files.
    _age_temp_files(root)
    with FakeOpenAI() as openai:
        env = subprocess_env(openai.env("OPENAI") | {"KIMI_SESSIONS_DIR": str(tmp_path / "legacy")})
        with mcp_server(root, env, tmp_path / "server.log") as client:
            assert client.call("chat", prompt="after the crashes", model="gpt-4o", session_id=sid)["reply"] == "echo: after the crashes"
            assert client.call("search_sessions", query="crashes", session_id=sid)["hits"]
    assert list(root.rglob(TEMP_PREFIX + "*")) == []
    store = _assert_every_session_whole(root)
    assert [m.content for m in store.load(sid).messages][-2:] == ["after the crashes", "echo: after the crashes"]
    check = settle_index(root)
    assert check.returncode == 0, check.output


def _write_corpus(root: Path, count: int) -> None:
    store = SessionStore(root)
    for i in range(count):
        session = Session(id=f"bulk-{i:05d}", current_model="gpt-4o", models_used=["gpt-4o"])
        session.messages = [Message(role="user", content=f"bulk message {i} about topic{i % 50}"),
                            Message(role="assistant", content=f"answer {i}", model="gpt-4o")]
        (store.layout.sessions / f"{session.id}.json").write_bytes(encode_session(session))


def _indexed_count(root: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{root / 'index.sqlite'}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM files").fetchone()[0]
    except sqlite3.OperationalError:  # between --full dropping the tables and creating them again
        return 0
    finally:
        conn.close()


def test_sigkill_of_the_indexer_mid_transaction(tmp_path: Path) -> None:
    root = tmp_path / "root"
    count = 12_000 if LONG else 4000
    _write_corpus(root, count)
    assert run_script("reindex.py", "--root", str(root)).returncode == 0
    sessions_before = snapshot(root / "sessions")
    landed_mid_run = False
    for attempt in range(4):
        process = subprocess.Popen(
            [sys.executable, str(SCRIPTS / "reindex.py"), "--root", str(root), "--full"],
            env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        # --full empties the tables first (committed), then writes the rows again: kill in there.
        wait_until(lambda: process.poll() is not None or _indexed_count(root) < count,
                   timeout=60, interval=0.005, what="the rebuild under way")
        time.sleep(0.1 * attempt)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        if process.returncode == -signal.SIGKILL and _indexed_count(root) < count:
            landed_mid_run = True
            break
    assert landed_mid_run, "the kill never landed during the rebuild"
    # The killed transaction left a partial index; the next run repairs it by itself.
    assert run_script("reindex.py", "--root", str(root), "--check").returncode == 1
    result = run_script("reindex.py", "--root", str(root))
    assert result.returncode == 0, result.output
    check = run_script("reindex.py", "--root", str(root), "--check")
    assert check.returncode == 0, check.output
    assert _indexed_count(root) == count
    assert snapshot(root / "sessions") == sessions_before  # the indexer never writes session files


def test_sigkill_of_the_migration_mid_run_then_rerun_verifies(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    count = 3000 if LONG else 700
    ids = write_legacy_folder(legacy, count, messages=4)
    legacy_before = snapshot(legacy)
    root = tmp_path / "root"
    process = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "migrate_kimi.py"), "--from", str(legacy), "--to", str(root), "--no-progress"],
        env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    sessions = root / "sessions"
    wait_until(lambda: process.poll() is not None or (sessions.is_dir() and len(os.listdir(sessions)) >= count // 5),
               timeout=60, interval=0.005, what="the migration under way")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    migrated_before = len(list(sessions.glob("*.json")))
    assert 0 < migrated_before < count, "the kill should land mid-run"
    _age_temp_files(root)
    again = run_script("migrate_kimi.py", "--from", str(legacy), "--to", str(root), "--verify", "--json", "--no-progress")
    assert again.returncode == 0, again.output[-2000:]
    report = json.loads(again.stdout)
    assert report["ok"] and report["verified"]
    assert report["summary"]["verify_ok"] == count and report["summary"]["verify_failed"] == 0
    assert report["summary"]["migrated"] + report["summary"]["unchanged"] == count
    assert sorted(p.stem for p in sessions.glob("*.json")) == sorted(ids)
    assert list(root.rglob(TEMP_PREFIX + "*")) == []
    assert snapshot(legacy) == legacy_before  # the legacy folder is only read
    store = SessionStore(root)
    assert store.list().quarantined == []
    assert [m.content for m in store.load(ids[-1]).messages] == [f"legacy {ids[-1]} message {i}" for i in range(4)]
    check = settle_index(root)
    assert check.returncode == 0, check.output
