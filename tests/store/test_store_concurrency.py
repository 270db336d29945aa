"""Concurrent appends (threads and processes) never lose, duplicate or tear a session file."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from store import Message, SessionStore
from tests.helpers_store import HELPER_SCRIPT, REPO_ROOT, JsonReader, load_json


def _contents(store: SessionStore, session_id: str) -> Counter[str]:
    return Counter(str(message.content) for message in store.load(session_id).messages)


def test_eight_threads_times_two_hundred_appends(store: SessionStore) -> None:
    store.create("shared", model="kimi-k2")
    reader = JsonReader(store.path_for("shared"), store, "shared")
    reader.start()
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(thread_no: int) -> None:
        try:
            start.wait()
            for index in range(200):
                store.append_message("shared", Message(role="user", content=f"t{thread_no}-{index}"))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    reader.stop()

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    counts = _contents(store, "shared")
    expected = {f"t{n}-{i}" for n in range(8) for i in range(200)}
    assert set(counts) == expected
    assert all(count == 1 for count in counts.values())
    # Each thread's own messages keep their order.
    contents = [str(m.content) for m in store.load("shared").messages]
    for n in range(8):
        mine = [c for c in contents if c.startswith(f"t{n}-")]
        assert mine == [f"t{n}-{i}" for i in range(200)]
    assert reader.reads > 0
    assert reader.bad == []
    assert load_json(store.path_for("shared"))["schema_version"] == 1


def test_four_processes_times_one_hundred_appends(store: SessionStore) -> None:
    store.create("multi")
    reader = JsonReader(store.path_for("multi"), store, "multi")
    reader.start()
    writers = [
        subprocess.Popen(
            [sys.executable, str(HELPER_SCRIPT), "append", str(store.root), "multi", f"p{n}", "100"],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(4)
    ]
    outputs = [writer.communicate(timeout=120) for writer in writers]
    reader.stop()

    for writer, (_, stderr) in zip(writers, outputs):
        assert writer.returncode == 0, stderr.decode()
    counts = _contents(store, "multi")
    assert set(counts) == {f"p{n}-{i}" for n in range(4) for i in range(100)}
    assert all(count == 1 for count in counts.values())
    assert reader.reads > 0
    assert reader.bad == []


def test_two_store_objects_on_one_root_share_the_lock(tmp_path: Path) -> None:
    # Different spellings of the same root still serialise (the file lock is per file).
    first = SessionStore(tmp_path / "root")
    second = SessionStore(tmp_path / "x" / ".." / "root")
    first.create("s")

    def writer(target: SessionStore, prefix: str) -> None:
        for index in range(40):
            target.append_message("s", Message(role="user", content=f"{prefix}{index}"))

    threads = [threading.Thread(target=writer, args=(target, prefix)) for target, prefix in ((first, "a"), (second, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(first.load("s").messages) == 80
