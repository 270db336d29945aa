"""scripts/sessions.py: search | show | list | switches, human and --json output, errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from store import SessionStore
from tests.hardening_helpers import run_script
from tests.index.test_index_search import build_corpus

from tests.cli_helpers import run_sessions as call


@pytest.fixture
def root(store: SessionStore) -> Path:
    build_corpus(store)
    return store.root


def test_search_subprocess_human_and_json(root: Path) -> None:
    human = run_script("sessions.py", "search", "全文索引", "--root", str(root))
    assert human.returncode == 0, human.stderr
    assert "中文会话/msg_" in human.stdout and "[全文索引]" in human.stdout and "1 hit(s)" in human.stdout
    machine = run_script("sessions.py", "search", "parse_session_id", "--root", str(root), "--json")
    hits = json.loads(machine.stdout)["hits"]
    assert hits[0]["session_id"] == "code-ids"
    assert set(hits[0]) == {"session_id", "message_id", "model", "role", "created_at", "snippet", "score"}


def test_search_filters_and_title_hits(root: Path) -> None:
    code, out, _ = call("search", "session", "--root", str(root), "--role", "user", "--model", "x-none")
    assert code == 0 and "0 hit(s)" in out
    code, out, _ = call("search", "identifiers", "--root", str(root))
    assert "code-ids (title)" in out
    code, out, _ = call(
        "search", "session", "--root", str(root), "--session", "eng-review", "--since", "2026-01-10T09:00",
        "--until", "2026-01-10T10:00+00:00", "--limit", "1", "--offset", "0", "--json",
    )
    hits = json.loads(out)["hits"]
    assert len(hits) == 1 and hits[0]["session_id"] == "eng-review"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "*"], "no letters or digits"),
        (["search", ""], "empty"),
        (["search", "x", "--limit", "0"], "limit"),
        (["search", "x", "--since", "2026-02-01", "--until", "2026-01-01"], "since"),
        (["show", "../etc"], "invalid session id"),
    ],
)
def test_usage_errors_exit_2(root: Path, args: list[str], message: str) -> None:
    code, _, err = call(*args, "--root", str(root))
    assert code == 2
    assert message in err


def test_bad_date_and_missing_command_are_argparse_errors(root: Path) -> None:
    assert run_script("sessions.py", "search", "x", "--since", "yesterday", "--root", str(root)).returncode == 2
    assert run_script("sessions.py").returncode == 2


def test_show(root: Path) -> None:
    code, out, _ = call("show", "eng-review", "--root", str(root))
    assert code == 0
    assert out.startswith("eng-review  API review")
    assert "--- switched kimi-k2 -> claude-sonnet-4-5" in out
    assert "assistant (kimi-k2): Use a file lock per session" in out
    code, out, _ = call("show", "code-ids", "--root", str(root))
    assert 'tool call read_file {"path": "store/ids.py"}' in out
    code, out, _ = call("show", "中文会话", "--root", str(root), "--json")
    assert json.loads(out)["title"] == "中文会话"


def test_show_missing_and_corrupt(root: Path) -> None:
    code, _, err = call("show", "nope", "--root", str(root))
    assert code == 1 and "no session with id 'nope'" in err
    (root / "sessions" / "broken.json").write_text("{", encoding="utf-8")
    code, _, err = call("show", "broken", "--root", str(root))
    assert code == 1 and "quarantine" in err


def test_list(root: Path) -> None:
    code, out, _ = call("list", "--root", str(root))
    assert code == 0 and "4 session(s)" in out and "Finding identifiers" in out
    code, out, _ = call("list", "--root", str(root), "--model", "kimi-k2", "--json")
    listing = json.loads(out)
    assert [item["id"] for item in listing["sessions"]] == ["eng-review"]
    code, out, _ = call("list", "--root", str(root), "--limit", "1", "--offset", "1", "--query", "ident")
    assert code == 0 and "1 session(s)" in out and "Finding identifiers" not in out  # one match, skipped
    (root / "sessions" / "junk.json").write_text("nope", encoding="utf-8")
    code, out, _ = call("list", "--root", str(root), "--tag", "none")
    # The listing reads the index only: the new file is neither read nor quarantined here.
    assert "0 session(s)" in out and (root / "sessions" / "junk.json").exists()
    code, out, err = call("list", "--root", str(root), "--query", "  ")
    assert code == 2 and "no words" in err


def test_status_is_read_only_and_counts_what_is_not_indexed(root: Path, tmp_path: Path) -> None:
    code, out, _ = call("status", "--root", str(root), "--json")
    assert code == 0 and json.loads(out)["index_exists"] is False  # status builds nothing
    call("list", "--root", str(root))  # builds the index
    code, out, _ = call("status", "--root", str(root), "--json")
    status = json.loads(out)
    assert code == 0 and status["sessions_on_disk"] == status["indexed"] == 4 and status["pending"] == 0
    assert status["schema_current"] and status["index_bytes"] > 0 and status["last_error"] is None
    (root / "sessions" / "copied-in.json").write_bytes((root / "sessions" / "eng-review.json").read_bytes())
    code, out, _ = call("status", "--root", str(root))
    assert code == 0 and "pending:           1" in out and "quarantined files: 0" in out
    missing = tmp_path / "no-store"
    code, _, err = call("status", "--root", str(missing))
    assert code == 2 and "no session store" in err and not missing.exists()


def test_switches(root: Path) -> None:
    result = run_script("sessions.py", "switches", "--root", str(root))
    assert result.returncode == 0
    assert "eng-review  before message [2]: kimi-k2 -> claude-sonnet-4-5" in result.stdout
    code, out, _ = call("switches", "--root", str(root), "--model", "gpt-4o", "--json")
    assert json.loads(out) == {"switches": []}
    code, out, _ = call("switches", "--root", str(root), "--session", "eng-review", "--json")
    assert json.loads(out)["switches"][0]["to_model"] == "claude-sonnet-4-5"


def test_help() -> None:
    result = run_script("sessions.py", "--help")
    assert result.returncode == 0
    for word in ("search", "show", "list", "switches", "LLM_SESSIONS_DIR"):
        assert word in result.stdout
    assert "--since" in run_script("sessions.py", "search", "--help").stdout
