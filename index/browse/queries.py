"""The canned queries of the browser view, each with the chart drawn above its rows.

Turns are counted as ``scripts/sessions.py stats`` counts them (``index.usage``): a message
whose ``turn_status`` is set is one question sent to a model (``answered``, ``failed`` or
``incomplete``), grouped by ``turn_model``/``turn_provider`` (the model it was sent to) and by
the UTC day of ``created_at``. ``since``/``until`` are optional dates (``YYYY-MM-DD``, both
days included); left empty, they do not filter. ``percentile(value, fraction)`` is the
aggregate the browser registers on its connections (``index.usage.percentile``: the same
interpolation as ``stats``); the same figures computed in SQL with window functions
(``row_number() OVER``) took 410 ms instead of 240 ms at 100,000 messages. Groups are named by position (``GROUP BY 1``): an alias such as
``model`` would otherwise mean the column ``messages.model`` of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from index.browse.charts import Chart

_DAYS = "(:since = '' OR substr(created_at, 1, 10) >= :since) AND (:until = '' OR substr(created_at, 1, 10) <= :until)"


@dataclass(frozen=True)
class CannedQuery:
    name: str
    title: str
    description: str
    sql: str
    chart: Chart


def _per_day(value: str, alias: str) -> str:
    return f"""SELECT substr(created_at, 1, 10) AS day, coalesce(turn_model, '(not recorded)') AS model,
  {value} AS {alias}
FROM messages
WHERE turn_status IS NOT NULL AND {_DAYS}
GROUP BY 1, 2
ORDER BY 1, 2"""


QUERIES: tuple[CannedQuery, ...] = (
    CannedQuery(
        "cost_per_day",
        "Cost per day and model",
        "Summed cost_usd of the turns of each UTC day, stacked by the model they were sent to. "
        "Answers without a known price (local models, unknown prices) add nothing: the sum is then a lower bound.",
        _per_day("round(sum(cost_usd), 6)", "cost_usd"),
        Chart("stacked", x="day", y=("cost_usd",), series="model", title="Cost per day (USD), by model", unit="USD"),
    ),
    CannedQuery(
        "tokens_per_day",
        "Tokens per day and model",
        "Input plus output tokens of the turns of each UTC day, as the providers reported them, stacked by model.",
        _per_day("sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))", "tokens"),
        Chart("stacked", x="day", y=("tokens",), series="model", title="Tokens per day (input + output), by model", unit="tokens"),
    ),
    CannedQuery(
        "turns_per_day",
        "Turns per model over time",
        "Questions sent to each model per UTC day (answered, failed or cut short).",
        _per_day("count(*)", "turns"),
        Chart("stacked", x="day", y=("turns",), series="model", title="Turns per day, by model", unit="turns"),
    ),
    CannedQuery(
        "usage_per_model",
        "Cost, tokens and failures per model",
        "One row per model over the whole range: turns, failures, answers cut short, tokens and cost.",
        f"""SELECT coalesce(turn_model, '(not recorded)') AS model, count(*) AS turns,
  sum(turn_status = 'failed') AS failed, sum(turn_status = 'incomplete') AS incomplete,
  sum(coalesce(input_tokens, 0)) AS input_tokens, sum(coalesce(output_tokens, 0)) AS output_tokens,
  round(sum(cost_usd), 6) AS cost_usd, sum(turn_status = 'answered' AND cost_usd IS NULL) AS unpriced_answers
FROM messages
WHERE turn_status IS NOT NULL AND {_DAYS}
GROUP BY 1
ORDER BY 7 DESC, 2 DESC""",
        Chart("hbar", x="model", y=("cost_usd",), title="Cost per model (USD)", unit="USD"),
    ),
    CannedQuery(
        "latency_per_provider",
        "Latency percentiles per provider",
        "p50, p95 and p99 of latency_ms over the answered turns of each provider (linear interpolation, as in `sessions.py stats`).",
        f"""SELECT coalesce(turn_provider, '(not recorded)') AS provider, count(*) AS answered,
  round(percentile(latency_ms, 0.50)) AS p50_ms, round(percentile(latency_ms, 0.95)) AS p95_ms,
  round(percentile(latency_ms, 0.99)) AS p99_ms
FROM messages
WHERE turn_status = 'answered' AND latency_ms IS NOT NULL AND {_DAYS}
GROUP BY 1
ORDER BY 1""",
        Chart("grouped", x="provider", y=("p50_ms", "p95_ms", "p99_ms"), title="Latency per provider (ms)", unit="ms"),
    ),
    CannedQuery(
        "most_switches",
        "Sessions with the most model switches",
        "The 30 sessions that changed model most often; open one to see where it switched and the warning it got.",
        """SELECT session_id, coalesce(title, session_id) AS title, switch_count, message_count, models_used, updated_at
FROM sessions
WHERE switch_count > 0
ORDER BY switch_count DESC, updated_at DESC
LIMIT 30""",
        Chart("hbar", x="title", y=("switch_count",), title="Model switches per session", unit="switches"),
    ),
)

CHARTS: dict[str, Chart] = {query.name: query.chart for query in QUERIES}


def canned_queries() -> dict[str, dict[str, Any]]:
    """The ``queries`` block of the database's metadata."""
    return {
        query.name: {"sql": query.sql, "title": query.title, "description": query.description, "hide_sql": True}
        for query in QUERIES
    }
