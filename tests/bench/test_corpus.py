"""The corpus generator is deterministic and writes valid session files.

These are ordinary (fast) tests: they run with ``make test`` and are skipped by
``--benchmark-only``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scripts.bench.corpus import MODELS, generate_session, session_id_for, write_corpus
from scripts.bench.make_corpus import main
from store import SessionStore, message_text

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "bench" / "make_corpus.py"


def _files(root: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((root / "sessions").iterdir())}


def test_same_seed_gives_byte_identical_files_whatever_the_jobs(tmp_path: Path) -> None:
    write_corpus(tmp_path / "a", 60, 12, seed=7, jobs=1)
    write_corpus(tmp_path / "b", 60, 12, seed=7, jobs=2)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(first) == 60
    assert first == second


def test_other_seed_gives_other_content(tmp_path: Path) -> None:
    write_corpus(tmp_path / "a", 5, 6, seed=1)
    write_corpus(tmp_path / "b", 5, 6, seed=2)
    assert set(_files(tmp_path / "a")).isdisjoint(_files(tmp_path / "b"))


def test_files_are_valid_sessions_with_the_promised_mix(tmp_path: Path) -> None:
    stats = write_corpus(tmp_path, 300, 10, seed=3)
    assert stats.sessions == 300 and stats.messages == 3000
    listing = SessionStore(tmp_path).list()
    assert not listing.quarantined and not listing.refused
    assert len(listing.sessions) == 300
    assert all(item.message_count == 10 for item in listing.sessions)
    sessions = [generate_session(3, index, 10) for index in range(300)]
    texts = [message_text(message) for session in sessions for message in session.messages]
    assert any(any("\u4e00" <= char <= "\u9fff" for char in text) for text in texts), "some Chinese"
    assert any("`" in text for text in texts), "code identifiers"
    assert len({model for session in sessions for model in session.models_used}) >= 5
    switched = [session for session in sessions if session.model_switches]
    assert 20 <= len(switched) <= 120
    for session in switched:
        switch = session.model_switches[0]
        assert switch.from_model != switch.to_model
        assert session.current_model == switch.to_model
        assert session.messages[switch.at_message].model == switch.to_model
    roles = [message.role for session in sessions for message in session.messages]
    assert roles.count("tool") > 0
    tool_messages = [m for s in sessions for m in s.messages if m.role == "tool"]
    calls = {c.id for s in sessions for m in s.messages for c in (m.tool_calls or [])}
    assert all(message.tool_call_id in calls for message in tool_messages)
    known = {model for model, _ in MODELS}
    assert all(m.model in known for s in sessions for m in s.messages if m.role == "assistant")


def test_ids_are_unique_and_times_increase() -> None:
    ids = [session_id_for(5, index) for index in range(2000)]
    assert len(set(ids)) == len(ids)
    times = [generate_session(5, index, 3).created_at for index in range(50)]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_script_runs_as_a_subprocess_and_prints_json(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--sessions", "25", "--messages", "4", "--seed", "9", "--root", str(root), "--json", "--views"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    summary = json.loads(done.stdout)
    assert summary["sessions"] == 25 and summary["messages"] == 100
    assert summary["bytes"] == sum(len(data) for data in _files(root).values())
    assert "25/25 sessions" in done.stderr
    assert any((root / "by-model").iterdir()) and any((root / "by-date").iterdir())


def test_main_in_process_and_usage_errors(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LLM_SESSIONS_DIR", str(tmp_path / "env-root"))
    assert main(["--sessions", "3", "--messages", "2", "--quiet", "--jobs", "1"]) == 0
    assert "wrote 3 sessions / 6 messages" in capsys.readouterr().out
    assert len(list((tmp_path / "env-root" / "sessions").iterdir())) == 3
    done = subprocess.run([sys.executable, str(SCRIPT), "--sessions", "-1", "--messages", "2"], capture_output=True, text=True)
    assert done.returncode == 2 and "expected a number >= 0" in done.stderr
