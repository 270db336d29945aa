"""scripts/reindex.py as a user runs it (subprocess) and in-process for the corner cases."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index import IndexWatcher, SearchIndex
from store import Message, SessionStore
from tests.conftest import REPO_ROOT
from tests.hardening_helpers import run_script
from tests.index.test_index_search import build_corpus

SCRIPT = REPO_ROOT / "scripts" / "reindex.py"
QUERIES = ["session", "parse_session_id", "全文索引", "索引", "read_file", 'file-unbalanced']

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import reindex  # noqa: E402


def results(root: Path) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    with SearchIndex(root) as index:
        return {query: [hit.model_dump() for hit in index.search(query)] for query in QUERIES}


def test_incremental_then_noop(store: SessionStore) -> None:
    build_corpus(store)
    first = run_script("reindex.py", "--root", str(store.root))
    assert first.returncode == 0, first.stderr
    assert "4 files seen, 4 indexed, 0 skipped, 0 removed, 0 quarantined" in first.stdout
    second = run_script("reindex.py", "--root", str(store.root), "--json")
    report = json.loads(second.stdout)
    assert (report["files_seen"], report["indexed"], report["skipped"]) == (4, 0, 4)


def test_deleting_the_index_and_reindexing_gives_identical_results(store: SessionStore) -> None:
    build_corpus(store)
    assert run_script("reindex.py", "--root", str(store.root)).returncode == 0
    before = results(store.root)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{store.layout.index}{suffix}"):
            os.unlink(f"{store.layout.index}{suffix}")
    assert run_script("reindex.py", "--root", str(store.root)).returncode == 0
    assert results(store.root) == before
    full = run_script("reindex.py", "--root", str(store.root), "--full")
    assert full.returncode == 0 and "4 indexed" in full.stdout
    assert results(store.root) == before


def test_check_detects_a_row_deleted_by_hand(store: SessionStore) -> None:
    build_corpus(store)
    run_script("reindex.py", "--root", str(store.root))
    clean = run_script("reindex.py", "--root", str(store.root), "--check")
    assert clean.returncode == 0 and "0 difference(s)" in clean.stdout
    conn = sqlite3.connect(store.layout.index)
    conn.execute("DELETE FROM messages WHERE session_id = 'code-ids' AND position = 0")
    conn.commit()
    conn.close()
    found = run_script("reindex.py", "--root", str(store.root), "--check")
    assert found.returncode == 1
    assert "rows: sessions/code-ids.json (session code-ids): messages: 2 rows in the index, 3 in the file" in found.stdout
    as_json = json.loads(run_script("reindex.py", "--root", str(store.root), "--check", "--json").stdout)
    assert [d["kind"] for d in as_json["differences"]] == ["rows"]
    assert run_script("reindex.py", "--root", str(store.root), "--full").returncode == 0
    assert run_script("reindex.py", "--root", str(store.root), "--check").returncode == 0


def test_check_detects_a_file_edited_while_the_watcher_was_stopped(store: SessionStore) -> None:
    build_corpus(store)
    with IndexWatcher(store.root, debounce_seconds=0.05) as watcher:
        assert watcher.wait_until_idle(20)
    path = store.path_for("eng-review")
    document = json.loads(path.read_text(encoding="utf-8"))
    document["messages"][0]["content"] = "edited while nobody watched"
    path.write_text(json.dumps(document), encoding="utf-8")
    found = run_script("reindex.py", "--root", str(store.root), "--check")
    assert found.returncode == 1
    assert "stale: sessions/eng-review.json" in found.stdout
    assert run_script("reindex.py", "--root", str(store.root)).returncode == 0
    assert run_script("reindex.py", "--root", str(store.root), "--check").returncode == 0
    with SearchIndex(store.root) as index:
        assert index.search("nobody watched")[0].session_id == "eng-review"


def test_root_from_environment_and_quarantine_report(tmp_path: Path) -> None:
    root = tmp_path / "from-env"
    store = SessionStore(root)
    store.create("good", title="fine")
    (store.layout.sessions / "bad.json").write_text("not json at all", encoding="utf-8")
    future = {"schema_version": 5, "id": "future"}
    (store.layout.sessions / "future.json").write_text(json.dumps(future), encoding="utf-8")
    env = {**os.environ, "LLM_SESSIONS_DIR": str(root)}
    result = run_script("reindex.py", env=env, cwd=tmp_path)
    assert result.returncode == 0
    assert "3 files seen, 1 indexed, 1 skipped, 0 removed, 1 quarantined" in result.stdout
    assert "quarantined" in result.stderr and "bad.json" in result.stderr
    assert "skipped:" in result.stderr and "schema_version 5" in result.stderr
    assert (root / "quarantine" / "bad.json").exists()


def test_full_rebuild_with_worker_processes_quarantines_and_reports(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import index.sync

    build_corpus(store)
    (store.layout.sessions / "bad.json").write_text("not json at all", encoding="utf-8")
    monkeypatch.setattr(index.sync, "SYNC_CHUNK", 1)  # several chunks: the workers get some
    out, err = io.StringIO(), io.StringIO()
    assert reindex.main(["--root", str(store.root), "--full", "--jobs", "2"], out=out, err=err) == 0
    assert "5 files seen, 4 indexed, 0 skipped, 0 removed, 1 quarantined" in out.getvalue()
    assert "quarantined" in err.getvalue() and "bad.json" in err.getvalue() and "invalid JSON" in err.getvalue()
    assert (store.root / "quarantine" / "bad.json").exists()
    with SearchIndex(store.root) as index:
        assert index.search("parse_session_id")[0].session_id == "code-ids"


def test_default_root_is_dot_llm_sessions(tmp_path: Path) -> None:
    SessionStore(tmp_path / ".llm_sessions").create("here")
    env = {key: value for key, value in os.environ.items() if key != "LLM_SESSIONS_DIR"}
    result = run_script("reindex.py", env=env, cwd=tmp_path)
    assert "1 indexed" in result.stdout
    assert (tmp_path / ".llm_sessions" / "index.sqlite").exists()


@pytest.mark.parametrize(
    "args",
    [["--full", "--check"], ["--check", "--watch"], ["--debounce", "-1"], ["--bogus"], ["--jobs", "2"], ["--full", "--jobs", "0"]],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = run_script("reindex.py", "--root", str(tmp_path), *args)
    assert result.returncode == 2
    assert "error" in result.stderr


def test_root_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    err = io.StringIO()
    assert reindex.main(["--root", str(target)], out=io.StringIO(), err=err) == 2
    assert "not a directory" in err.getvalue()


def test_help_explains() -> None:
    result = run_script("reindex.py", "--help")
    assert result.returncode == 0
    for word in ("--full", "--check", "--watch", "--json", "incremental", "quarantine", "LLM_SESSIONS_DIR"):
        assert word in result.stdout


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_when_work_is_slow_on_a_terminal_only(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    build_corpus(store)
    monkeypatch.setattr(reindex, "PROGRESS_AFTER_SECONDS", 0.0)
    err = Terminal()
    assert reindex.main(["--root", str(store.root), "--full"], out=io.StringIO(), err=err) == 0
    assert "\rrebuilding [" in err.getvalue() and "4/4 files" in err.getvalue()
    assert err.getvalue().endswith("\n")
    # stderr that is a file or a pipe gets no bar
    log = io.StringIO()
    assert reindex.main(["--root", str(store.root), "--full"], out=io.StringIO(), err=log) == 0
    assert log.getvalue() == ""
    # fast work shows no bar at all
    monkeypatch.setattr(reindex, "PROGRESS_AFTER_SECONDS", 3600.0)
    err = Terminal()
    assert reindex.main(["--root", str(store.root)], out=io.StringIO(), err=err) == 0
    assert err.getvalue() == ""


def test_errors_make_exit_code_1(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    (store.layout.sessions / "broken.json").write_text("[", encoding="utf-8")

    def refuse(self: SessionStore, path: Path, reason: str) -> None:
        raise PermissionError("read-only")

    monkeypatch.setattr(SessionStore, "quarantine", refuse)  # the rule the indexer hands the file to
    out, err = io.StringIO(), io.StringIO()
    assert reindex.main(["--root", str(store.root)], out=out, err=err) == 1
    assert "error:" in err.getvalue() and "could not be quarantined" in err.getvalue()


def _wait_for_line(stream: io.TextIOBase, needle: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        line = stream.readline()
        seen += line
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} not seen; got {seen!r}")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_watch_indexes_changes_and_stops_cleanly(store: SessionStore, stop_signal: int) -> None:
    store.create("first", title="before watching")
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--root", str(store.root), "--watch", "--debounce", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
    )
    try:
        _wait_for_line(process.stderr, "watching")
        store.append_message("first", Message(role="user", content="narwhal sighting"))
        deadline = time.monotonic() + 20
        found = []
        while time.monotonic() < deadline and not found:
            with SearchIndex(store.root) as index:
                found = index.search("narwhal")
            time.sleep(0.05)
        assert found and found[0].session_id == "first"
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stopped watching;" in out
    assert "Traceback" not in err


def test_watch_in_process_json_summary(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.create("one")
    sleeps = {"n": 0}
    real_sleep = time.sleep

    def sleep_then_interrupt(seconds: float) -> None:
        sleeps["n"] += 1
        if sleeps["n"] > 3:
            raise KeyboardInterrupt
        real_sleep(seconds)

    monkeypatch.setattr(reindex.time, "sleep", sleep_then_interrupt)
    out, err = io.StringIO(), io.StringIO()
    assert reindex.main(["--root", str(store.root), "--watch", "--json"], out=out, err=err) == 0
    summary = json.loads(out.getvalue())
    assert summary["indexed"] == 1
    assert "watching" in err.getvalue()


def test_watch_reports_a_watcher_error(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_sync(self: object, full: bool = False, progress: object = None, workers: object = None) -> None:
        raise RuntimeError("disk on fire")

    from index.indexer import Indexer

    monkeypatch.setattr(Indexer, "sync", failing_sync)
    monkeypatch.setattr(reindex.time, "sleep", lambda seconds: (_ for _ in ()).throw(KeyboardInterrupt))
    out, err = io.StringIO(), io.StringIO()
    assert reindex.main(["--root", str(store.root), "--watch"], out=out, err=err) == 1
    assert "disk on fire" in err.getvalue()


def test_ctrl_c_during_a_sync_exits_130(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from index.indexer import Indexer

    def interrupted(self: Indexer, full: bool = False, progress: object = None, workers: object = None) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Indexer, "sync", interrupted)
    err = io.StringIO()
    assert reindex.main(["--root", str(store.root)], out=io.StringIO(), err=err) == 130
    assert "run again" in err.getvalue()
