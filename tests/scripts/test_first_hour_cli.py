"""A first hour without a dead end (issue 28), the command lines as a user runs them: child
processes of ``scripts/sessions.py`` and ``scripts/reindex.py`` on real folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from store import Message, SessionStore
from tests.conftest import REPO_ROOT
from tests.hardening_helpers import run_script, subprocess_env

READ_ONLY = [
    ["sessions.py", "list"],
    ["sessions.py", "search", "anything"],
    ["sessions.py", "show", "abc"],
    ["sessions.py", "export", "abc"],
    ["sessions.py", "switches"],
    ["sessions.py", "stats"],
    ["reindex.py", "--check"],
    ["reindex.py"],
]


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_read_only_commands_never_create_a_store(tmp_path: Path, command: list[str]) -> None:
    result = run_script(command[0], *command[1:], cwd=tmp_path)
    assert result.returncode == 2, result.output
    assert f"no session store at {tmp_path / '.llm_sessions'}" in result.stderr
    assert "--root" in result.stderr and "LLM_SESSIONS_DIR" in result.stderr and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing created


@pytest.mark.parametrize("command", READ_ONLY[:3], ids=" ".join)
def test_the_message_says_where_the_root_came_from(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "elsewhere").mkdir()  # a folder, but not a store
    result = run_script(command[0], *command[1:], cwd=tmp_path, env=subprocess_env({"LLM_SESSIONS_DIR": str(tmp_path / "elsewhere")}))
    assert result.returncode == 2 and "from $LLM_SESSIONS_DIR" in result.stderr and "no sessions/" in result.stderr
    assert list((tmp_path / "elsewhere").iterdir()) == []
    result = run_script(command[0], *command[1:], "--root", str(tmp_path / "nope"), cwd=tmp_path)
    assert result.returncode == 2 and "from --root" in result.stderr and not (tmp_path / "nope").exists()


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    store = SessionStore(tmp_path / "root")
    for number in range(3):
        store.create(f"s{number}", model="gpt-4o")
        store.append_message(f"s{number}", Message(role="user", content=f"the walrus number {number}"))
    return store


@pytest.mark.parametrize("query", ["AND OR (", '"unbalanced', "walrus OR (number", "NOT walrus"])
def test_broken_search_syntax_is_exit_2_with_the_literal_query(store: SessionStore, query: str) -> None:
    result = run_script("sessions.py", "search", query, "--root", str(store.root))
    assert result.returncode == 2, result.output
    literal = '"' + query.replace('"', '""') + '"'
    assert "is not valid search syntax" in result.stderr and result.stderr.rstrip().endswith(literal)
    assert "0 hit(s)" not in result.stdout
    searched = run_script("sessions.py", "search", literal, "--root", str(store.root))
    assert searched.returncode == 0, searched.output


def test_plain_text_with_punctuation_still_searches(store: SessionStore) -> None:
    result = run_script("sessions.py", "search", "walrus-number", "--root", str(store.root))
    assert result.returncode == 0 and "3 hit(s)" in result.stdout, result.output


@pytest.mark.parametrize("command", [["list"], ["show", "s0"], ["export", "s0"], ["search", "walrus"]], ids=" ".join)
def test_a_closed_pipe_is_a_quiet_exit(store: SessionStore, command: list[str]) -> None:
    child = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "scripts" / "sessions.py"), *command, "--root", str(store.root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=subprocess_env(),
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader is gone before anything is written, as after `| head -1`
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141
    assert stderr == ""


def test_list_piped_into_head_prints_no_error(store: SessionStore) -> None:
    script = REPO_ROOT / "scripts" / "sessions.py"
    result = subprocess.run(
        f"'{sys.executable}' '{script}' list --root '{store.root}' | head -1", shell=True,
        capture_output=True, text=True, timeout=60, env=subprocess_env(),
    )
    assert result.stdout.count("\n") == 1 and result.stderr == ""


def test_a_quarantined_session_is_explained_by_the_cli(store: SessionStore) -> None:
    (store.root / "sessions" / "broken.json").write_text("[1, 2", encoding="utf-8")
    listed = run_script("sessions.py", "list", "--root", str(store.root))
    moved = store.root / "quarantine" / "broken.json"
    assert listed.returncode == 0 and moved.exists()
    assert "WARNING" in listed.stderr or str(moved) in listed.stderr, listed.output  # the move is logged
    shown = run_script("sessions.py", "show", "broken", "--root", str(store.root))
    assert shown.returncode == 1 and "is in quarantine" in shown.stderr and str(moved) in shown.stderr
    assert f"move it back to {store.root / 'sessions' / 'broken.json'}" in shown.stderr


def test_a_clean_install_prints_no_warnings() -> None:
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    # A TOML-table license is deprecated (setuptools warns twice per install); the SPDX string
    # needs setuptools 77.
    assert isinstance(project["project"]["license"], str)
    assert project["build-system"]["requires"] == ["setuptools>=77"]
    for program in ("server.py", "scripts/sessions.py", "scripts/reindex.py", "scripts/migrate_kimi.py"):
        result = subprocess.run([sys.executable, "-W", "error", str(REPO_ROOT / program), "--help"],
                                capture_output=True, text=True, timeout=60, env=subprocess_env())
        assert result.returncode == 0 and result.stderr == "", (program, result.stderr)


def test_unusable_output_places_are_one_line_errors(store: SessionStore, tmp_path: Path) -> None:
    exported = run_script("sessions.py", "export", "s0", "--output", str(tmp_path / "no" / "such" / "s0.md"), "--root", str(store.root))
    assert exported.returncode == 2 and f"the folder {tmp_path / 'no' / 'such'} does not exist" in exported.stderr
    assert ".tmp" not in exported.stderr and "Traceback" not in exported.output
    (tmp_path / "legacy").mkdir()
    (tmp_path / "a-file").write_text("x")
    migrated = run_script("migrate_kimi.py", "--from", str(tmp_path / "legacy"), "--to", str(tmp_path / "a-file" / "root"))
    assert migrated.returncode == 2 and "cannot use" in migrated.stderr and "--to DIR" in migrated.stderr
    assert "Traceback" not in migrated.output


@pytest.mark.parametrize("script", [["reindex.py", "--json"], ["reindex.py", "--check"]], ids=" ".join)
def test_a_closed_pipe_is_quiet_for_reindex_too(store: SessionStore, script: list[str]) -> None:
    child = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "scripts" / script[0]), *script[1:], "--root", str(store.root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=subprocess_env(),
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141 and stderr == ""


def test_the_progress_bar_is_drawn_on_a_terminal_and_only_there(tmp_path: Path) -> None:
    import os
    import pty

    from tests.hardening_helpers import write_legacy_folder

    write_legacy_folder(tmp_path / "legacy", 60)
    command = [sys.executable, str(REPO_ROOT / "scripts" / "migrate_kimi.py"), "--from", str(tmp_path / "legacy")]
    leader, follower = pty.openpty()
    child = subprocess.Popen([*command, "--to", str(tmp_path / "tty")], stdout=subprocess.DEVNULL, stderr=follower,
                             stdin=subprocess.DEVNULL, env=subprocess_env())
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert child.wait(timeout=120) == 0
    assert b"\rmigrating [" in drawn and b"60/60 files" in drawn
    piped = run_script("migrate_kimi.py", "--from", str(tmp_path / "legacy"), "--to", str(tmp_path / "piped"))
    assert piped.returncode == 0 and piped.stderr == ""
