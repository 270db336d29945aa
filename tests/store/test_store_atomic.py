"""Atomic writes: a killed writer, a full disk and stale temp files never damage a session."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store import Message, SessionStore
from store import atomic
from store.atomic import TEMP_PREFIX, atomic_write_bytes, clean_stale_temp_files, fsync_directory
from tests.helpers_store import HELPER_SCRIPT, REPO_ROOT, load_json


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("kill_after", [25, 40, 60])
def test_sigkill_in_a_tight_append_loop_leaves_a_committed_state(store: SessionStore, kill_after: int) -> None:
    store.create("crash")
    writer = subprocess.Popen(
        [sys.executable, str(HELPER_SCRIPT), "loop", str(store.root), "crash"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    last_reported = 0
    deadline = time.monotonic() + 60
    try:
        # Kill it while it is busy appending (well after start-up).
        while last_reported < kill_after:
            line = writer.stdout.readline()
            if not line:
                raise AssertionError(f"writer exited early: {writer.stderr.read() if writer.stderr else ''}")
            last_reported = int(line)
            assert time.monotonic() < deadline, "writer too slow"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        remaining, errors = writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    for line in remaining.split():
        last_reported = int(line)  # appends that returned before the kill landed

    document = load_json(store.path_for("crash"))  # valid JSON, not torn
    contents = [message["content"] for message in document["messages"]]
    count = len(contents)
    assert last_reported <= count <= last_reported + 1
    assert contents == [f"m-{i}" for i in range(count)]  # a prefix of what was intended
    loaded = store.load("crash")
    assert len(loaded.messages) == count
    # The store keeps working after the crash; a temp file of the killed write may be left
    # behind, and it is cleaned up once it is old enough.
    store.append_message("crash", Message(role="user", content="after"))
    assert store.load("crash").messages[-1].content == "after"
    for leftover in store.layout.sessions.glob(TEMP_PREFIX + "*"):
        os.utime(leftover, (time.time() - 3600, time.time() - 3600))
    store.clean_stale_temp_files()
    assert list(store.layout.sessions.glob(TEMP_PREFIX + "*")) == []
    assert errors == "" or "Traceback" not in errors


def test_clean_stale_temp_files_keeps_fresh_ones_and_real_sessions(store: SessionStore) -> None:
    store.create("keep")
    sessions = store.layout.sessions
    old = sessions / f"{TEMP_PREFIX}keep.json.abc123"
    fresh = sessions / f"{TEMP_PREFIX}keep.json.def456"
    old_folder = sessions / f"{TEMP_PREFIX}folder"
    for path in (old, fresh):
        path.write_bytes(b'{"partial": ')
    old_folder.mkdir()
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(old_folder, (an_hour_ago, an_hour_ago))

    removed = store.clean_stale_temp_files()

    assert removed == [old]
    assert not old.exists()
    assert fresh.exists()  # may belong to a write in progress in another process
    assert old_folder.is_dir()  # only files are removed
    assert store.load("keep").id == "keep"
    crashed_reason = store.layout.quarantine / f"{TEMP_PREFIX}reason.xyz"
    crashed_reason.write_text("half a reason")
    os.utime(crashed_reason, (an_hour_ago, an_hour_ago))
    assert store.clean_stale_temp_files() == [crashed_reason]
    assert clean_stale_temp_files(sessions, older_than_seconds=0) == [fresh]
    assert clean_stale_temp_files(sessions / "missing") == []


def test_clean_stale_temp_files_tolerates_a_file_vanishing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gone = tmp_path / f"{TEMP_PREFIX}x"
    gone.write_bytes(b"")
    real_unlink = Path.unlink

    def racing_unlink(self: Path, missing_ok: bool = False) -> None:
        real_unlink(self)
        raise FileNotFoundError(errno.ENOENT, "removed by another process", str(self))

    monkeypatch.setattr(Path, "unlink", racing_unlink)
    assert clean_stale_temp_files(tmp_path, older_than_seconds=-10) == []


@pytest.mark.parametrize("failing", ["fsync", "write"])
def test_disk_full_keeps_the_previous_file_and_no_temp(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    store.create("full")
    store.append_message("full", Message(role="user", content="before"))
    path = store.path_for("full")
    before = path.read_bytes()

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if failing == "fsync":
        monkeypatch.setattr(atomic.os, "fsync", no_space)
    else:
        real_fdopen = os.fdopen

        class FullFile:
            def __init__(self, handle: object) -> None:
                self.handle = handle

            def __enter__(self) -> FullFile:
                return self

            def __exit__(self, *exc: object) -> None:
                self.handle.close()  # type: ignore[attr-defined]

            def write(self, data: bytes) -> int:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def fdopen(fd: int, mode: str = "r", *args: object) -> object:
            handle = real_fdopen(fd, mode, *args)
            return FullFile(handle) if mode == "wb" else handle

        monkeypatch.setattr(atomic.os, "fdopen", fdopen)

    with pytest.raises(OSError) as caught:
        store.append_message("full", Message(role="user", content="after"))
    assert caught.value.errno == errno.ENOSPC
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert [m.content for m in store.load("full").messages] == ["before"]
    assert [p.name for p in store.layout.sessions.iterdir()] == ["full.json"]
    # Once space is back, writing works again.
    store.append_message("full", Message(role="user", content="after"))
    assert [m.content for m in store.load("full").messages] == ["before", "after"]


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, json.dumps({"two": 2}).encode())
    assert load_json(target) == {"two": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]


def test_fsync_directory_ignores_folders_it_cannot_open(tmp_path: Path) -> None:
    fsync_directory(tmp_path)  # a real folder: no error
    fsync_directory(tmp_path / "does-not-exist")  # cannot be opened: silently skipped
