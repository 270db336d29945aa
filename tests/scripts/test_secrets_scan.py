"""``sessions.py scan [--fix]``: secrets already in a store (written before redaction, imported)
are reported without their values and redacted in place, attached files included."""

from __future__ import annotations

import json
from pathlib import Path

from store import SessionStore
from store.blobs import FILE_PART, BlobStore, sha256_hex
from store.schema import Message
from tests.hardening_helpers import run_script, subprocess_env
from tests.secret_corpus import SHAPES, all_values, database_url, settings_py
from tests.server.test_secrets_mcp import _leaks, _root_leaks


def _old_store(root: Path) -> tuple[SessionStore, str]:
    """Sessions as an older server (or an import) wrote them: secrets in text, title and a blob."""
    store = SessionStore(root)
    blob = BlobStore(root).put(settings_py().encode())
    part = {"type": FILE_PART, "path": "/p/src/settings.py", "sha256": blob, "size": len(settings_py()), "lines": 13}
    leaky = store.create("leaky", model="gpt-4o")
    store.append_messages(leaky.id, [
        Message(role="system", content=f"Stripe key '{SHAPES['stripe-key']}'"),
        Message(role="user", content=[{"type": "text", "text": f"token {SHAPES['github-token']}"}, part]),
        Message(role="assistant", content=f"the db is {database_url()}", model="gpt-4o"),
    ])
    store.set_title(leaky.id, f"about {SHAPES['anthropic-key']}")
    again = store.create("same-file", model="gpt-4o")
    store.append_messages(again.id, [Message(role="user", content=[{"type": "text", "text": "look"}, part])])
    clean = store.create("clean", model="gpt-4o")
    store.append_messages(clean.id, [Message(role="user", content="nothing to see: max_tokens = 4096")])
    return store, blob


def test_scan_reports_then_fix_redacts_in_place(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store, blob = _old_store(root)
    clean_before = store.path_for("clean").read_bytes()
    (root / "sessions" / "broken.json").write_text('{"id": "broken", "messages": [')
    env = subprocess_env()
    report = run_script("sessions.py", "--root", str(root), "scan", env=env)
    assert report.returncode == 1, report.stderr
    assert _leaks(report.stdout + report.stderr, "the report") == []
    lines = report.stdout.splitlines()
    assert "leaky: messages[0].content line 1: stripe-key" in lines
    assert "leaky: messages[1].content[0].text line 1: github-token" in lines
    assert "leaky: messages[2].content line 1: url-password" in lines
    assert "leaky: title line 1: anthropic-key" in lines
    assert f"same-file: attached file /p/src/settings.py (blob {blob[:12]}) line 2: aws-access-key" in lines
    assert any(line.startswith("unreadable: broken.json: ") for line in lines)
    assert lines[-1].startswith("scanned 3 session(s): ") and "in 2 session(s); run `sessions.py scan --fix`" in lines[-1]
    assert _root_leaks(root) != []  # nothing changed by a scan
    as_json = json.loads(run_script("sessions.py", "--root", str(root), "scan", "--json", env=env).stdout)
    assert as_json["sessions_with_secrets"] == ["leaky", "same-file"] and as_json["fix"] is False

    fixed = run_script("sessions.py", "--root", str(root), "scan", "--fix", "--json", env=env)
    assert fixed.returncode == 0, fixed.stderr
    result = json.loads(fixed.stdout)
    assert result["fixed_sessions"] == ["leaky", "same-file"]
    assert result["redacted_blobs"] == 1 and result["deleted_blobs"] == 1
    assert _root_leaks(root) == []
    assert store.path_for("clean").read_bytes() == clean_before  # a clean session is not rewritten
    assert (root / "sessions" / "broken.json").exists()  # reported, never quarantined by a scan
    leaky = store.load("leaky")
    assert leaky.title == "about [REDACTED anthropic-key]"
    assert leaky.messages[0].content == "Stripe key '[REDACTED stripe-key]'"
    part = leaky.messages[1].content[1]
    assert part["redacted"] is True and part["sha256"] != blob
    assert part["sha256"] == store.load("same-file").messages[0].content[1]["sha256"]
    text = BlobStore(root).read(part["sha256"]).decode()
    assert sha256_hex(text.encode()) == part["sha256"] and "[REDACTED aws-access-key]" in text
    again = run_script("sessions.py", "--root", str(root), "scan", env=env)
    assert again.returncode == 0 and again.stdout.splitlines()[-1] == "scanned 3 session(s): 0 secret(s) in 0 session(s)"
    assert all(value not in again.stdout for value in all_values())


def test_git_setup_says_to_scan_before_the_first_commit(tmp_path: Path) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=60)
    done = run_script("sessions.py", "--root", str(tmp_path / ".llm_sessions"), "git-setup", env=subprocess_env())
    assert done.returncode == 0, done.stderr
    assert "run `sessions.py scan`" in done.stdout and "`sessions.py scan --fix` redacts them" in done.stdout
    as_json = json.loads(run_script("sessions.py", "--root", str(tmp_path / ".llm_sessions"), "git-setup", "--json", env=subprocess_env()).stdout)
    assert any("sessions.py scan" in line for line in as_json["advice"])
