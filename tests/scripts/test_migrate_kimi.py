"""scripts/migrate_kimi.py and store.legacy.migration on real folders: fixtures, 2,000 files, SIGKILL."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from scripts import migrate_kimi
from store import InvalidSessionId, Message, SessionStore
from store.legacy import (
    LegacySessionUnreadable,
    first_difference,
    migrate_folder,
    migrate_legacy_session,
    parse_legacy_document,
    to_legacy,
)
from tests.conftest import SHARED_FIXTURES
from tests.hardening_helpers import ScriptResult, run_script, start_script

FIXTURES = SHARED_FIXTURES / "legacy_kimi_sessions"
GOOD_IDS = sorted(
    [
        "design-review_20250601_0900",
        "extras_20250712_1200",
        "long-session_20250710_0800",
        "refactor-model-agnostic-sessions_20250712_2126",
        "tool-calls_20250705_1400",
        "中文会话_20250615_1010",
    ]
)
BROKEN = {"empty_20250712_0000.json": "the file is empty", "truncated_20250711_2359.json": "truncated"}


def cli(*args: str | Path) -> ScriptResult:
    """``migrate_kimi.py args`` in-process (``main(argv, out, err)``)."""
    out, err = io.StringIO(), io.StringIO()
    code = migrate_kimi.main([str(arg) for arg in args], out, err)
    return ScriptResult(code, out.getvalue(), err.getvalue())


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Content hash and mtime of every file under ``folder`` (to prove nothing changed)."""
    return {
        str(path.relative_to(folder)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def session_ids(root: Path) -> list[str]:
    folder = root / "sessions"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    folder = tmp_path / ".kimi_sessions"
    shutil.copytree(FIXTURES, folder, copy_function=shutil.copy2)
    for path in folder.iterdir():
        path.chmod(0o644)
    folder.chmod(0o755)
    return folder


@pytest.fixture
def good_legacy(legacy: Path) -> Path:
    for name in BROKEN:
        (legacy / name).unlink()
    return legacy


def write_legacy(folder: Path, name: str, document: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def generated_document(index: int) -> Any:
    """Small legacy documents in the shapes real folders hold, cycling by ``index``."""
    kind = index % 5
    if kind == 0:
        return [{"role": "user", "content": f"question {index}"}, {"role": "assistant", "content": f"answer {index}"}]
    if kind == 1:
        return {"id": f"s{index}", "model": "moonshot-v1-8k", "created": 1749982200 + index,
                "history": [{"role": "user", "content": f"问题 {index}"}, {"role": "assistant", "content": f"回答 {index}"}]}
    if kind == 2:
        return {"session_id": f"s{index}", "model": "kimi-k2", "created_at": "2025-07-05T14:00:00Z",
                "messages": [{"role": "assistant", "content": None, "tool_calls": [
                    {"id": f"call_{index}", "type": "function", "function": {"name": "f", "arguments": json.dumps({"n": index})}}]},
                    {"role": "tool", "tool_call_id": f"call_{index}", "content": "{}"}]}
    if kind == 3:
        return {"sessionId": f"s{index}", "createdAt": 1752355623000 + index, "conversation": [
            {"role": "user", "content": [{"type": "text", "text": f"part {index}"}], "timestamp": 1752355623.5}],
                "x_unknown": {"k": [index, True, None]}}
    return {"messages": [{"role": "user", "content": f"m {index}", "usage": {"prompt_tokens": index, "completion_tokens": 1, "total_tokens": index + 1}}]}


@pytest.fixture(scope="module")
def generated_2000(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated") / ".kimi_sessions"
    for index in range(2000):
        write_legacy(folder, f"gen-{index:05d}.json", generated_document(index))
    return folder


# -- the fixture folder ------------------------------------------------------------------------


def test_fixture_folder_migrates_quarantines_and_verifies(legacy: Path, tmp_path: Path) -> None:
    root = tmp_path / ".llm_sessions"
    before = snapshot(legacy)
    result = cli("--from", legacy, "--to", root, "--verify")
    assert result.returncode == 1, result.stderr
    assert snapshot(legacy) == before
    assert session_ids(root) == GOOD_IDS
    table = result.stdout
    for row in ("migrated             6", "quarantined          2", "collisions           0", "verified ok          6", "verify failed        0"):
        assert row in table
    assert "exit status 1" in table
    quarantine = root / "quarantine"
    for name, words in BROKEN.items():
        assert (quarantine / name).read_bytes() == (legacy / name).read_bytes()
        assert words in (quarantine / f"{name}.reason.txt").read_text(encoding="utf-8")
        assert name in table
    store = SessionStore(root)
    listing = store.list()
    assert sorted(s.id for s in listing.sessions) == GOOD_IDS and not listing.quarantined
    for session_id in GOOD_IDS:
        document = parse_legacy_document((legacy / f"{session_id}.json").read_bytes())
        assert first_difference(to_legacy(store.load(session_id)), document) is None
    assert len(store.load("long-session_20250710_0800").messages) == 1500
    assert list((root / "by-model" / "kimi-k2-0711-preview").iterdir())  # written through SessionStore: views exist


def test_second_run_changes_nothing_and_says_so(legacy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / ".llm_sessions"
    assert migrate_kimi.main(["--from", str(legacy), "--to", str(root)]) == 1
    capsys.readouterr()
    legacy_before, unified_before = snapshot(legacy), snapshot(root)
    assert migrate_kimi.main(["--from", str(legacy), "--to", str(root), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["changed"] is False and report["ok"] is False
    assert report["summary"]["unchanged"] == 6 and report["summary"]["migrated"] == 0
    assert report["summary"]["quarantined"] == 2
    assert snapshot(root) == unified_before  # same bytes AND same mtimes, quarantine included
    assert snapshot(legacy) == legacy_before
    assert migrate_kimi.main(["--from", str(legacy), "--to", str(root)]) == 1
    out = capsys.readouterr().out
    assert "Nothing changed" in out and "unchanged            6" in out
    assert snapshot(root) == unified_before


def test_good_folder_exits_zero(good_legacy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "u"
    assert migrate_kimi.main(["--from", str(good_legacy), "--to", str(root), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "exit status 1" not in out and "verified ok          6" in out
    assert session_ids(root) == GOOD_IDS


def test_dry_run_writes_nothing(legacy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "never-created"
    before = snapshot(legacy)
    result = cli("--from", legacy, "--to", root, "--dry-run", "--verify", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["dry_run"] is True and report["changed"] is False
    assert report["summary"]["would_migrate"] == 6 and report["summary"]["verify_ok"] == 6
    assert {f["file"] for f in report["files"] if f["status"] == "would_quarantine"} == set(BROKEN)
    assert not root.exists()
    assert snapshot(legacy) == before
    assert migrate_kimi.main(["--from", str(legacy), "--to", str(root), "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "dry run" in out and "would migrate        6" in out and "WOULD QUARANTINE" in out
    assert not root.exists()
    assert snapshot(legacy) == before


def test_dry_run_after_a_real_run_reports_unchanged(good_legacy: Path, tmp_path: Path) -> None:
    root = tmp_path / "u"
    migrate_folder(good_legacy, root)
    before = snapshot(root)
    report = migrate_folder(good_legacy, root, dry_run=True, verify=True)
    assert report.summary()["unchanged"] == 6 and report.ok
    assert snapshot(root) == before


# -- many files, interruption ------------------------------------------------------------------


def test_generated_folder_of_2000_sessions(generated_2000: Path, tmp_path: Path) -> None:
    root = tmp_path / "u"
    before = snapshot(generated_2000)
    first = cli("--from", generated_2000, "--to", root)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "migrated          2000" in first.stdout
    assert first.stderr == ""  # stderr is a pipe here, not a terminal: no progress bar
    assert len(session_ids(root)) == 2000
    unified = snapshot(root / "sessions")
    second = cli("--from", generated_2000, "--to", root, "--verify", "--json", "--no-progress")
    assert second.returncode == 0, second.stdout + second.stderr
    report = json.loads(second.stdout)
    assert report["summary"]["unchanged"] == 2000 and report["summary"]["verify_ok"] == 2000
    assert report["changed"] is False and second.stderr == ""
    assert snapshot(root / "sessions") == unified
    assert snapshot(generated_2000) == before


def test_sigkill_mid_run_then_rerun_completes(generated_2000: Path, tmp_path: Path) -> None:
    legacy = tmp_path / ".kimi_sessions"
    legacy.mkdir()
    total = 600
    for path in sorted(generated_2000.iterdir())[:total]:
        shutil.copy2(path, legacy / path.name)
    root = tmp_path / "u"
    before = snapshot(legacy)
    process = start_script("migrate_kimi.py", "--from", str(legacy), "--to", str(root), "--no-progress", log_path=tmp_path / "killed.log")
    deadline = time.monotonic() + 20
    while len(session_ids(root)) < 20 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=20) == -signal.SIGKILL
    done_before = len(session_ids(root))
    assert 20 <= done_before < total
    rerun = cli("--from", legacy, "--to", root, "--verify", "--json")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    report = json.loads(rerun.stdout)
    summary = report["summary"]
    assert summary["migrated"] + summary["unchanged"] == total and summary["verify_ok"] == total
    assert summary["unchanged"] >= done_before - 1 and summary["collisions"] == 0
    assert len(session_ids(root)) == total
    assert not SessionStore(root).list().quarantined  # every unified file is complete and readable
    third = json.loads(cli("--from", legacy, "--to", root, "--json").stdout)
    assert third["summary"]["unchanged"] == total and third["changed"] is False
    assert snapshot(legacy) == before


# -- verification ------------------------------------------------------------------------------


def tamper(root: Path, session_id: str, change: Any) -> None:
    path = root / "sessions" / f"{session_id}.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")


def test_verify_catches_a_tampered_unified_file(good_legacy: Path, tmp_path: Path) -> None:
    root = tmp_path / "u"
    assert cli("--from", good_legacy, "--to", root).returncode == 0
    tamper(root, "tool-calls_20250705_1400", lambda d: d["messages"][3].update(content="It is 30 °C in Paris."))
    tamper(root, "中文会话_20250615_1010", lambda d: d.update(created_at="2020-01-01T00:00:00Z"))
    result = cli("--from", good_legacy, "--to", root, "--verify")
    assert result.returncode == 1
    assert "VERIFY FAILED tool-calls_20250705_1400.json" in result.stdout
    assert "$.messages[3].content" in result.stdout
    assert "VERIFY FAILED 中文会话_20250615_1010.json" in result.stdout
    assert "verify failed        2" in result.stdout
    report = json.loads(cli("--from", good_legacy, "--to", root, "--verify", "--json").stdout)
    failed = {f["file"] for f in report["files"] if f["verify"] == "failed"}
    assert failed == {"tool-calls_20250705_1400.json", "中文会话_20250615_1010.json"}
    assert len(session_ids(root)) == 6  # tampering is reported, not "fixed" by writing copies


def test_unreadable_unified_file_blocks_that_legacy_file(good_legacy: Path, tmp_path: Path) -> None:
    root = tmp_path / "u"
    migrate_folder(good_legacy, root)
    broken = root / "sessions" / "extras_20250712_1200.json"
    broken.write_text("{ not json", encoding="utf-8")
    report = migrate_folder(good_legacy, root, verify=True)
    outcome = next(f for f in report.files if f.file == "extras_20250712_1200.json")
    assert outcome.status == "blocked" and "unreadable" in (outcome.reason or "")
    assert not report.ok and broken.read_text(encoding="utf-8") == "{ not json"
    assert "BLOCKED" in migrate_kimi.render_table(report)
    assert report.summary()["blocked"] == 1


def test_verify_reports_a_missing_unified_file(good_legacy: Path, tmp_path: Path) -> None:
    from store.legacy.migration import FileOutcome, verify_outcome
    from store.paths import Layout

    outcome = FileOutcome(file="x.json", legacy_id="x", status="unchanged", session_id="x")
    verify_outcome(outcome, [], Layout(tmp_path), None)
    assert outcome.verify == "failed" and "missing" in (outcome.verify_detail or "")
    plain = SessionStore(tmp_path / "u").create("plain")
    outcome = FileOutcome(file="plain.json", legacy_id="plain", status="would_migrate", session_id="plain")
    verify_outcome(outcome, [], Layout(tmp_path / "u"), plain)
    assert outcome.verify == "failed" and "cannot rebuild" in (outcome.verify_detail or "")


# -- collisions and odd files ------------------------------------------------------------------


def test_id_taken_by_a_different_unified_session(good_legacy: Path, tmp_path: Path) -> None:
    root = tmp_path / "u"
    store = SessionStore(root)
    store.create("design-review_20250601_0900", title="someone else's session")
    theirs = (root / "sessions" / "design-review_20250601_0900.json").read_bytes()
    report = migrate_folder(good_legacy, root, verify=True)
    outcome = next(f for f in report.files if f.legacy_id == "design-review_20250601_0900")
    sha = hashlib.sha256((good_legacy / "design-review_20250601_0900.json").read_bytes()).hexdigest()
    expected = f"design-review_20250601_0900-legacy-{sha[:8]}"
    assert outcome.status == "migrated" and outcome.session_id == expected and outcome.verify == "ok"
    assert outcome.collision is not None and "different session" in outcome.collision.reason
    assert (root / "sessions" / "design-review_20250601_0900.json").read_bytes() == theirs
    assert report.ok and report.collisions == 1
    assert "COLLISION design-review_20250601_0900.json" in migrate_kimi.render_table(report)
    before = snapshot(root / "sessions")
    again = migrate_folder(good_legacy, root)
    outcome = next(f for f in again.files if f.legacy_id == "design-review_20250601_0900")
    assert outcome.status == "unchanged" and outcome.session_id == expected and outcome.collision is not None
    assert not again.changed and snapshot(root / "sessions") == before


def test_legacy_file_changed_after_migration_keeps_both(tmp_path: Path) -> None:
    legacy = tmp_path / "k"
    path = write_legacy(legacy, "chat.json", [{"role": "user", "content": "v1"}])
    root = tmp_path / "u"
    migrate_folder(legacy, root)
    write_legacy(legacy, "chat.json", [{"role": "user", "content": "v1"}, {"role": "assistant", "content": "v2"}])
    report = migrate_folder(legacy, root, verify=True)
    (outcome,) = report.files
    assert outcome.status == "migrated" and outcome.session_id != "chat" and outcome.verify == "ok"
    assert outcome.collision is not None and "different version" in outcome.collision.reason
    store = SessionStore(root)
    assert [m.content for m in store.load("chat").messages] == ["v1"]
    assert [m.content for m in store.load(outcome.session_id or "").messages] == ["v1", "v2"]
    assert path.exists()


def test_invalid_file_names_get_distinct_safe_ids(tmp_path: Path) -> None:
    legacy = tmp_path / "k"
    write_legacy(legacy, "a b.json", [{"role": "user", "content": "space"}])
    write_legacy(legacy, "a:b.json", [{"role": "user", "content": "colon"}])
    write_legacy(legacy, "con.json", [{"role": "user", "content": "reserved"}])
    root = tmp_path / "u"
    report = migrate_folder(legacy, root, verify=True)
    assert report.ok and report.summary()["renamed"] == 3
    ids = {f.legacy_id: f.session_id for f in report.files}
    assert len(set(ids.values())) == 3 and all(i and i.startswith(("a_b-", "con-")) for i in ids.values())
    store = SessionStore(root)
    assert store.load(ids["a b"] or "").extensions["kimi"]["legacy_id"] == "a b"
    assert "is not a valid session id" in migrate_kimi.render_table(report)
    assert not migrate_folder(legacy, root).changed


def test_inner_session_id_differing_from_file_name_is_reported(tmp_path: Path) -> None:
    legacy = tmp_path / "k"
    write_legacy(legacy, "one.json", {"session_id": "two", "messages": [{"role": "user", "content": "1"}]})
    write_legacy(legacy, "two.json", {"session_id": "two", "messages": [{"role": "user", "content": "2"}]})
    report = migrate_folder(legacy, tmp_path / "u", verify=True)
    assert report.ok and [f.session_id for f in report.files] == ["one", "two"]
    assert any("file name wins" in note for note in report.files[0].notes)
    assert not report.files[1].notes


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\xff\xfe\x00{", "UTF-8"),
        (b'{"foo": 1}', "not a legacy session: no list of messages"),
        (b"42", "not a legacy session"),
        (b'[{"content": "x"}]', "no recognisable role"),
    ],
)
def test_unreadable_files_are_copied_to_quarantine(tmp_path: Path, data: bytes, words: str) -> None:
    legacy = tmp_path / "k"
    legacy.mkdir()
    (legacy / "bad.json").write_bytes(data)
    (legacy / "notes.txt").write_text("not a session file")
    (legacy / ".hidden.json").write_text("[]")
    (legacy / "folder.json").mkdir()
    os.mkfifo(legacy / "pipe.json")  # reading it would block forever: it must be skipped
    (legacy / "zero.json").symlink_to("/dev/zero")
    report = migrate_folder(legacy, tmp_path / "u")
    (outcome,) = report.files
    assert outcome.status == "quarantined" and words in (outcome.reason or "")
    assert (legacy / "bad.json").read_bytes() == data
    assert Path(outcome.quarantined_to or "").read_bytes() == data


def test_file_without_read_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    legacy = tmp_path / "k"
    path = write_legacy(legacy, "locked.json", [])
    path.chmod(0)
    # Root (CI) reads the file whatever its mode: make the read fail as it does for other users.
    real_read_bytes = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self == path:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    report = migrate_folder(legacy, tmp_path / "u")
    (outcome,) = report.files
    assert outcome.status == "quarantined" and outcome.reason == "cannot read the file: Permission denied"
    assert not report.ok and session_ids(tmp_path / "u") == []
    assert path.exists()  # left where it was


def test_quarantine_copy_failure_is_reported(tmp_path: Path) -> None:
    from store.legacy.migration import migrate_file
    from store.paths import Layout

    legacy = tmp_path / "k"
    legacy.mkdir()
    (legacy / "bad.json").write_bytes(b"")
    broken_root = tmp_path / "broken"
    broken_root.mkdir()
    (broken_root / "quarantine").write_text("a file where the folder should be")
    outcome = migrate_file(legacy / "bad.json", Layout(broken_root), SessionStore(tmp_path / "u"))
    assert outcome.status == "quarantined" and outcome.quarantined_to is None
    assert any("could not copy" in note for note in outcome.notes)
    assert (legacy / "bad.json").exists()


def test_empty_legacy_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "k").mkdir()
    assert migrate_kimi.main(["--from", str(tmp_path / "k"), "--to", str(tmp_path / "u")]) == 0
    assert "No legacy session files found." in capsys.readouterr().out


# -- the lazy path (server) --------------------------------------------------------------------


def test_migrate_legacy_session_on_demand_then_continue(good_legacy: Path, tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "u")
    before = snapshot(good_legacy)
    session = migrate_legacy_session(good_legacy, store, "tool-calls_20250705_1400")
    assert session is not None and session.id == "tool-calls_20250705_1400" and len(session.messages) == 4
    assert session.current_model == "kimi-k2-0711-preview"
    # The conversation continues in the unified store...
    store.append_message(session.id, Message(role="user", content="and in Lyon?"))
    again = migrate_legacy_session(good_legacy, store, "tool-calls_20250705_1400")
    assert again is not None and len(again.messages) == 5
    # ...and the migration script later sees it as already migrated, and it still verifies.
    report = migrate_folder(good_legacy, store.root, verify=True)
    outcome = next(f for f in report.files if f.session_id == "tool-calls_20250705_1400")
    assert outcome.status == "unchanged" and outcome.verify == "ok"
    assert report.summary()["migrated"] == 5 and report.ok
    assert snapshot(good_legacy) == before


def test_migrate_legacy_session_edge_cases(legacy: Path, tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "u")
    assert migrate_legacy_session(legacy, store, "no-such-session") is None
    assert migrate_legacy_session(tmp_path / "missing-folder", store, "x") is None
    with pytest.raises(InvalidSessionId):
        migrate_legacy_session(legacy, store, "../etc/passwd")
    store.create("extras_20250712_1200", title="already here")
    existing = migrate_legacy_session(legacy, store, "extras_20250712_1200")
    assert existing is not None and existing.title == "already here" and not existing.extensions
    with pytest.raises(LegacySessionUnreadable) as caught:
        migrate_legacy_session(legacy, store, "truncated_20250711_2359")
    assert "truncated" in str(caught.value) and caught.value.quarantined_to
    assert (legacy / "truncated_20250711_2359.json").exists()
    assert Path(caught.value.quarantined_to).read_bytes() == (legacy / "truncated_20250711_2359.json").read_bytes()


def test_concurrent_lazy_migration_of_one_session(good_legacy: Path, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = SessionStore(tmp_path / "u")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: migrate_legacy_session(good_legacy, store, "extras_20250712_1200"), range(8)))
    assert {r.id for r in results if r is not None} == {"extras_20250712_1200"}
    assert session_ids(store.root) == ["extras_20250712_1200"]


def test_save_race_is_resolved_as_unchanged(good_legacy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process saves the same legacy session between our check and our write."""
    from store.legacy import migration

    store = SessionStore(tmp_path / "u")
    other = SessionStore(tmp_path / "u")
    real_save = SessionStore.save_new
    calls: list[str] = []

    def racing_save(self: SessionStore, session: Any, *, replace: bool = False) -> None:
        if not calls:
            calls.append(session.id)
            real_save(other, session)  # the other process wins the race
        real_save(self, session, replace=replace)

    monkeypatch.setattr(SessionStore, "save_new", racing_save)
    outcome = migration.migrate_file(good_legacy / "extras_20250712_1200.json", store.layout, store)
    assert outcome.status == "unchanged" and calls == ["extras_20250712_1200"]


# -- the command line --------------------------------------------------------------------------


def test_help_explains_every_option() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for words in ("--from", "--to", "--root", "--dry-run", "--verify", "--json", "never modified", "quarantine", "exit status"):
        assert words in result.stdout


def test_usage_errors_exit_2(tmp_path: Path, good_legacy: Path) -> None:
    missing = cli("--from", tmp_path / "nope", "--to", tmp_path / "u")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert cli("--from", good_legacy, "--to", a_file).returncode == 2
    same = cli("--from", good_legacy, "--to", good_legacy)
    assert same.returncode == 2 and "different folders" in same.stderr
    assert cli("--bogus").returncode == 2


def test_defaults_come_from_the_environment_then_the_working_directory(
    good_legacy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_root = tmp_path / "from-env"
    monkeypatch.setenv("KIMI_SESSIONS_DIR", str(good_legacy))
    monkeypatch.setenv("LLM_SESSIONS_DIR", str(env_root))
    result = cli()
    assert result.returncode == 0, result.stderr
    assert session_ids(env_root) == GOOD_IDS
    # As a program, in a project folder without the variables (subprocess_env drops them).
    workdir = tmp_path / "project"
    shutil.copytree(good_legacy, workdir / ".kimi_sessions")
    plain = run_script("migrate_kimi.py", "--root", ".llm_sessions", cwd=workdir)
    assert plain.returncode == 0, plain.stderr
    assert session_ids(workdir / ".llm_sessions") == GOOD_IDS
    assert "migrated             6" in plain.stdout


# -- rarer paths -------------------------------------------------------------------------------


def test_missing_legacy_folder_has_no_files(tmp_path: Path) -> None:
    report = migrate_folder(tmp_path / "absent", tmp_path / "u")
    assert report.files == [] and report.ok and not report.changed


def test_changed_broken_file_gets_a_second_quarantine_copy(tmp_path: Path) -> None:
    legacy = tmp_path / "k"
    legacy.mkdir()
    bad = legacy / "bad.json"
    bad.write_bytes(b'{"messages": [')
    root = tmp_path / "u"
    first = migrate_folder(legacy, root).files[0]
    bad.write_bytes(b'{"messages": [{"role"')
    second = migrate_folder(legacy, root).files[0]
    assert first.quarantined_to != second.quarantined_to
    assert Path(second.quarantined_to or "").name == "bad.json.1"
    assert Path(first.quarantined_to or "").read_bytes() == b'{"messages": ['  # the first copy is kept
    third = migrate_folder(legacy, root)
    assert third.files[0].quarantined_to == second.quarantined_to and not third.changed


def test_suffixed_id_skips_an_unreadable_or_taken_candidate(tmp_path: Path) -> None:
    legacy = tmp_path / "k"
    path = write_legacy(legacy, "chat.json", [{"role": "user", "content": "hello"}])
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    root = tmp_path / "u"
    store = SessionStore(root)
    store.create("chat")
    (root / "sessions" / f"chat-legacy-{sha[:8]}.json").write_text("garbage", encoding="utf-8")
    report = migrate_folder(legacy, root, verify=True)
    assert report.files[0].session_id == f"chat-legacy-{sha[:12]}" and report.ok
    for width in (12, 16, 64):
        if width > 12:
            store.create(f"chat-legacy-{sha[:width]}")
    (root / "sessions" / f"chat-legacy-{sha[:12]}.json").unlink()
    store.create(f"chat-legacy-{sha[:12]}")
    stuck = migrate_folder(legacy, root)
    assert stuck.files[0].status == "quarantined" and "no free session id" in (stuck.files[0].reason or "")


def test_collision_with_a_session_migrated_from_another_file(tmp_path: Path) -> None:
    root = tmp_path / "u"
    first = tmp_path / "k1"
    write_legacy(first, "a b.json", [{"role": "user", "content": "one"}])
    taken = migrate_folder(first, root).files[0].session_id
    second = tmp_path / "k2"
    write_legacy(second, f"{taken}.json", [{"role": "user", "content": "two"}])
    outcome = migrate_folder(second, root).files[0]
    assert outcome.collision is not None and "'a b.json'" in outcome.collision.reason


def test_mapping_failures_quarantine_instead_of_stopping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from store.legacy import migration

    legacy = tmp_path / "k"
    write_legacy(legacy, "a.json", [{"role": "user", "content": "a"}])
    write_legacy(legacy, "b.json", [{"role": "user", "content": "b"}])
    monkeypatch.setattr(migration, "to_legacy", lambda session: [] if session.id == "a" else to_legacy(session))
    report = migrate_folder(legacy, tmp_path / "u")
    assert [f.status for f in report.files] == ["quarantined", "migrated"]
    assert "cannot be mapped losslessly" in (report.files[0].reason or "")

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(migration, "to_unified", explode)
    report = migrate_folder(legacy, tmp_path / "u2")
    assert all("internal error" in (f.reason or "") for f in report.files) and not report.ok


def test_verify_outcome_without_a_session_is_a_no_op(tmp_path: Path) -> None:
    from store.legacy.migration import FileOutcome, verify_outcome
    from store.paths import Layout

    outcome = FileOutcome(file="x.json", legacy_id="x", status="quarantined")
    verify_outcome(outcome, [], Layout(tmp_path), None)
    assert outcome.verify is None


def test_progress_bar_on_a_terminal_only() -> None:
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = migrate_kimi.ProgressBar(stream, "migrating", min_total=migrate_kimi.PROGRESS_MIN_FILES)
    for done in range(1, 101):
        bar(done, 100)
    text = stream.getvalue()
    assert text.startswith("\rmigrating [") and text.endswith("100/100 files\n") and "[" + "#" * 30 + "]" in text
    quiet = Terminal()
    migrate_kimi.ProgressBar(quiet, "migrating", min_total=migrate_kimi.PROGRESS_MIN_FILES)(1, 3)
    assert quiet.getvalue() == ""
    log = io.StringIO()  # a log file or a pipe: no bar at all
    logged = migrate_kimi.ProgressBar(log, "migrating", min_total=migrate_kimi.PROGRESS_MIN_FILES)
    for done in range(1, 201):
        logged(done, 200)
    assert log.getvalue() == ""


def test_dangling_symlink_in_the_legacy_folder_is_reported(tmp_path: Path) -> None:
    legacy = tmp_path / "k"
    legacy.mkdir()
    (legacy / "gone.json").symlink_to(tmp_path / "nowhere.json")
    report = migrate_folder(legacy, tmp_path / "u")
    assert report.files[0].status == "quarantined" and "cannot read the file" in (report.files[0].reason or "")
    assert (legacy / "gone.json").is_symlink()


def test_odd_entries_in_quarantine_are_never_overwritten(tmp_path: Path) -> None:
    legacy = tmp_path / "k"
    legacy.mkdir()
    (legacy / "bad.json").write_bytes(b"")
    root = tmp_path / "u"
    (root / "quarantine" / "bad.json").mkdir(parents=True)
    (root / "quarantine" / "bad.json.reason.txt").write_text("someone else's")
    outcome = migrate_folder(legacy, root).files[0]
    assert Path(outcome.quarantined_to or "").name == "bad.json.1"
    assert (root / "quarantine" / "bad.json").is_dir()


def test_files_written_by_the_legacy_writer_migrate_losslessly(tmp_path: Path) -> None:
    from store.legacy.kimi_store import LegacyKimiStore

    legacy_root = tmp_path / ".kimi_sessions"
    writer = LegacyKimiStore(legacy_root)
    writer.append_exchange("written-by-kimi-chat", "kimi-k2", [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "hi"}])
    writer.append_exchange("written-by-kimi-chat", "kimi-k2", [{"role": "user", "content": "again"}, {"role": "assistant", "content": "ok"}])
    report = migrate_folder(legacy_root, tmp_path / "u", verify=True)
    assert [(f.session_id, f.status, f.verify) for f in report.files] == [("written-by-kimi-chat", "migrated", "ok")]
    session = SessionStore(tmp_path / "u").load("written-by-kimi-chat")
    assert [m.content for m in session.messages] == ["你好", "hi", "again", "ok"]
    assert session.current_model == "kimi-k2" and session.messages[1].model == "kimi-k2"


def test_stale_temp_files_from_a_killed_run_are_cleaned(good_legacy: Path, tmp_path: Path) -> None:
    root = tmp_path / "u"
    SessionStore(root)
    stale = root / "sessions" / ".tmp-extras_20250712_1200.json.abc123"
    stale.write_text('{"half": ')
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fresh = root / "sessions" / ".tmp-other.json.def456"  # may belong to a live writer: kept
    fresh.write_text("{")
    assert migrate_folder(good_legacy, root).ok
    assert not stale.exists() and fresh.exists()
    assert session_ids(root) == GOOD_IDS
