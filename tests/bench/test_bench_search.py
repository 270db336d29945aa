"""Search latency of the 20 mixed queries, and a naive scan of the JSON files in the same run.

Target (issue 6): p95 < 20 ms over 100,000 sessions / 1,000,000 messages (``BENCH_FULL=1``).
The ratios naive/index are computed from medians of the same queries measured in this run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.bench.measure import percentile
from scripts.bench.queries import BenchQuery, bench_queries, grep_scan, naive_json_scan
from store.paths import Layout
from tests.bench.figures import median_ms, record
from tests.bench.sizes import SEED, bench_sizes

QUERIES = bench_queries(SEED, bench_sizes().search_sessions)
INDEX_ROUNDS = 30
INDEX_MEDIANS: dict[str, float] = {}
INDEX_SAMPLES: list[float] = []
NAIVE: dict[str, dict[str, float]] = {"json scan": {}, "grep -r": {}}


@pytest.fixture(scope="module")
def search_index(indexed_root: Path) -> Iterator[object]:
    from index import SearchIndex

    with SearchIndex(indexed_root) as index:
        yield index


@pytest.mark.parametrize("query", QUERIES, ids=[query.name for query in QUERIES])
def test_index_search(benchmark, search_index, query: BenchQuery) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "search: index (20 queries)"
    kwargs = query.search_kwargs()
    hits = benchmark.pedantic(lambda: search_index.search(query.query, **kwargs), rounds=INDEX_ROUNDS, warmup_rounds=2)
    if query.name == "no hit":
        assert hits == []
    else:
        assert hits, f"{query.name}: the corpus always holds matches for this query"
    INDEX_MEDIANS[query.name] = median_ms(benchmark)
    INDEX_SAMPLES.extend(value * 1000 for value in benchmark.stats.stats.data)
    if len(INDEX_MEDIANS) == len(QUERIES):
        record(benchmark, "search p50 ms (20 queries, all rounds)", percentile(INDEX_SAMPLES, 50))
        record(benchmark, "search p95 ms (20 queries, all rounds)", percentile(INDEX_SAMPLES, 95))
        record(benchmark, "search p99 ms (20 queries, all rounds)", percentile(INDEX_SAMPLES, 99))


def _naive_case(query: BenchQuery) -> object:
    position = QUERIES.index(query)
    return pytest.param(
        query,
        id=query.name,
        marks=[pytest.mark.skipif(position >= bench_sizes().naive_queries, reason="naive scans only for the first queries at this size")],
    )


def _record_ratio(benchmark, method: str, query: BenchQuery) -> None:  # type: ignore[no-untyped-def]
    NAIVE[method][query.name] = median_ms(benchmark)
    names = [name for name in NAIVE[method] if name in INDEX_MEDIANS]
    if names:
        ratio = sum(NAIVE[method][name] for name in names) / sum(INDEX_MEDIANS[name] for name in names)
        record(benchmark, f"{method} / index (sum of medians, same queries)", ratio, "x")
        record(benchmark, f"{method} queries compared", len(names))


@pytest.mark.parametrize("query", [_naive_case(query) for query in QUERIES])
def test_naive_json_scan(benchmark, indexed_root: Path, query: BenchQuery) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "search: naive json scan"
    sessions = Layout(indexed_root).sessions
    hits = benchmark.pedantic(lambda: naive_json_scan(sessions, query), rounds=1)
    assert (hits == []) == (query.name == "no hit")
    _record_ratio(benchmark, "json scan", query)


@pytest.mark.parametrize("query", [_naive_case(query) for query in QUERIES])
def test_grep(benchmark, indexed_root: Path, query: BenchQuery) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "search: grep -r (first term only)"
    sessions = Layout(indexed_root).sessions
    files = benchmark.pedantic(lambda: grep_scan(sessions, query), rounds=1)
    assert (files == 0) == (query.name == "no hit")
    _record_ratio(benchmark, "grep -r", query)
