"""Search latency over a synthetic corpus: p50/p95/p99 of 20 mixed queries (plus, with
``--held-out``, 12 held-out ones: the most common word, prefixes, OR, mixed CJK + Latin, common
words under filters), and the ratio against a naive scan of the JSON files (a Python ``json``
scan and ``grep -r``) in the same run.

The corpus (``make_corpus``) and its index are built in ``--root`` if missing; a complete corpus
with the same parameters is reused.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pydantic import BaseModel, Field  # noqa: E402

from scripts.bench.corpus import default_jobs, stderr_progress  # noqa: E402
from scripts.bench.machine import describe, save_results  # noqa: E402
from scripts.bench.measure import Latency, format_table, percentile, summarize, time_calls  # noqa: E402
from scripts.bench.queries import BenchQuery, bench_queries, grep_scan, held_out_queries, naive_json_scan  # noqa: E402
from scripts.bench.workloads import add_corpus_arguments, ensure_corpus  # noqa: E402
from store.paths import Layout, resolve_root  # noqa: E402


class QueryResult(BaseModel):
    name: str
    kind: str
    query: str
    filters: dict[str, str]
    hits: int
    index: Latency
    naive_json_ms: float | None = None
    grep_ms: float | None = None
    samples_ms: list[float] = Field(default_factory=list, exclude=True)


class SearchReport(BaseModel):
    queries_run: int
    sessions: int
    messages: int
    index_build_seconds: float | None
    queries: list[QueryResult]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    naive_json_over_index: float | None
    grep_over_index: float | None


def ensure_index(root: Path) -> float | None:
    """Build the index of ``root`` if it has none; the seconds it took, or None if it existed."""
    from index import Indexer

    if Layout(root).index.exists():
        with Indexer(root) as indexer:
            indexer.sync()
        return None
    started = time.perf_counter()
    with Indexer(root) as indexer:
        indexer.sync(full=True, progress=stderr_progress("index"))
    return time.perf_counter() - started


def run_queries(
    root: Path,
    queries: Sequence[BenchQuery],
    *,
    repeat: int,
    naive: int,
    warmup: int = 2,
    rank_window: int | None = None,
) -> list[QueryResult]:
    """Time every query ``repeat`` times through ``SearchIndex.search`` (with ``rank_window``, or
    the default window); time the first ``naive`` queries once each as a naive JSON scan and as
    ``grep -r``."""
    from index import SearchIndex

    sessions_dir = Layout(root).sessions
    results: list[QueryResult] = []
    with SearchIndex(root, rank_window=rank_window) as index:
        for position, query in enumerate(queries):
            kwargs = query.search_kwargs()
            hits = len(index.search(query.query, **kwargs))
            durations = time_calls(lambda: index.search(query.query, **kwargs), repeat, warmup=warmup)
            result = QueryResult(
                name=query.name,
                kind=query.kind,
                query=query.query,
                filters={key: str(value) for key, value in kwargs.items()},
                hits=hits,
                index=summarize(query.name, durations),
                samples_ms=[value * 1000 for value in durations],
            )
            if position < naive:
                result.naive_json_ms = time_calls(lambda: naive_json_scan(sessions_dir, query), 1)[0] * 1000
                result.grep_ms = time_calls(lambda: grep_scan(sessions_dir, query), 1)[0] * 1000
            results.append(result)
    return results


def _ratio(results: list[QueryResult], attribute: str) -> float | None:
    pairs = [(getattr(r, attribute), r.index.p50_ms) for r in results if getattr(r, attribute) is not None]
    if not pairs:
        return None
    return sum(naive for naive, _ in pairs) / sum(index for _, index in pairs)


def search_report(
    root: Path,
    sessions: int,
    messages: int,
    seed: int,
    *,
    repeat: int,
    naive: int,
    build_seconds: float | None,
    held_out: bool = False,
    rank_window: int | None = None,
) -> SearchReport:
    queries = bench_queries(seed, sessions) + (held_out_queries(seed, sessions) if held_out else [])
    results = run_queries(root, queries, repeat=repeat, naive=naive, rank_window=rank_window)
    # p50/p95/p99 over every timed call of every query: "a query" is any of them, equally likely.
    pooled = [value for result in results for value in result.samples_ms]
    return SearchReport(
        queries_run=len(results),
        sessions=sessions,
        messages=sessions * messages,
        index_build_seconds=build_seconds,
        queries=results,
        p50_ms=percentile(pooled, 50),
        p95_ms=percentile(pooled, 95),
        p99_ms=percentile(pooled, 99),
        naive_json_over_index=_ratio(results, "naive_json_ms"),
        grep_over_index=_ratio(results, "grep_ms"),
    )


def report_rows(report: SearchReport) -> list[dict[str, Any]]:
    rows = []
    for result in report.queries:
        rows.append(
            {
                "query": result.name,
                "text": result.query,
                "filters": ",".join(result.filters) or "-",
                "hits": result.hits,
                "p50 ms": f"{result.index.p50_ms:.2f}",
                "p95 ms": f"{result.index.p95_ms:.2f}",
                "json scan ms": "-" if result.naive_json_ms is None else f"{result.naive_json_ms:.0f}",
                "grep -r ms": "-" if result.grep_ms is None else f"{result.grep_ms:.0f}",
            }
        )
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="search_latency.py", description=__doc__.split("\n\n")[0])
    add_corpus_arguments(parser, sessions=10_000)
    parser.add_argument("--repeat", type=int, default=50, help="timed runs per query (default: 50)")
    parser.add_argument("--naive", type=int, default=20, help="how many queries also run as naive scans (default: 20)")
    parser.add_argument("--held-out", action="store_true", help="also time the 12 held-out queries (issue 11)")
    parser.add_argument(
        "--rank-window",
        type=int,
        default=None,
        metavar="N",
        help="rank a query with more than N matches among its N newest only (default: $LLM_SEARCH_RANK_WINDOW, else 20000)",
    )
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.sessions < 1 or args.messages < 1 or args.repeat < 1 or not 0 <= args.naive <= 20 or (args.rank_window is not None and args.rank_window < 1):
        print(
            "search_latency.py: --sessions, --messages, --repeat, --rank-window must be >= 1 and --naive within 0..20",
            file=sys.stderr,
        )
        return 2
    machine = describe()
    root = resolve_root(args.root)
    ensure_corpus(root, args.sessions, args.messages, args.seed, jobs=default_jobs(), progress=stderr_progress("corpus"))
    build_seconds = ensure_index(root)
    report = search_report(
        root,
        args.sessions,
        args.messages,
        args.seed,
        repeat=args.repeat,
        naive=args.naive,
        build_seconds=build_seconds,
        held_out=args.held_out,
        rank_window=args.rank_window,
    )
    print(machine.line())
    print(f"corpus: {report.sessions} sessions / {report.messages} messages at {root}")
    print(format_table(report_rows(report)))
    print(f"all {report.queries_run} queries: p50 {report.p50_ms:.2f} ms, p95 {report.p95_ms:.2f} ms, p99 {report.p99_ms:.2f} ms")
    if report.naive_json_over_index is not None:
        print(f"naive json scan / index (p50, same queries): {report.naive_json_over_index:,.0f}x")
    if report.grep_over_index is not None:
        print(f"grep -r / index (p50, same queries): {report.grep_over_index:,.0f}x")
    if args.json:
        save_results(args.json, machine, report=report)
    return 0


if __name__ == "__main__":
    from scripts.bench.corpus import cli_exit_code

    sys.exit(cli_exit_code(main))
