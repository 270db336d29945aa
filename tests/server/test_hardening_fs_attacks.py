"""Hardening: symlinks pointing outside the session root, and hostile session ids.

A session file, a view link or a view folder replaced by a symlink to somewhere outside the
root is never followed, for reads or writes: the target outside is never read into a session,
modified, or deleted. Ids with traversal, control characters or reserved names are refused at
every entry point (MCP tools, the CLIs, the legacy migration).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from index import Indexer
from store import Message, SessionStore, validate_session_id
from tests.fakes import FakeOpenAI
from tests.hardening_helpers import SCRIPTS, McpClient, mcp_server, run_script, snapshot, subprocess_env

HOSTILE_IDS = [
    "../../etc/passwd",
    "..",
    ".",
    "a/b",
    "a\\b",
    "/abs",
    "ok\x00nul",
    "bell\x07",
    "line\nbreak",
    "tab\there",
    "esc\x1b[31m",
    "con",
    "NUL.json",
    "lpt1",
    ".hidden",
    "x" * 201,
    "",
    " ",
    "semi;colon",
    "\u202eright-to-left",
]


def _outside_document(session_id: str) -> bytes:
    doc = {
        "schema_version": 1, "id": session_id, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "messages": [{"id": "m1", "role": "user", "content": "OUTSIDE-SECRET-CONTENT", "created_at": "2026-01-01T00:00:00Z"}],
    }
    return json.dumps(doc).encode()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("fs")
    root = tmp / "root"
    SessionStore(root)
    with FakeOpenAI() as openai:
        env = subprocess_env(openai.env("OPENAI") | openai.env("MOONSHOT") | {"KIMI_SESSIONS_DIR": str(tmp / "legacy")})
        with mcp_server(root, env, tmp / "server.log") as client:
            yield {"client": client, "root": root, "tmp": tmp}


def test_a_session_file_symlinked_outside_is_never_followed(served: dict[str, Any]) -> None:
    client: McpClient = served["client"]
    root: Path = served["root"]
    outside = served["tmp"] / "outside"
    outside.mkdir()
    target = outside / "victim.json"
    target.write_bytes(_outside_document("victim"))
    os.symlink(target, root / "sessions" / "victim.json")
    before = snapshot(outside)
    # Reading refuses: the server's reader or its index watcher quarantines the link, not the target.
    error = client.error("get_session", session_id="victim")
    assert ("symlink" in error or "no session with id" in error) and "OUTSIDE-SECRET-CONTENT" not in error
    # Writing: a fresh session is started under the id, the outside file is not written.
    os.symlink(target, root / "sessions" / "victim2.json")
    result = client.raw("chat", prompt="write through the link?", model="gpt-4o", session_id="victim2")
    assert "OUTSIDE-SECRET-CONTENT" not in str(result.content)
    hits = client.call("search_sessions", query="OUTSIDE-SECRET-CONTENT")["hits"]
    assert hits == []
    assert snapshot(outside) == before
    assert not (root / "sessions" / "victim.json").is_symlink()
    quarantined = [p for p in (root / "quarantine").iterdir() if p.name.startswith("victim.json") and not p.name.endswith(".txt")]
    assert quarantined and all(p.is_symlink() for p in quarantined)  # the link moved, as a link
    assert client.call("chat", prompt="still fine", model="gpt-4o")["reply"] == "echo: still fine"


def test_the_indexer_and_reindex_cli_do_not_follow_a_session_symlink(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = SessionStore(root)
    store.create("real", model="gpt-4o")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.json").write_bytes(_outside_document("evil"))
    os.symlink(outside / "evil.json", root / "sessions" / "evil.json")
    before = snapshot(outside)
    result = run_script("reindex.py", "--root", str(root))
    assert "evil.json" in result.stderr and "symlink" in result.stderr
    with Indexer(root) as indexer:
        texts = [row[0] for row in indexer.connection.execute("SELECT text FROM messages")]
    assert "OUTSIDE-SECRET-CONTENT" not in texts
    assert snapshot(outside) == before


@pytest.mark.parametrize("kind", ["by-model link", "by-model folder", "by-date folder", "by-model base", "by-date link"])
def test_a_view_replaced_by_a_symlink_outside_is_not_followed(tmp_path: Path, kind: str) -> None:
    root = tmp_path / "root"
    store = SessionStore(root)
    session = store.create("s1", model="gpt-4o")
    day = f"{session.created_at:%Y-%m-%d}"
    outside = tmp_path / "outside"
    outside.mkdir()
    # What an attacker wants changed: a file and a folder named like the views.
    (outside / "s1.json").write_text("precious file", encoding="utf-8")
    (outside / "keep").mkdir()
    (outside / "keep" / "s1.json").write_text("precious too", encoding="utf-8")
    (outside / "gpt-4o").mkdir()
    (outside / "gpt-4o" / "s1.json").write_text("precious model view", encoding="utf-8")
    (outside / "claude-x").mkdir()
    (outside / "claude-x" / "s1.json").mkdir()  # a folder where a link would go: rmtree bait
    (outside / "claude-x" / "s1.json" / "data").write_text("precious folder", encoding="utf-8")
    before = snapshot(outside)
    if kind == "by-model link":
        link = root / "by-model" / "gpt-4o" / "s1.json"
        link.unlink()
        os.symlink(outside / "s1.json", link)
    elif kind == "by-model folder":
        folder = root / "by-model" / "gpt-4o"
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
        os.symlink(outside / "gpt-4o", folder)
        os.symlink(outside / "claude-x", root / "by-model" / "claude-x")
    elif kind == "by-date folder":
        folder = root / "by-date" / day
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
        os.symlink(outside / "keep", folder)
    elif kind == "by-model base":
        base = root / "by-model"
        for child in base.rglob("*.json"):
            child.unlink()
        for child in sorted(base.iterdir()):
            child.rmdir()
        base.rmdir()
        os.symlink(outside, base)
    else:
        link = root / "by-date" / day / "s1.json"
        link.unlink()
        os.symlink(outside / "keep", link)
    # Writes that refresh the views: appends, a model switch (new and removed links), delete.
    store.append_message("s1", Message(role="user", content="hello", model="claude-x"))
    store.record_model_switch("s1", "claude-x")
    store.append_message("s1", Message(role="assistant", content="hi", model="claude-x"))
    assert json.loads(store.path_for("s1").read_text(encoding="utf-8"))["id"] == "s1"
    store.rebuild_views()
    store.delete("s1")
    assert snapshot(outside) == before, kind
    assert not any(p.is_symlink() and not str(os.readlink(p)).startswith("..") for p in (root / "by-model").rglob("*"))


def test_hostile_ids_are_refused_by_every_mcp_tool(served: dict[str, Any]) -> None:
    client: McpClient = served["client"]
    root: Path = served["root"]
    before = sorted(p.name for p in root.rglob("*"))
    calls = [
        ("chat", {"prompt": "hi", "model": "gpt-4o"}),
        ("kimi_chat", {"prompt": "hi"}),
        ("get_session", {}),
        ("search_sessions", {"query": "hi"}),
        ("model_switch_history", {}),
    ]
    for bad in HOSTILE_IDS:
        for name, arguments in calls:
            text = client.error(name, session_id=bad, **arguments)
            assert "invalid session id" in text.lower(), (name, bad, text)
            assert "internal error" not in text
    assert sorted(p.name for p in root.rglob("*")) == before  # nothing was created anywhere
    assert client.call("chat", prompt="after the attack", model="gpt-4o")["reply"] == "echo: after the attack"


def _load_script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"hardening_{name[:-3]}", SCRIPTS / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hostile_ids_are_refused_by_the_clis(tmp_path: Path) -> None:
    root = tmp_path / "root"
    SessionStore(root).create("fine", model="gpt-4o")
    sessions_cli = _load_script("sessions.py")
    for bad in HOSTILE_IDS:
        for args in (["show", bad], ["search", "hello", "--session", bad], ["switches", "--session", bad]):
            out, err = io.StringIO(), io.StringIO()
            assert sessions_cli.main([*args, "--root", str(root)], out, err) == 2, (args, out.getvalue())
            assert "invalid session id" in err.getvalue().lower(), (args, err.getvalue())
    # The same through a real process (argv cannot carry NUL, so those are left out).
    for bad in ("../../etc/passwd", "con", "bell\x07"):
        for args in (["show", bad], ["search", "hello", "--session", bad]):
            result = run_script("sessions.py", *args, "--root", str(root))
            assert result.returncode == 2, (args, result.output)
            assert "invalid session id" in result.stderr.lower() and "Traceback" not in result.output, (args, result.output)
    help_text = run_script("reindex.py", "--help").stdout
    assert "ID" not in help_text.split("options:")[1]  # reindex.py takes no session ids


def test_migration_of_legacy_files_with_hostile_names(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    names = ["con", "bell\x07", "line\nbreak", "tab\there", "semi;colon", "\u202eevil", "x" * 240, "nul", "-rf", "a..b"]
    for name in names:
        doc = {"session_id": name, "model": "kimi-k2", "messages": [{"role": "user", "content": f"from {name!r}"}]}
        (legacy / f"{name}.json").write_text(json.dumps(doc), encoding="utf-8")
    legacy_before = snapshot(legacy)
    root = tmp_path / "root"
    result = run_script("migrate_kimi.py", "--from", str(legacy), "--to", str(root), "--verify", "--json", "--no-progress")
    assert result.returncode == 0, result.output
    report = json.loads(result.stdout)
    stored = sorted(p.stem for p in (root / "sessions").glob("*.json"))
    assert len(stored) == len(names)
    for session_id in stored:
        assert validate_session_id(session_id) == session_id
    assert all(p.resolve().is_relative_to(root.resolve()) for p in root.rglob("*") if not p.is_symlink())
    assert snapshot(legacy) == legacy_before  # legacy files are never changed
    assert report["ok"] and report["summary"]["verify_failed"] == 0
    assert report["summary"]["renamed"] >= 5  # con, nul, and the ones with control characters
    again = run_script("migrate_kimi.py", "--from", str(legacy), "--to", str(root), "--verify", "--json", "--no-progress")
    assert again.returncode == 0 and sorted(p.stem for p in (root / "sessions").glob("*.json")) == stored
