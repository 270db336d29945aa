"""Sessions shared through git, with real ``git`` in temporary folders.

The root's ``.gitignore`` (only canonical data is staged), ``sessions.py git-setup``, and the
whole story: two clones continue the same session through ``server.py`` (the SDK's stdio
client, the loopback OpenAI fake), commit, pull — no conflict, every message once, the watcher
and ``reindex.py --check`` agree, search finds the other machine's turn.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from store import Message, SessionStore
from store.gitignore import BEGIN, END, IGNORED, ensure_gitignore
from store.git_setup import ATTRIBUTE_LINE, driver_command
from tests.fakes import FakeAnthropic, FakeOpenAI, echo_text
from tests.hardening_helpers import SCRIPTS, mcp_server, run_script, subprocess_env, wait_until

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git_env(tmp: Path) -> dict[str, str]:
    """No user or system git config: the tests see only what they set up."""
    env = subprocess_env(
        {
            "GIT_CONFIG_GLOBAL": str(tmp / "no-global-gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
        }
    )
    env["HOME"] = str(tmp)
    return env


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], env=git_env(repo.parent), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"git {args}: {done.stdout}{done.stderr}"
    return done.stdout


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    return path


# ------------------------------------------------------------------------------ .gitignore


def test_the_store_writes_a_gitignore_so_git_add_stages_only_canonical_data(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "project")
    store = SessionStore(repo / ".llm_sessions")
    store.create("s1", model="gpt-4o")
    store.append_message("s1", Message(role="user", content="hello"))
    run_script("reindex.py", "--root", str(store.root))  # the index, its lock, the views exist now
    assert store.layout.index.exists() and any(store.layout.by_model.iterdir())
    (store.layout.sessions / ".tmp-s1.json.crashed").write_text("{")
    (store.root / "blobs").mkdir()
    (store.root / "blobs" / ("ab" * 32)).write_bytes(b"attached file")
    store.delete(store.create("gone").id)  # trash/
    git(repo, "add", ".llm_sessions")
    staged = sorted(git(repo, "diff", "--cached", "--name-only").split())
    assert staged == [
        ".llm_sessions/.gitignore",
        f".llm_sessions/blobs/{'ab' * 32}",
        ".llm_sessions/sessions/s1.json",
    ]


def test_a_gitignore_the_user_owns_is_never_touched(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    own = "# mine\n*\n"
    (root / ".gitignore").write_text(own)
    SessionStore(root)
    assert (root / ".gitignore").read_text() == own
    assert ensure_gitignore(root) is False


def test_the_managed_block_is_refreshed_and_lines_around_it_are_kept(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / ".gitignore").write_text(f"notes.txt\n{BEGIN}\n/index.sqlite\n{END}\nscratch/\n")
    SessionStore(root)
    text = (root / ".gitignore").read_text()
    assert text.startswith("notes.txt\n") and text.endswith("scratch/\n")
    assert all(pattern in text.splitlines() for pattern in IGNORED)
    assert ensure_gitignore(root) is False  # already current: not rewritten


def test_a_full_disk_does_not_stop_the_store_from_opening(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import store.gitignore as gitignore

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gitignore, "atomic_write_bytes", disk_full)
    root = tmp_path / "root"
    SessionStore(root)
    assert not (root / ".gitignore").exists()
    assert gitignore.has_managed_block(root) is False


def test_git_setup_without_git_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from store.git_setup import GitSetupError, git_setup

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(GitSetupError, match="git is not installed"):
        git_setup(tmp_path, ["python", "sessions.py"])


def test_an_unreadable_or_unwritable_gitignore_does_not_stop_the_store(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / ".gitignore").write_bytes(b"\xff\xfe not utf-8")
    SessionStore(root).create("still-works")
    assert (root / ".gitignore").read_bytes() == b"\xff\xfe not utf-8"
    other = tmp_path / "read-only"
    SessionStore(other)
    (other / ".gitignore").unlink()
    other.chmod(0o555)
    try:
        if os.access(other, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        assert ensure_gitignore(other) is False
    finally:
        other.chmod(0o755)


# ------------------------------------------------------------------------------ git-setup


def test_git_setup_writes_attributes_registers_the_driver_and_is_idempotent(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "project")
    root = repo / ".llm_sessions"
    env = git_env(tmp_path)
    first = run_script("sessions.py", "--root", str(root), "git-setup", env=env)
    assert first.returncode == 0, first.output
    assert (root / ".gitattributes").read_text() == ATTRIBUTE_LINE + "\n"
    assert "wrote 'sessions/*.json merge=llm-session'" in first.stdout
    driver = git(repo, "config", "--local", "--get", "merge.llm-session.driver").strip()
    assert driver.endswith("merge-driver %O %A %B") and str(SCRIPTS / "sessions.py") in driver
    assert git(repo, "check-attr", "merge", ".llm_sessions/sessions/x.json").strip().endswith("merge: llm-session")
    second = run_script("sessions.py", "--root", str(root), "git-setup", env=env)
    assert second.returncode == 0
    assert "already says" in second.stdout and second.stdout.count("already set") == 2
    assert "keeps the index, locks and views out of git" in second.stdout
    assert (root / ".gitattributes").read_text() == ATTRIBUTE_LINE + "\n"


def test_git_setup_keeps_existing_attributes_and_replaces_an_old_driver(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "project")
    root = repo / "sessions-root"
    root.mkdir()
    (root / ".gitattributes").write_text("*.md text")
    git(repo, "config", "merge.llm-session.driver", "old-python old.py merge-driver %O %A %B")
    result = run_script("sessions.py", "git-setup", "--root", str(root), "--repo", str(repo), env=git_env(tmp_path))
    assert result.returncode == 0, result.output
    assert (root / ".gitattributes").read_text() == f"*.md text\n{ATTRIBUTE_LINE}\n"
    assert "(was old-python old.py merge-driver %O %A %B)" in result.stdout

    (root / ".gitignore").write_text("*\n")  # the user's own
    again = run_script("sessions.py", "git-setup", "--root", str(root), "--json", env=git_env(tmp_path))
    assert again.returncode == 0
    report = json.loads(again.stdout)
    assert report["repository"] == str(repo.resolve()) and len(report["actions"]) == 3
    human = run_script("sessions.py", "git-setup", "--root", str(root), env=git_env(tmp_path))
    assert "your own file (no llm-mcp-server block)" in human.stdout
    assert (root / ".gitignore").read_text() == "*\n"


def test_git_setup_outside_a_repository_or_with_another_repo_is_a_clear_error(tmp_path: Path) -> None:
    lonely = tmp_path / "no-repo" / ".llm_sessions"
    result = run_script("sessions.py", "--root", str(lonely), "git-setup", env=git_env(tmp_path))
    assert result.returncode == 2 and "not inside a git repository" in result.stderr and "git init" in result.stderr
    other = new_repo(tmp_path / "other")
    result = run_script("sessions.py", "--root", str(lonely), "git-setup", "--repo", str(other), env=git_env(tmp_path))
    assert result.returncode == 2 and "is not inside the repository" in result.stderr


def test_driver_command_quotes_paths_with_spaces() -> None:
    assert driver_command(["/opt/my python/bin/python", "/x/sessions.py"]) == (
        "'/opt/my python/bin/python' /x/sessions.py merge-driver %O %A %B"
    )


# ------------------------------------------------------------------------------ two machines


def _clone(origin: Path, name: str, tmp: Path) -> tuple[Path, Path]:
    work = tmp / name
    git(tmp, "clone", "-q", str(origin), str(work))
    git(work, "config", "pull.rebase", "false")
    root = work / ".llm_sessions"
    setup = run_script("sessions.py", "--root", str(root), "git-setup", env=git_env(tmp))
    assert setup.returncode == 0, setup.output
    return work, root


def _messages(root: Path, session_id: str) -> list[dict[str, object]]:
    document = json.loads((root / "sessions" / f"{session_id}.json").read_text(encoding="utf-8"))
    return list(document["messages"])


def test_two_clones_continue_one_session_and_pull_without_conflict(tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    seed = new_repo(tmp_path / "seed")
    (seed / "README").write_text("project\n")
    git(seed, "add", "README")
    git(seed, "commit", "-q", "-m", "start")
    git(seed, "push", "-q", str(origin), "main")

    alice, alice_root = _clone(origin, "alice", tmp_path)
    with FakeOpenAI() as openai, FakeAnthropic() as anthropic:
        env = {**git_env(tmp_path), **openai.env("OPENAI"), **anthropic.env("ANTHROPIC"), "LLM_LOG_LEVEL": "INFO"}

        # Alice starts the session and shares it.
        with mcp_server(alice_root, env, tmp_path / "alice.log") as client:
            session_id = client.call("chat", prompt="shared question about the parser", model="gpt-4o")["session_id"]
        git(alice, "add", ".llm_sessions")
        assert sorted(git(alice, "diff", "--cached", "--name-only").split()) == [
            ".llm_sessions/.gitattributes", ".llm_sessions/.gitignore", f".llm_sessions/sessions/{session_id}.json",
        ]
        git(alice, "commit", "-q", "-m", "session")
        git(alice, "push", "-q", "origin", "main")

        # Bob clones the project, sessions included, and continues the session; pushes.
        bob, bob_root = _clone(origin, "bob", tmp_path)
        assert "already says" in run_script("sessions.py", "--root", str(bob_root), "git-setup", env=git_env(tmp_path)).stdout
        with mcp_server(bob_root, env, tmp_path / "bob.log") as client:
            bob_turn = client.call(
                "chat", prompt="bob asks about the wombat tokenizer", model="claude-sonnet-4-5", session_id=session_id
            )
            assert bob_turn["warnings"]  # a model switch, recorded on Bob's side
        git(bob, "add", ".llm_sessions")
        git(bob, "commit", "-q", "-m", "bob's turn")
        git(bob, "push", "-q", "origin", "main")

        # Meanwhile Alice continues the same session; her server keeps running through the pull.
        with mcp_server(alice_root, env, tmp_path / "alice.log") as client:
            client.call("chat", prompt="alice asks about the platypus lexer", model="gpt-4o", session_id=session_id)
            git(alice, "add", ".llm_sessions")
            git(alice, "commit", "-q", "-m", "alice's turn")
            pulled = subprocess.run(
                ["git", "-C", str(alice), "pull", "--no-edit", "origin", "main"],
                env=git_env(tmp_path), capture_output=True, text=True, timeout=120,
            )
            assert pulled.returncode == 0, pulled.stdout + pulled.stderr
            assert "CONFLICT" not in pulled.stdout + pulled.stderr
            assert "llm-session merge of" in pulled.stdout + pulled.stderr
            # The running server's watcher indexes what git wrote: Bob's turn is found.
            hits = wait_until(
                lambda: client.call("search_sessions", query="wombat")["hits"], timeout=60, what="bob's turn indexed"
            )
            assert {hit["session_id"] for hit in hits} == {session_id}
            assert client.call("search_sessions", query="platypus")["hits"]

        contents = [message["content"] for message in _messages(alice_root, session_id)]
        assert contents == [
            "shared question about the parser", "echo: shared question about the parser",
            "bob asks about the wombat tokenizer", echo_text("bob asks about the wombat tokenizer"),
            "alice asks about the platypus lexer", "echo: alice asks about the platypus lexer",
        ]
        ids = [message["id"] for message in _messages(alice_root, session_id)]
        assert len(ids) == len(set(ids))
        assert git(alice, "status", "--porcelain") == ""
        check = run_script("reindex.py", "--root", str(alice_root), "--check", env=git_env(tmp_path))
        assert check.returncode == 0, check.output
        merged = json.loads((alice_root / "sessions" / f"{session_id}.json").read_text(encoding="utf-8"))
        assert merged["current_model"] == "gpt-4o"  # Alice's turn is the last
        assert [(s["from_model"], s["to_model"], s["at_message"]) for s in merged["model_switches"]] == [
            ("gpt-4o", "claude-sonnet-4-5", 2)
        ]
        # Views are local: Bob's model has no view link on Alice's machine until they are rebuilt.
        link = alice_root / "by-model" / "claude-sonnet-4-5" / f"{session_id}.json"
        assert not os.path.lexists(link)
        views = run_script("reindex.py", "--root", str(alice_root), "--views", env=git_env(tmp_path))
        assert views.returncode == 0 and "views rebuilt for 1 session(s)" in views.stdout
        assert link.resolve() == (alice_root / "sessions" / f"{session_id}.json").resolve()
        assert git(alice, "status", "--porcelain") == ""

        # Bob gets the merge as a fast-forward; his index (no server running) catches up with reindex.py.
        git(alice, "push", "-q", "origin", "main")
        git(bob, "pull", "-q", "origin", "main")
        assert (bob_root / "sessions" / f"{session_id}.json").read_bytes() == (
            alice_root / "sessions" / f"{session_id}.json"
        ).read_bytes()
        assert run_script("reindex.py", "--root", str(bob_root), env=git_env(tmp_path)).returncode == 0
        assert run_script("reindex.py", "--root", str(bob_root), "--check", env=git_env(tmp_path)).returncode == 0
        search = run_script("sessions.py", "--root", str(bob_root), "search", "platypus", "--json", env=git_env(tmp_path))
        assert [hit["session_id"] for hit in json.loads(search.stdout)["hits"]][:1] == [session_id]


def test_reindex_views_is_refused_with_check_or_watch_and_keeps_json_clean(tmp_path: Path) -> None:
    root = tmp_path / "root"
    SessionStore(root).create("s1", model="gpt-4o")
    for mode in ("--check", "--watch"):
        refused = run_script("reindex.py", "--root", str(root), "--views", mode)
        assert refused.returncode == 2 and "--views" in refused.stderr
    shutil.rmtree(root / "by-model")
    done = run_script("reindex.py", "--root", str(root), "--views", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["indexed"] == 1
    assert "views rebuilt for 1 session(s)" in done.stderr
    assert (root / "by-model" / "gpt-4o" / "s1.json").is_symlink()
