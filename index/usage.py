"""The usage report behind ``scripts/sessions.py stats``: chat turns, failures, latency, tokens
and cost, per model, provider, day or session, read from the index only.

A *turn* is one question sent to a model: a message whose ``turn_status`` column is set
(``store.schema.turn_outcome``): ``answered`` (the answer), ``failed`` (the question, when the
call failed) or ``incomplete`` (a partial answer kept when a stream stopped). Latency
percentiles are over answered turns with a recorded ``latency_ms`` (linear interpolation
between the nearest ranks); tokens and cost add up every turn that has them; costs are added
exactly (decimal), and ``unpriced_answers`` counts answered turns without a known price.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

from index.models import InvalidQuery
from index.times import iso

Grouping = Literal["model", "provider", "day", "session"]
#: How each ``--by`` value groups the ``messages`` rows (a column or an expression of one).
GROUP_KEYS: dict[str, str] = {
    "model": "turn_model",
    "provider": "turn_provider",
    "day": "substr(created_at, 1, 10)",
    "session": "session_id",
}
TURN_STATUSES = ("answered", "failed", "incomplete")


class UsageGroup(BaseModel):
    """The figures of one group (``key`` None: the model/provider was not recorded)."""

    key: str | None
    turns: int = 0
    answered: int = 0
    failed: int = 0
    incomplete: int = 0
    latency_ms_p50: float | None = None
    latency_ms_p95: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    unpriced_answers: int = 0


class UsageReport(BaseModel):
    by: Grouping | None
    since: datetime | None
    until: datetime | None
    groups: list[UsageGroup]
    total: UsageGroup


def percentile(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` quantile of ``values`` (inclusive linear interpolation), None if empty."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[round(fraction * 100) - 1]


class _Tally:
    def __init__(self) -> None:
        self.counts = dict.fromkeys(TURN_STATUSES, 0)
        self.latencies: list[float] = []
        self.input_tokens = 0
        self.output_tokens = 0
        self.costs: list[Decimal] = []
        self.unpriced = 0

    def add(self, status: str, latency: float | None, input_tokens: int | None, output_tokens: int | None, cost: float | None) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        if status == "answered":
            if latency is not None:
                self.latencies.append(latency)
            if cost is None:
                self.unpriced += 1
        self.input_tokens += input_tokens or 0
        self.output_tokens += output_tokens or 0
        if cost is not None:
            self.costs.append(Decimal(repr(cost)))

    def group(self, key: str | None) -> UsageGroup:
        return UsageGroup(
            key=key,
            turns=sum(self.counts.values()),
            answered=self.counts["answered"],
            failed=self.counts["failed"],
            incomplete=self.counts["incomplete"],
            latency_ms_p50=percentile(self.latencies, 0.50),
            latency_ms_p95=percentile(self.latencies, 0.95),
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=float(sum(self.costs, Decimal(0))) if self.costs else None,
            unpriced_answers=self.unpriced,
        )


def turn_query(by: Grouping | None, since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    """The SQL (and its arguments) that fetches every turn in the time range with its group key."""
    if by is not None and by not in GROUP_KEYS:
        raise InvalidQuery(f"--by {by!r} is not a grouping: use one of {', '.join(GROUP_KEYS)}")
    if since is not None and until is not None and since > until:
        raise InvalidQuery("since is later than until: nothing can match")
    key = GROUP_KEYS[by] if by is not None else "NULL"
    clauses, args = ["turn_status IS NOT NULL"], []
    if since is not None:
        clauses.append("created_at >= ?")
        args.append(iso(since))
    if until is not None:
        clauses.append("created_at <= ?")
        args.append(iso(until))
    sql = (
        f"SELECT {key}, turn_status, latency_ms, input_tokens, output_tokens, cost_usd FROM messages"
        f" WHERE {' AND '.join(clauses)}"
    )
    return sql, args


def build_report(
    read: Callable[[str, list[Any]], Iterable[tuple[Any, ...]]],
    by: Grouping | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> UsageReport:
    """The report from ``read(sql, args)`` (a ``SearchIndex`` read). Groups are sorted by key
    (days in time order), a group without a key last."""
    sql, args = turn_query(by, since, until)
    tallies: dict[str | None, _Tally] = {}
    total = _Tally()
    for key, status, latency, input_tokens, output_tokens, cost in read(sql, args):
        tallies.setdefault(key, _Tally()).add(status, latency, input_tokens, output_tokens, cost)
        total.add(status, latency, input_tokens, output_tokens, cost)
    keys = sorted(tallies, key=lambda key: (key is None, key or ""))
    groups = [tallies[key].group(key) for key in keys] if by is not None else []
    return UsageReport(by=by, since=since, until=until, groups=groups, total=total.group(None))
