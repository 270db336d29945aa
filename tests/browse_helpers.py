"""A small session store for the browser-view tests: real files, a real blob, a real index.

``build_store(root)`` writes four sessions through ``SessionStore`` and indexes them with
``Indexer(root).sync()``:

- ``s-switch``: a question with an attached Markdown file, a gpt-4o answer, a switch to
  claude-sonnet-4-5 (with its warning), a Claude answer, a failed question and an incomplete answer;
- ``s-cjk``: Chinese text (found through the trigram table) answered by kimi-k2;
- ``s-hostile``: message text with ``<script>``, an ``onerror`` image and ``javascript:`` links;
- ``s-quiet``: a plain question and answer on another day, for the per-day charts.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from index import Indexer
from store import FAILED_MARK, Message, Session, SessionStore, Usage
from store.blobs import FILE_PART, BlobStore
from store.paths import Layout
from store.schema import INCOMPLETE_MARK, ModelSwitch

DAY1 = datetime(2026, 11, 3, 9, 30, tzinfo=timezone.utc)
DAY2 = datetime(2026, 11, 4, 14, 5, tzinfo=timezone.utc)
ATTACHED = "# Design notes\n\nThe watcher debounces events for 0.2 s.\n"
HOSTILE = (
    "Look: <script>alert('pwned')</script> and <img src=x onerror=alert(1)>\n\n"
    "[click me](javascript:alert(2)) [also](JAVASCRIPT:alert(3)) [fine](https://example.org/doc)\n\n"
    "**bold** and `code`"
)
CJK_TEXT = "我们讨论了全文索引的设计和增量同步。"


def _answer(text: str, model: str, provider: str, at: datetime, latency: float, cost: float | None, tokens: tuple[int, int]) -> Message:
    return Message(
        role="assistant", content=text, model=model, provider=provider, created_at=at, latency_ms=latency,
        usage=Usage(input_tokens=tokens[0], output_tokens=tokens[1], cost_usd=cost),
    )


def _save(store: SessionStore, session: Session) -> None:
    """Save with message ids made from the session id, so pages and screenshots are the same every run."""
    for position, message in enumerate(session.messages):
        message.id = f"{session.id}-{position}"
    store.save_new(session)


def build_store(root: Path) -> Path:
    """Write the fixture sessions under ``root`` and index them; returns the index file's path."""
    store = SessionStore(root)
    data = ATTACHED.encode("utf-8")
    sha = BlobStore(root).put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    attachment = {"type": FILE_PART, "path": "/work/project/docs/notes.md", "sha256": sha, "size": len(data),
                  "media_type": "text/markdown", "lines": 3, "tokens": 14}
    t = DAY1
    switch = Session(
        id="s-switch", title="Watcher design review", created_at=t, updated_at=t + timedelta(minutes=9),
        tags=["design"], current_model="claude-sonnet-4-5", models_used=["gpt-4o", "claude-sonnet-4-5"],
        messages=[
            Message(role="system", content="You review designs tersely.", created_at=t),
            Message(role="user", content=[{"type": "text", "text": "Is a 0.2 s debounce enough?"}, attachment],
                    created_at=t + timedelta(minutes=1)),
            _answer("Yes: **0.2 s** batches editor saves.\n\n- one transaction per batch\n- stat-only sync later",
                    "gpt-4o", "openai", t + timedelta(minutes=2), 850.0, 0.0042, (1200, 180)),
            Message(role="user", content="Second opinion, please.", created_at=t + timedelta(minutes=3)),
            _answer("Agreed, with one caveat about bursts.", "claude-sonnet-4-5", "anthropic",
                    t + timedelta(minutes=4), 1900.0, 0.0113, (1500, 240)),
            Message(role="user", content="And for 100,000 files?", created_at=t + timedelta(minutes=5),
                    extra={FAILED_MARK: {"model": "claude-sonnet-4-5", "provider": "anthropic", "error": "HTTP 529 overloaded"}}),
            Message(role="user", content="Try again: 100,000 files?", created_at=t + timedelta(minutes=8)),
            Message(role="assistant", content="At that scale the stat-only", model="claude-sonnet-4-5", provider="anthropic",
                    created_at=t + timedelta(minutes=9), extra={INCOMPLETE_MARK: True}),
        ],
        model_switches=[ModelSwitch(at_message=3, from_model="gpt-4o", to_model="claude-sonnet-4-5",
                                    at=t + timedelta(minutes=3),
                                    warning="switched from gpt-4o to claude-sonnet-4-5: earlier answers were written by another model")],
    )
    _save(store, switch)
    cjk = Session(
        id="s-cjk", title="索引设计 讨论", created_at=t + timedelta(hours=1), updated_at=t + timedelta(hours=1, minutes=1),
        current_model="kimi-k2", models_used=["kimi-k2"],
        messages=[
            Message(role="user", content=CJK_TEXT, created_at=t + timedelta(hours=1)),
            _answer("可以，用三元组分词器。", "kimi-k2", "moonshot", t + timedelta(hours=1, minutes=1), 640.0, 0.0007, (300, 60)),
        ],
    )
    _save(store, cjk)
    hostile = Session(
        id="s-hostile", title="<b>not bold</b> title", created_at=DAY2, updated_at=DAY2,
        current_model="gpt-4o", models_used=["gpt-4o"],
        messages=[
            Message(role="user", content=HOSTILE, created_at=DAY2),
            _answer(HOSTILE, "gpt-4o", "openai", DAY2 + timedelta(seconds=30), 700.0, 0.002, (400, 90)),
        ],
    )
    _save(store, hostile)
    quiet = Session(
        id="s-quiet", title="Quick question", created_at=DAY2, updated_at=DAY2 + timedelta(minutes=1),
        current_model="gpt-4o-mini", models_used=["gpt-4o-mini"],
        messages=[
            Message(role="user", content="What is WAL mode?", created_at=DAY2 + timedelta(minutes=1)),
            _answer("Write-ahead logging: readers do not block the writer.", "gpt-4o-mini", "openai",
                    DAY2 + timedelta(minutes=1, seconds=2), 420.0, None, (50, 20)),
        ],
    )
    _save(store, quiet)
    indexer = Indexer(root)
    try:
        indexer.sync()
    finally:
        indexer.close()
    return Layout(root).index


