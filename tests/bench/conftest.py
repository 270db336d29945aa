"""Fixtures of the benchmark suites: corpus sizes and corpora built once per run.

``make bench`` runs the quick sizes (well under two minutes); ``BENCH_FULL=1`` (``make
bench-full``) selects the sizes of the issue (100,000 sessions / 1,000,000 messages).
Benchmarks are ordinary pytest-benchmark tests: ``make test`` passes ``--benchmark-skip`` so
every test using the ``benchmark`` fixture is skipped there, and fixtures below are only built
for tests that run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from scripts.bench.corpus import default_jobs, stderr_progress
from scripts.bench.machine import describe
from scripts.bench.workloads import TurnSessions, add_turn_sessions, ensure_corpus

SEED = 1


class BenchSizes(BaseModel):
    full: bool
    turn_sessions: int  # sessions on disk during the per-turn benchmark
    turn_large_messages: int  # messages of the long session of the per-turn benchmark
    search_sessions: int
    search_messages: int  # per session
    naive_queries: int  # how many of the 20 queries also run as a naive scan
    watcher_seconds: float
    watcher_rate: float


def bench_sizes() -> BenchSizes:
    if os.environ.get("BENCH_FULL", "") not in ("", "0"):
        return BenchSizes(
            full=True,
            turn_sessions=10_000,
            turn_large_messages=1000,
            search_sessions=100_000,
            search_messages=10,
            naive_queries=4,
            watcher_seconds=10.0,
            watcher_rate=100.0,
        )
    return BenchSizes(
        full=False,
        turn_sessions=10_000,
        turn_large_messages=1000,
        search_sessions=10_000,
        search_messages=10,
        naive_queries=20,
        watcher_seconds=3.0,
        watcher_rate=100.0,
    )


@pytest.fixture(scope="session")
def sizes() -> BenchSizes:
    return bench_sizes()


@pytest.fixture(scope="session", autouse=True)
def _machine_line(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"machine: {describe().line()}; sizes: {bench_sizes().model_dump()}")


@pytest.fixture(scope="session")
def turn_root(tmp_path_factory: pytest.TempPathFactory, sizes: BenchSizes) -> Path:
    """A root with ``turn_sessions`` corpus sessions of 10 messages (no index)."""
    root = tmp_path_factory.mktemp("turn-corpus")
    return ensure_corpus(root, sizes.turn_sessions, 10, SEED, jobs=default_jobs(), progress=stderr_progress("turn corpus"))


@pytest.fixture(scope="session")
def turn_sessions(turn_root: Path, sizes: BenchSizes) -> TurnSessions:
    return add_turn_sessions(turn_root, SEED, small_messages=10, large_messages=sizes.turn_large_messages)


@pytest.fixture(scope="session")
def search_root(tmp_path_factory: pytest.TempPathFactory, sizes: BenchSizes) -> Path:
    """A root with the search corpus (no index yet)."""
    root = tmp_path_factory.mktemp("search-corpus")
    return ensure_corpus(
        root, sizes.search_sessions, sizes.search_messages, SEED, jobs=default_jobs(), progress=stderr_progress("search corpus")
    )
