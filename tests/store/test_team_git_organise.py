"""A title or tag change on one machine and new messages on another merge through git."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from store import Message, SessionStore
from tests.hardening_helpers import run_script
from tests.store.test_team_git import _clone, git, git_env, new_repo

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def test_a_retitle_and_tag_change_merge_with_new_messages(tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    seed = new_repo(tmp_path / "seed")
    (seed / "README").write_text("project\n")
    git(seed, "add", "README")
    git(seed, "commit", "-q", "-m", "start")
    git(seed, "push", "-q", str(origin), "main")

    alice, alice_root = _clone(origin, "alice", tmp_path)
    store = SessionStore(alice_root)
    store.create("design", model="gpt-4o", tags=["draft", "api"])
    store.append_message("design", Message(role="user", content="first question"))
    git(alice, "add", ".llm_sessions")
    git(alice, "commit", "-q", "-m", "session")
    git(alice, "push", "-q", "origin", "main")

    bob, bob_root = _clone(origin, "bob", tmp_path)
    SessionStore(bob_root).append_messages(
        "design", [Message(role="user", content="bob's question"), Message(role="assistant", content="bob's answer", model="gpt-4o")]
    )
    git(bob, "add", ".llm_sessions")
    git(bob, "commit", "-q", "-m", "bob's turn")
    git(bob, "push", "-q", "origin", "main")

    # Alice organises the session with the CLI meanwhile, then pulls Bob's turn.
    env = git_env(tmp_path)
    assert run_script("sessions.py", "--root", str(alice_root), "title", "design", "API design review", env=env).returncode == 0
    assert run_script("sessions.py", "--root", str(alice_root), "tag", "design", "-draft", "+final", env=env).returncode == 0
    git(alice, "add", ".llm_sessions")
    git(alice, "commit", "-q", "-m", "organise")
    pulled = subprocess.run(
        ["git", "-C", str(alice), "pull", "--no-edit", "origin", "main"], env=env, capture_output=True, text=True, timeout=120
    )
    assert pulled.returncode == 0 and "CONFLICT" not in pulled.stdout + pulled.stderr, pulled.stdout + pulled.stderr
    assert "llm-session merge of design" in pulled.stdout + pulled.stderr
    merged = json.loads((alice_root / "sessions" / "design.json").read_text(encoding="utf-8"))
    assert merged["title"] == "API design review"
    assert merged["tags"] == ["api", "final"]  # the tag Alice removed stays removed
    assert [m["content"] for m in merged["messages"]] == ["first question", "bob's question", "bob's answer"]
    assert git(alice, "status", "--porcelain") == ""  # by-casefold/ and trash/ stay out of git

    # Bob gets the merge; a session Alice trashes leaves his clone as a removed file.
    git(alice, "push", "-q", "origin", "main")
    git(bob, "pull", "-q", "origin", "main")
    assert json.loads((bob_root / "sessions" / "design.json").read_text(encoding="utf-8"))["title"] == "API design review"
    assert run_script("sessions.py", "--root", str(alice_root), "rm", "design", env=env).returncode == 0
    assert git(alice, "status", "--porcelain").split() == ["D", ".llm_sessions/sessions/design.json"]
