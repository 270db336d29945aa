"""Per-turn overhead of ``_chat_unified`` vs the legacy ``kimi_chat`` path, one run.

The provider is ``InstantAdapter`` (in-process, answers at once), so a turn measures the
session layer only: load, prompt building, append, atomic persist, views, and the index
update that makes the turn searchable before the call returns. The session file is reset
(untimed) before every round, so each round sees the same size. Targets (issue 6): p50 < 1 ms,
p99 < 5 ms with 10,000 sessions on disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

from scripts.bench.chat_paths import LoopRunner, bench_app, close_app, legacy_turn, unified_turn, write_legacy_session
from scripts.bench.workloads import LARGE_TURN_INDEX, SMALL_TURN_INDEX, FileReset, TurnSessions
from tests.bench.sizes import SEED
from tests.bench.figures import median_ms, percentile_ms, record

ROUNDS = {"small": 200, "large": 30}
MEDIANS: dict[str, float] = {}


@pytest.fixture
def runner() -> Iterator[LoopRunner]:
    loop = LoopRunner()
    yield loop
    loop.close()


@pytest.fixture
def app(turn_root: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    built = bench_app(turn_root, tmp_path / "legacy")
    yield built
    close_app(built)


def _figures(benchmark, label: str) -> None:  # type: ignore[no-untyped-def]
    MEDIANS[label] = median_ms(benchmark)
    record(benchmark, f"{label} p50 ms", median_ms(benchmark))
    record(benchmark, f"{label} p99 ms", percentile_ms(benchmark, 99))


@pytest.mark.parametrize("size", ["small", "large"])
def test_unified_turn(benchmark, app, runner: LoopRunner, turn_sessions: TurnSessions, size: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LLM_UNIFIED", "1")
    session_id = turn_sessions.small_id if size == "small" else turn_sessions.large_id
    path = app.store.path_for(session_id)
    model = app.store.load(session_id).current_model
    before = len(app.store.load(session_id).messages)
    reset = FileReset(path)
    turn = unified_turn(app, session_id, model)
    numbers = count()
    benchmark.group = f"turn: {size} session"
    try:
        result = benchmark.pedantic(lambda: runner.run(turn(next(numbers))), setup=reset, rounds=ROUNDS[size], warmup_rounds=2)
        assert result["session_id"] == session_id and result["warnings"] == []
        assert len(app.store.load(session_id).messages) == before + 2
    finally:
        reset()
    _figures(benchmark, f"unified turn, {size}")


@pytest.mark.parametrize("size", ["small", "large"])
def test_legacy_turn(benchmark, app, runner: LoopRunner, turn_sessions: TurnSessions, size: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LLM_UNIFIED", "0")
    messages = turn_sessions.small_messages if size == "small" else turn_sessions.large_messages
    session_id = write_legacy_session(app.legacy_root, SEED, SMALL_TURN_INDEX if size == "small" else LARGE_TURN_INDEX, messages)
    reset = FileReset(app.legacy_root / f"{session_id}.json")
    turn = legacy_turn(app, session_id)
    numbers = count()
    benchmark.group = f"turn: {size} session"
    try:
        result = benchmark.pedantic(lambda: runner.run(turn(next(numbers))), setup=reset, rounds=ROUNDS[size], warmup_rounds=2)
        assert result["session_id"] == session_id
    finally:
        reset()
    label = f"legacy turn, {size}"
    _figures(benchmark, label)
    unified = MEDIANS.get(f"unified turn, {size}")
    if unified is not None:
        record(benchmark, f"ratio unified/legacy p50, {size}", unified / MEDIANS[label])