HISTORY_MODELS = (
    ("gpt-4o", "openai", 0.0025, 0.010, 900.0),
    ("claude-sonnet-4-5", "anthropic", 0.003, 0.015, 1600.0),
    ("gemini-2.5-pro", "gemini", 0.00125, 0.010, 1200.0),
    ("kimi-k2", "moonshot", 0.0006, 0.0025, 700.0),
)


def add_history(root: Path, days: int = 14) -> None:
    """Two weeks of ordinary turns before ``DAY1`` (deterministic), so the charts have a shape;
    indexes them. Used for the screenshots in docs/images/."""
    store = SessionStore(root)
    for day in range(days):
        start = DAY1 - timedelta(days=days - day)
        for index, (model, provider, price_in, price_out, latency) in enumerate(HISTORY_MODELS):
            turns = 1 + (day * 7 + index * 3) % 5
            if (day + index) % 4 == 3:
                continue  # not every model every day
            messages = []
            for turn in range(turns):
                at = start + timedelta(minutes=10 * index + turn)
                tokens_in = 800 + ((day * 131 + index * 71 + turn * 37) % 2400)
                tokens_out = 120 + ((day * 53 + index * 29 + turn * 11) % 600)
                cost = round(tokens_in / 1000 * price_in + tokens_out / 1000 * price_out, 6)
                messages.append(Message(role="user", content=f"Question {turn} of day {day}", created_at=at))
                messages.append(_answer(f"Answer {turn} from {model}.", model, provider, at + timedelta(seconds=2),
                                        latency * (0.6 + ((day + turn * 3 + index) % 9) / 8), cost, (tokens_in, tokens_out)))
            _save(store, Session(id=f"h-{day:02d}-{index}", title=f"Day {day} with {model}", created_at=start,
                                   updated_at=messages[-1].created_at, current_model=model, models_used=[model], messages=messages))
    indexer = Indexer(root)
    try:
        indexer.sync()
    finally:
        indexer.close()


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    """Poll ``url`` until it answers 200; fail with the server's log if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"sessions.py browse did not answer at {url}:\n{log.read_text()}")
