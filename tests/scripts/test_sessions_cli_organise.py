"""``sessions.py title | tag | rm | restore | trash`` run as a user runs them (a child process)."""

from __future__ import annotations

import json
from pathlib import Path

from store import Message, SessionStore
from tests.hardening_helpers import ScriptResult, run_script


def cli(root: Path, *args: str) -> ScriptResult:
    return run_script("sessions.py", "--root", str(root), *args)


def test_title_and_tag_human_and_json(store: SessionStore) -> None:
    store.create("day1", model="gpt-4o", tags=["old"])
    root = store.root
    done = cli(root, "title", "day1", "Planning the week")
    assert done.returncode == 0 and done.stdout == "day1: title 'Planning the week'\n", done.output
    done = cli(root, "tag", "day1", "+work", "-old", "urgent")
    assert done.returncode == 0 and done.stdout == "day1: tags work, urgent\n", done.output
    summary = json.loads(cli(root, "tag", "day1", "-urgent", "--json").stdout)
    assert summary["id"] == "day1" and summary["tags"] == ["work"] and summary["title"] == "Planning the week"
    assert cli(root, "tag", "day1").stdout == "day1: tags work\n"
    assert json.loads(cli(root, "title", "day1", "", "--json").stdout)["title"] is None


def test_bad_titles_tags_and_ids_are_clear_errors(store: SessionStore) -> None:
    store.create("day1")
    root = store.root
    bad = cli(root, "tag", "day1", "+a,b")
    assert bad.returncode == 2 and "contains a comma" in bad.stderr and "Traceback" not in bad.stderr
    bad = cli(root, "title", "day1", "x" * 201)
    assert bad.returncode == 2 and "201 characters" in bad.stderr
    bad = cli(root, "title", "Day1", "t")
    assert bad.returncode == 1 and "no session with id 'Day1'" in bad.stderr
    bad = cli(root, "title", "../x", "t")
    assert bad.returncode == 2 and "invalid session id" in bad.stderr


def test_rm_restore_and_trash(store: SessionStore) -> None:
    store.create("keep")
    store.create("scratch", model="gpt-4o", title="throwaway")
    store.append_message("scratch", Message(role="user", content="hi"))
    root = store.root
    done = cli(root, "rm", "scratch", "missing")
    assert done.returncode == 1  # one id failed, the other was still trashed
    assert "scratch: moved to" in done.stdout and "`sessions.py restore scratch`" in done.stdout
    assert "no session with id 'missing'; `sessions.py list` shows the ids" in done.stderr
    assert not store.exists("scratch") and store.exists("keep")
    listing = cli(root, "trash")
    assert listing.returncode == 0 and "scratch  trashed" in listing.stdout and "1 msg  throwaway" in listing.stdout
    entries = json.loads(cli(root, "trash", "--json").stdout)["trash"]
    assert [(e["id"], e["title"], e["message_count"]) for e in entries] == [("scratch", "throwaway", 1)]
    # The id is taken again case-insensitively: restore is refused and names the holder.
    store.create("SCRATCH")
    refused = cli(root, "restore", "scratch")
    assert refused.returncode == 1 and "differs only in letter case" in refused.stderr and "'SCRATCH'" in refused.stderr
    assert cli(root, "rm", "SCRATCH").returncode == 0
    restored = json.loads(cli(root, "restore", "scratch", "--json").stdout)
    assert [item["id"] for item in restored["restored"]] == ["scratch"] and restored["errors"] == []
    assert store.load("scratch").messages[0].content == "hi"
    assert cli(root, "trash", "--empty", "--older-than", "1").stdout == "deleted 0 trashed file(s) for good\n"
    removed = json.loads(cli(root, "trash", "--empty", "--json").stdout)["removed"]
    assert [item["id"] for item in removed] == ["SCRATCH"] and not any(store.layout.trash.iterdir())
    usage = cli(root, "trash", "--older-than", "3")
    assert usage.returncode == 2 and "only goes with --empty" in usage.stderr


def test_read_only_commands_do_not_create_a_store(tmp_path: Path) -> None:
    root = tmp_path / "typo"
    for args in (["trash"], ["tag", "x"], ["title", "x", "t"], ["rm", "x"], ["restore", "x"]):
        done = cli(root, *args)
        assert done.returncode == 2 and "no session store at" in done.stderr, (args, done.output)
    assert not root.exists()


def test_help_explains_each_command(tmp_path: Path) -> None:
    top = run_script("sessions.py", "--help").stdout
    for line in ("title ID TEXT", "tag ID [+t|-t]", "rm ID...", "restore ID...", "trash "):
        assert line in top
    assert "--older-than DAYS" in run_script("sessions.py", "trash", "--help").stdout
    assert "keeps the session's updated_at" in run_script("sessions.py", "title", "--help").stdout.replace("\n", " ")


def test_reindex_views_reports_ids_differing_only_in_case(store: SessionStore) -> None:
    store.create("Alpha")
    document = json.loads((store.layout.sessions / "Alpha.json").read_text(encoding="utf-8"))
    document["id"] = "alpha"  # as a pull from a case-sensitive machine could bring it
    (store.layout.sessions / "alpha.json").write_text(json.dumps(document), encoding="utf-8")
    done = run_script("reindex.py", "--root", str(store.root), "--views")
    assert done.returncode == 0, done.output
    assert "ids differ only in letter case: Alpha, alpha" in done.stderr
    assert (store.layout.sessions / "alpha.json").exists() and (store.layout.sessions / "Alpha.json").exists()
