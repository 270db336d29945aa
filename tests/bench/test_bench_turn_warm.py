"""turn_latency.py --warm: consecutive turns without restoring the file (tiny sizes, no timing asserts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from scripts.bench.chat_paths import LoopRunner, bench_app, close_app, unified_turn
from scripts.bench.turn_latency import main, measure_chat_turns
from scripts.bench.workloads import add_turn_sessions, ensure_corpus
from store.session_store import SessionStore
from utils.feature_flags import LLM_UNIFIED as FLAG

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_warm_turns_grow_the_session_and_the_file_is_restored_after(tmp_path: Path, monkeypatch: Any) -> None:
    root = tmp_path / "root"
    ensure_corpus(root, 5, 2, 1, jobs=1)
    turn = add_turn_sessions(root, 1, small_messages=10, large_messages=20)
    store = SessionStore(root)
    path = store.path_for(turn.small_id)
    original = path.read_bytes()
    monkeypatch.setenv(FLAG, "1")
    runner = LoopRunner()
    app = bench_app(root, tmp_path / "legacy")
    counts: list[int] = []
    inner = unified_turn(app, turn.small_id, store.load(turn.small_id).current_model or "kimi-k2")

    async def counted(number: int) -> dict[str, Any]:
        reply = await inner(number)
        counts.append(len(SessionStore(root).load(turn.small_id).messages))
        return reply

    def factory(number: int) -> Coroutine[Any, Any, dict[str, Any]]:
        return counted(number)

    try:
        warm = measure_chat_turns(runner, factory, path, 3, warmup=1, restore=False)
        cold = measure_chat_turns(runner, factory, path, 2, warmup=0, restore=True)
    finally:
        close_app(app)
        runner.close()
    assert len(warm) == 3 and len(cold) == 2
    # Warm: each turn adds a user and an assistant message to the last one; cold: back to 10 + 2 each time.
    assert counts == [12, 14, 16, 18, 12, 12]
    assert path.read_bytes() == original


def test_turn_latency_warm_script_reports_cold_and_warm_rows(tmp_path: Path) -> None:
    root = tmp_path / "root"
    out = tmp_path / "t.json"
    done = subprocess.run(
        [sys.executable, "scripts/bench/turn_latency.py", "--root", str(root), "--sessions", "10", "--large", "20", "--turns", "2", "--warm", "--json", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        env={**os.environ, FLAG: "1"},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text(encoding="utf-8"))["report"]
    names = [result["name"] for result in report["results"]]
    assert names == [
        "store append, 10 msgs",
        "unified _chat_unified, 10 msgs",
        "unified, no inline index, 10 msgs",
        "legacy kimi_chat (LLM_UNIFIED=0), 10 msgs",
        "unified warm, 10 msgs",
        "unified warm, no inline index, 10 msgs",
        "legacy warm, 10 msgs",
        "store append, 20 msgs",
        "unified _chat_unified, 20 msgs",
        "unified, no inline index, 20 msgs",
        "legacy kimi_chat (LLM_UNIFIED=0), 20 msgs",
        "unified warm, 20 msgs",
        "unified warm, no inline index, 20 msgs",
        "legacy warm, 20 msgs",
    ]
    assert all(result["n"] == 2 for result in report["results"])
    assert {"unified/legacy warm p50, 10 msgs", "unified/legacy warm p99, 20 msgs"} <= set(report["ratios"])
    assert "warm rows: consecutive turns" in done.stdout


def test_warm_flag_in_process(tmp_path: Path, capsys: Any) -> None:
    assert main(["--root", str(tmp_path / "r"), "--sessions", "3", "--large", "12", "--turns", "1", "--warm"]) == 0
    assert "legacy warm, 12 msgs" in capsys.readouterr().out
