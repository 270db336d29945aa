"""Benchmark sizes: quick by default, the sizes of issue 6 with ``BENCH_FULL=1``."""

from __future__ import annotations

import os

from pydantic import BaseModel

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
