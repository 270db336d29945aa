"""Shared helpers for the store tests, and a small writer CLI the multi-process tests start.

As a script (``python tests/helpers_store.py MODE ...``):

- ``append ROOT SESSION_ID PREFIX COUNT``: append COUNT messages ``PREFIX-<i>`` one by one.
- ``loop ROOT SESSION_ID``: append ``m-0``, ``m-1``, ... forever; after each append has
  returned (the write is committed), print the number of committed messages and flush.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from store import Message, SessionStore  # noqa: E402

HELPER_SCRIPT = Path(__file__).resolve()


def full_document() -> dict[str, Any]:
    """A schema-v1 session document using every field, with unknown keys at every level."""
    return {
        "schema_version": 1,
        "id": "中文会话_20250615_1010",
        "title": "调试会话 🎉 emoji",
        "created_at": "2025-06-15T10:10:00+02:00",
        "updated_at": "2025-06-15T10:11:12.345678",
        "tags": ["work", "中文", "🔥"],
        "current_model": "claude-sonnet-4",
        "models_used": ["kimi-k2", "claude-sonnet-4"],
        "messages": [
            {
                "id": "m1",
                "role": "system",
                "content": "You are helpful.",
                "created_at": "2025-06-15T08:10:00Z",
            },
            {
                "id": "m2",
                "role": "user",
                "content": [
                    {"type": "text", "text": "看这张图 👀"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
                "created_at": "2025-06-15T10:10:01+02:00",
                "client_hint": {"from": "cursor"},
            },
            {
                "id": "m3",
                "role": "assistant",
                "content": None,
                "model": "kimi-k2",
                "provider": "moonshot",
                "created_at": "2025-06-15T08:10:02",
                "tool_calls": [
                    {
                        "id": "functions.read_file:0",
                        "name": "read_file",
                        "arguments": {"path": "src/主.py", "lines": [1, 2]},
                        "type": "function",
                        "index": 0,
                    },
                    {"id": "call_2", "name": "noop", "arguments": "{\"raw\": \"json string\"}"},
                ],
                "usage": {"input_tokens": 12, "output_tokens": 34, "cached_tokens": 5},
                "latency_ms": 123.5,
                "finish_reason": "tool_calls",
            },
            {
                "id": "m4",
                "role": "tool",
                "content": "file body ✅",
                "tool_call_id": "functions.read_file:0",
                "name": "read_file",
                "created_at": "2025-06-15T08:10:03+00:00",
            },
            {
                "id": "m5",
                "role": "assistant",
                "content": "完成 ✨",
                "model": "claude-sonnet-4",
                "provider": "anthropic",
                "created_at": "2025-06-15T03:10:04-05:00",
                "usage": {"input_tokens": None, "output_tokens": 7},
            },
        ],
        "model_switches": [
            {
                "at_message": 4,
                "from_model": "kimi-k2",
                "to_model": "claude-sonnet-4",
                "at": "2025-06-15T10:10:03.5+02:00",
                "warning": "context re-tokenised",
                "reason_code": 7,
            }
        ],
        "tool_state": {"pending": [], "results": {"functions.read_file:0": "ok"}},
        "summaries": [
            {
                "covers": [0, 3],
                "text": "摘要 summary",
                "model": "kimi-k2",
                "created_at": "2025-06-15T08:20:00Z",
                "tokens_saved": 1000,
            }
        ],
        "extensions": {"kimi": {"partial": True, "raw": [1, "二", {"3": None}]}},
        "extra": {"imported_from": "legacy"},
        "future_top_level": {"nested": ["x", {"y": 1.5}]},
    }


def load_json(path: Path) -> Any:
    return json.loads(path.read_bytes().decode("utf-8"))


class JsonReader(threading.Thread):
    """Re-read a file as fast as it can until stopped; record every read that was not valid JSON."""

    def __init__(self, path: Path, store: SessionStore | None = None, session_id: str | None = None) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.store = store
        self.session_id = session_id
        self.stop_event = threading.Event()
        self.reads = 0
        self.bad: list[str] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                self.bad.append("file missing")
                continue
            try:
                json.loads(data.decode("utf-8"))
            except ValueError as exc:
                self.bad.append(f"{exc}: {data[:80]!r}...")
            if self.store is not None and self.session_id is not None and self.reads % 20 == 0:
                self.store.load(self.session_id)
            self.reads += 1
            time.sleep(0.02)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=20)


def _main(argv: list[str]) -> int:
    mode = argv[0]
    if mode == "append":
        root, session_id, prefix, count = argv[1], argv[2], argv[3], int(argv[4])
        store = SessionStore(root)
        for index in range(count):
            store.append_message(session_id, Message(role="user", content=f"{prefix}-{index}"))
        return 0
    if mode == "loop":
        root, session_id = argv[1], argv[2]
        store = SessionStore(root)
        committed = len(store.load(session_id).messages)
        while True:
            store.append_message(session_id, Message(role="user", content=f"m-{committed}"))
            committed += 1
            sys.stdout.write(f"{committed}\n")
            sys.stdout.flush()
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
