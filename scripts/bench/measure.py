"""Small, dependency-free measuring helpers shared by the benchmark scripts and suites."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``samples`` by the nearest-rank method."""
    if not samples:
        raise ValueError("no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class Latency(BaseModel):
    """Latency figures of one measured operation, in milliseconds."""

    name: str
    n: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n": self.n,
            "p50 ms": f"{self.p50_ms:.3f}",
            "p95 ms": f"{self.p95_ms:.3f}",
            "p99 ms": f"{self.p99_ms:.3f}",
            "mean ms": f"{self.mean_ms:.3f}",
            "max ms": f"{self.max_ms:.3f}",
        }


def summarize(name: str, seconds: Sequence[float]) -> Latency:
    """Turn a list of durations in seconds into a ``Latency`` (milliseconds, 3 decimals kept)."""
    ms = [value * 1000.0 for value in seconds]
    return Latency(
        name=name,
        n=len(ms),
        p50_ms=percentile(ms, 50),
        p95_ms=percentile(ms, 95),
        p99_ms=percentile(ms, 99),
        mean_ms=sum(ms) / len(ms),
        max_ms=max(ms),
    )


def time_calls(
    call: Callable[[], object],
    repeat: int,
    *,
    setup: Callable[[], object] | None = None,
    warmup: int = 0,
) -> list[float]:
    """Run ``call`` ``warmup + repeat`` times; return the ``repeat`` durations in seconds.

    ``setup`` runs before every call and is not timed.
    """
    durations: list[float] = []
    for round_number in range(warmup + repeat):
        if setup is not None:
            setup()
        started = time.perf_counter()
        call()
        elapsed = time.perf_counter() - started
        if round_number >= warmup:
            durations.append(elapsed)
    return durations


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of ``rows`` (dicts sharing their keys), columns aligned."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0].keys())
    widths = {column: max(len(str(column)), *(len(str(row.get(column, ""))) for row in rows)) for column in columns}
    lines = ["  ".join(str(column).ljust(widths[column]) for column in columns)]
    lines.append("  ".join("-" * widths[column] for column in columns))
    for row in rows:
        lines.append("  ".join(str(row.get(column, "")).ljust(widths[column]) for column in columns))
    return "\n".join(lines)
