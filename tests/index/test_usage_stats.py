"""``scripts/sessions.py stats`` and ``index.usage``: figures from a real index of real files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from index import InvalidQuery
from index.usage import build_report, percentile
from store import FAILED_MARK, Message, Session, SessionStore, Usage
from tests.conftest import REPO_ROOT

from tests.cli_helpers import run_sessions as call

DAY1 = datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)
DAY2 = datetime(2026, 1, 2, 10, 0, tzinfo=timezone.utc)


def answer(model: str, provider: str, at: datetime, latency: float | None, cost: float | None, tokens: tuple[int, int] = (10, 5)) -> Message:
    return Message(role="assistant", content="ok", model=model, provider=provider, created_at=at, latency_ms=latency,
                   usage=Usage(input_tokens=tokens[0], output_tokens=tokens[1], cost_usd=cost))


def question(at: datetime, failed: dict[str, str] | None = None) -> Message:
    return Message(role="user", content="q", created_at=at, extra={FAILED_MARK: failed} if failed else {})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    store = SessionStore(tmp_path / "root")
    gpt = Session(id="s-gpt", created_at=DAY1, updated_at=DAY1, messages=[Message(role="system", content="terse", created_at=DAY1)])
    for i, latency in enumerate([100.0, 200.0, 300.0, 400.0]):
        at = DAY1 + timedelta(minutes=i)
        gpt.messages += [question(at), answer("gpt-4o", "openai", at, latency, 0.01)]
    gpt.messages.append(Message(role="tool", content="result", tool_call_id="c1", created_at=DAY1))
    store.save_new(gpt)
    claude = Session(id="s-claude", created_at=DAY2, updated_at=DAY2, messages=[
        question(DAY2), answer("claude-sonnet-4-5", "anthropic", DAY2, 1000.0, None, (100, 50)),
        question(DAY2, {"model": "claude-sonnet-4-5", "provider": "anthropic", "error": "HTTP 529"}),
    ])
    store.save_new(claude)
    # A failed question written before failures recorded their provider, and an old answer without latency.
    old = Session(id="s-old", created_at=DAY2, updated_at=DAY2, messages=[
        question(DAY2, {"model": "kimi-k2", "error": "timeout"}), question(DAY2), answer("kimi-k2", "moonshot", DAY2, None, 0.002),
    ])
    store.save_new(old)
    return store.root


def report(root: Path, *args: str) -> dict:
    code, out, err = call("stats", "--root", str(root), "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_by_model(root: Path) -> None:
    data = report(root, "--by", "model")
    groups = {group["key"]: group for group in data["groups"]}
    assert list(groups) == ["claude-sonnet-4-5", "gpt-4o", "kimi-k2"]
    assert groups["gpt-4o"] == {
        "key": "gpt-4o", "turns": 4, "answered": 4, "failed": 0, "incomplete": 0,
        "latency_ms_p50": 250.0, "latency_ms_p95": 385.0,  # (n-1)*0.95 = 2.85: 300 + 0.85 * 100
        "input_tokens": 40, "output_tokens": 20, "cost_usd": 0.04, "unpriced_answers": 0,
    }
    claude = groups["claude-sonnet-4-5"]
    assert (claude["turns"], claude["answered"], claude["failed"]) == (2, 1, 1)
    assert (claude["latency_ms_p50"], claude["latency_ms_p95"], claude["cost_usd"], claude["unpriced_answers"]) == (1000.0, 1000.0, None, 1)
    kimi = groups["kimi-k2"]
    assert (kimi["turns"], kimi["failed"], kimi["latency_ms_p50"], kimi["cost_usd"]) == (2, 1, None, 0.002)
    total = data["total"]
    assert (total["key"], total["turns"], total["answered"], total["failed"]) == (None, 8, 6, 2)
    assert (total["input_tokens"], total["output_tokens"], total["cost_usd"], total["unpriced_answers"]) == (150, 75, 0.042, 1)
    assert total["latency_ms_p50"] == 300.0 and (data["by"], data["since"], data["until"]) == ("model", None, None)


def test_by_provider_day_and_session(root: Path) -> None:
    providers = {g["key"]: g["turns"] for g in report(root, "--by", "provider")["groups"]}
    assert providers == {"anthropic": 2, "moonshot": 1, "openai": 4, None: 1}  # the old failure has no provider
    assert report(root, "--by", "provider")["groups"][-1]["key"] is None  # unknown last
    days = {g["key"]: g["turns"] for g in report(root, "--by", "day")["groups"]}
    assert days == {"2026-01-01": 4, "2026-01-02": 4}
    sessions = {g["key"]: g["answered"] for g in report(root, "--by", "session")["groups"]}
    assert sessions == {"s-claude": 1, "s-gpt": 4, "s-old": 1}
    assert report(root)["groups"] == [] and report(root)["total"]["turns"] == 8


def test_since_and_until(root: Path) -> None:
    assert report(root, "--since", "2026-01-02")["total"]["turns"] == 4
    first_day = report(root, "--until", "2026-01-01", "--by", "model")
    assert [g["key"] for g in first_day["groups"]] == ["gpt-4o"] and first_day["until"].startswith("2026-01-01T23:59:59")
    assert report(root, "--since", "2026-01-01T10:02", "--until", "2026-01-01T10:03")["total"]["answered"] == 2
    assert report(root, "--since", "2027-01-01")["total"] == {
        "key": None, "turns": 0, "answered": 0, "failed": 0, "incomplete": 0, "latency_ms_p50": None,
        "latency_ms_p95": None, "input_tokens": 0, "output_tokens": 0, "cost_usd": None, "unpriced_answers": 0,
    }


def test_human_table(root: Path) -> None:
    code, out, _ = call("stats", "--root", str(root), "--by", "provider")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["provider", "turns", "answered", "failed", "incomplete", "p50", "ms", "p95", "ms", "in", "tok", "out", "tok", "cost", "USD"]
    assert lines[1].split() == ["anthropic", "2", "1", "1", "0", "1,000", "1,000", "100", "50", "-", "(+1", "unpriced)"]
    assert lines[3].split()[:9] == ["openai", "4", "4", "0", "0", "250", "385", "40", "20"] and lines[3].endswith("0.040000")
    assert lines[4].startswith("(unknown)") and lines[-1].split()[:4] == ["total", "8", "6", "2"]


def test_errors_are_clear(root: Path) -> None:
    code, _, err = call("stats", "--root", str(root), "--since", "2026-02-01", "--until", "2026-01-01")
    assert code == 2 and "since is later than until" in err
    done = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "sessions.py"), "stats", "--root", str(root), "--by", "week"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "invalid choice: 'week'" in done.stderr
    done = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "sessions.py"), "stats", "--root", str(root), "--since", "yesterday"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--since" in done.stderr


def test_incomplete_turns_are_counted() -> None:
    """Rows with ``turn_status = 'incomplete'`` (a stream cut short) count as turns, not as answers."""
    rows = [("m", "answered", 10.0, 1, 1, 0.5), ("m", "incomplete", 5.0, 1, 0, None), ("m", "failed", None, None, None, None)]
    data = build_report(lambda sql, args: rows, "model")
    group = data.groups[0]
    assert (group.turns, group.answered, group.incomplete, group.failed, group.unpriced_answers) == (3, 1, 1, 1, 0)
    assert (group.latency_ms_p50, group.input_tokens, group.cost_usd) == (10.0, 2, 0.5)
    with pytest.raises(InvalidQuery, match="not a grouping"):
        build_report(lambda sql, args: [], "week")  # type: ignore[arg-type]


def test_percentile() -> None:
    assert percentile([], 0.5) is None and percentile([7.0], 0.95) == 7.0
    assert percentile([1.0, 2.0], 0.5) == 1.5 and percentile(list(map(float, range(1, 101))), 0.95) == pytest.approx(95.05)


def test_the_sqlite_example_in_the_docs_gives_the_same_figures(root: Path) -> None:
    import re
    import sqlite3

    page = (REPO_ROOT / "docs" / "cost-and-usage.md").read_text(encoding="utf-8")
    sql = re.search(r'sqlite3 \.llm_sessions/index\.sqlite "(SELECT turn_model[^"]+)"', page)
    assert sql is not None
    by_model = {g["key"]: g for g in report(root, "--by", "model")["groups"]}  # also builds the index
    with sqlite3.connect(root / "index.sqlite") as conn:
        rows = conn.execute(sql.group(1)).fetchall()
    assert {model: (turns, usd) for model, turns, usd in rows} == {
        key: (group["turns"], pytest.approx(group["cost_usd"]) if group["cost_usd"] is not None else None)
        for key, group in by_model.items()
    }
