"""Watcher lag: file written -> searchable, at a sustained write rate (bounded run).

Target (issue 6): p95 < 300 ms at 100 writes/s. One round of ``watcher_seconds`` seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.bench.corpus import default_jobs
from scripts.bench.watcher_lag import measure_lag
from scripts.bench.workloads import ensure_corpus
from tests.bench.figures import record
from tests.bench.sizes import SEED, BenchSizes


@pytest.fixture(scope="module")
def watcher_root(tmp_path_factory: pytest.TempPathFactory, sizes: BenchSizes) -> Path:
    root = tmp_path_factory.mktemp("watcher-corpus")
    sessions = 10_000 if sizes.full else 2_000
    return ensure_corpus(root, sessions, 10, SEED, jobs=default_jobs())


def test_watcher_lag(benchmark, watcher_root: Path, sizes: BenchSizes) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "watcher"
    figures = benchmark.pedantic(lambda: measure_lag(watcher_root, sizes.watcher_rate, sizes.watcher_seconds, seed=SEED), rounds=1)
    assert figures.unseen == 0, "every write became searchable"
    record(benchmark, "watcher writes/s achieved", figures.rate_achieved)
    record(benchmark, "watcher lag p50 ms", figures.lag.p50_ms)
    record(benchmark, "watcher lag p95 ms", figures.lag.p95_ms)
    record(benchmark, "watcher lag p99 ms", figures.lag.p99_ms)
