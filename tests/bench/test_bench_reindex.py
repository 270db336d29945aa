"""Full reindex throughput and a no-op incremental reindex over the search corpus.

Targets (issue 6): 100,000 sessions / 1,000,000 messages in < 60 s on 2 cores; no-op < 2 s.
"""

from __future__ import annotations

from pathlib import Path

from scripts.bench.reindex_throughput import full_reindex, noop_reindex, remove_index
from store.paths import Layout
from tests.bench.sizes import BenchSizes
from tests.bench.figures import record


def test_full_reindex(benchmark, search_root: Path, sizes: BenchSizes) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "reindex"
    seconds = benchmark.pedantic(lambda: full_reindex(search_root, progress=False), setup=lambda: remove_index(search_root), rounds=1)
    assert Layout(search_root).index.exists()
    messages = sizes.search_sessions * sizes.search_messages
    record(benchmark, "full reindex s", seconds)
    record(benchmark, "full reindex sessions/s", sizes.search_sessions / seconds)
    record(benchmark, "full reindex messages/s", messages / seconds)


def test_noop_reindex(benchmark, indexed_root: Path) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "reindex"
    benchmark.pedantic(lambda: noop_reindex(indexed_root), rounds=3, warmup_rounds=1)
    record(benchmark, "no-op reindex s", benchmark.stats.stats.median)
