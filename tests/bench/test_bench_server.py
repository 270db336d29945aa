"""Peak RSS of the real server process (``server.py --root`` over stdio, MCP client) with the
search corpus indexed, after the 20 benchmark queries sent through ``search_sessions``.

Target (issue 6): < 150 MB with 100,000 sessions indexed (``BENCH_FULL=1``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scripts.bench.server_rss import measure_rss
from tests.bench.figures import record
from tests.bench.sizes import SEED, BenchSizes


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status")
def test_server_peak_rss(benchmark, indexed_root: Path, sizes: BenchSizes) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "server"
    figures = benchmark.pedantic(
        lambda: measure_rss(indexed_root.resolve(), SEED, sizes.search_sessions, sizes.search_messages, rounds=2), rounds=1
    )
    assert figures.total_hits > 0
    record(benchmark, "server peak RSS (VmHWM) MB", figures.vm_hwm_mb)
    record(benchmark, "server search_sessions round trip p50 ms", figures.tool_round_trip.p50_ms)
    record(benchmark, "server search_sessions round trip p95 ms", figures.tool_round_trip.p95_ms)
