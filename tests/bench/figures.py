"""Figures the benchmarks report beyond pytest-benchmark's own table (ratios, lags, RSS).

They are printed at the end of the run (``conftest.pytest_terminal_summary``) and stored in
each benchmark's ``extra_info``, which pytest-benchmark saves in its JSON.
"""

from __future__ import annotations

from scripts.bench.measure import percentile

FIGURES: dict[str, str] = {}


def record(benchmark: object, name: str, value: float, unit: str = "") -> None:
    """Keep ``value`` for the end-of-run summary and in the benchmark's ``extra_info``."""
    FIGURES[name] = f"{value:,.3f}{(' ' + unit) if unit else ''}"
    extra = getattr(benchmark, "extra_info", None)
    if extra is not None:
        extra[name] = value


def percentile_ms(benchmark: object, q: float) -> float:
    """The ``q``-th percentile (ms) of the rounds pytest-benchmark measured."""
    data = benchmark.stats.stats.data  # type: ignore[attr-defined]
    return percentile([value * 1000 for value in data], q)


def median_ms(benchmark: object) -> float:
    return percentile_ms(benchmark, 50)
