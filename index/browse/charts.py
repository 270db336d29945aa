"""Bar charts as inline SVG, drawn on the server from a query's rows (no JavaScript, no CDN).

A ``Chart`` says which columns to draw: ``x`` (the categories, e.g. a day or a provider), the
value columns ``y``, and optionally ``series`` (a column whose values become stacked series,
e.g. the model). Three shapes cover the canned queries: ``stacked`` (one bar per x, one
segment per series: sums per day and model), ``grouped`` (bars side by side, one per value
column: latency percentiles per provider) and ``hbar`` (horizontal bars for long labels:
the sessions with the most switches). Every text that reaches the SVG is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Literal

# Tableau 10: distinguishable, also for most colour-blind readers.
PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)
WIDTH = 860
FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, 'Noto Sans CJK SC', sans-serif\""
MAX_SERIES = len(PALETTE)  # more series than colours are summed into "other"
MAX_BARS = 60  # a chart of more categories than this shows the last ones (the newest days)


@dataclass(frozen=True)
class Chart:
    """What to draw from a query's rows (columns named as in its SELECT)."""

    kind: Literal["stacked", "grouped", "hbar"]
    x: str
    y: tuple[str, ...]
    title: str
    unit: str = ""
    series: str | None = None


def _number(value: Any) -> float:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return 0.0


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is >= ``value`` (1 for 0)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-12):
            return step * power
    return 10 * power


def tick_count(ceiling: float) -> int:
    """How many intervals to split the axis into so that every tick is a round number."""
    for count in (5, 4):
        step = ceiling / count
        mantissa = step / 10 ** math.floor(math.log10(step))
        if any(math.isclose(mantissa, nice) for nice in (1, 2, 2.5, 5)):
            return count
    return 4


def format_value(value: float) -> str:
    """A short label: 1.2k, 3.4M, 0.0042, 12."""
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:.3g}M"
    if size >= 1e3:
        return f"{value / 1e3:.3g}k"
    if size == 0 or size >= 1:
        return f"{value:.4g}"
    return f"{value:.2g}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _Table:
    """The rows pivoted: categories (in row order), series names, values[category][series]."""

    categories: list[str]
    series: list[str]
    values: dict[str, dict[str, float]]


def pivot(chart: Chart, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> _Table:
    index = {name: i for i, name in enumerate(columns)}
    missing = [name for name in (chart.x, *chart.y, *([chart.series] if chart.series else [])) if name not in index]
    if missing:
        raise ValueError(f"the chart needs the columns {', '.join(missing)}")
    categories: list[str] = []
    series: list[str] = []
    values: dict[str, dict[str, float]] = {}
    for row in rows:
        category = "(none)" if row[index[chart.x]] is None else str(row[index[chart.x]])
        if category not in values:
            categories.append(category)
            values[category] = {}
        if chart.series:
            name = row[index[chart.series]]
            pairs = [("(none)" if name is None else str(name), _number(row[index[chart.y[0]]]))]
        else:
            pairs = [(column, _number(row[index[column]])) for column in chart.y]
        for name, value in pairs:
            if name not in series:
                series.append(name)
            values[category][name] = values[category].get(name, 0.0) + value
    if len(series) > MAX_SERIES:
        totals = {name: sum(v.get(name, 0.0) for v in values.values()) for name in series}
        kept = sorted(series, key=lambda name: -totals[name])[: MAX_SERIES - 1]
        for bucket in values.values():
            other = sum(value for name, value in bucket.items() if name not in kept)
            for name in list(bucket):
                if name not in kept:
                    del bucket[name]
            bucket["other"] = other
        series = [name for name in series if name in kept] + ["other"]
    categories = categories[-MAX_BARS:]
    return _Table(categories, series, {c: values[c] for c in categories})


def _legend(series: Sequence[str], y: float) -> list[str]:
    parts, x = [], 60.0
    for i, name in enumerate(series):
        label = _shorten(name, 28)
        parts.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" rx="2" fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 17:.1f}" y="{y:.1f}" font-size="12" fill="#333">{escape(label)}</text>')
        x += 30 + 7.2 * len(label)
    return parts


def _svg(height: float, title: str, body: list[str]) -> str:
    return (
        f'<svg class="browse-chart" xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height:.0f}"'
        f' width="100%" style="max-width:{WIDTH}px" aria-label="{escape(title)}" {FONT}>'
        f"<title>{escape(title)}</title>"
        f'<text x="10" y="22" font-size="15" font-weight="600" fill="#222">{escape(title)}</text>'
        + "".join(body)
        + "</svg>"
    )


def _vertical(chart: Chart, table: _Table) -> str:
    height, top, bottom, left, right = 340.0, 62.0, 56.0, 70.0, 20.0
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    stacked = chart.kind == "stacked"
    peak = max(
        (sum(v.values()) if stacked else max(v.values(), default=0.0)) for v in table.values.values()
    ) if table.categories else 0.0
    ceiling = nice_ceiling(peak)
    body = _legend(table.series, 46.0)
    ticks = tick_count(ceiling)
    for tick in range(ticks + 1):
        value = ceiling * tick / ticks
        y = top + plot_h - plot_h * tick / ticks
        body.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" fill="#555" text-anchor="end">{escape(format_value(value))}</text>')
    if chart.unit:
        body.append(
            f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" font-size="11" fill="#555" text-anchor="middle">{escape(chart.unit)}</text>'
        )
    slot = plot_w / max(len(table.categories), 1)
    bar_w = min(slot * 0.7, 56.0)
    label_every = max(1, math.ceil(len(table.categories) / 14))
    for i, category in enumerate(table.categories):
        x0 = left + slot * i + (slot - bar_w) / 2
        base = top + plot_h
        width = bar_w / (1 if stacked else max(len(table.series), 1))
        for s, name in enumerate(table.series):
            value = table.values[category].get(name, 0.0)
            if value <= 0:
                continue
            h = plot_h * value / ceiling
            x = x0 if stacked else x0 + width * s
            y = base - h if stacked else top + plot_h - h
            tip = f"{category} · {name}: {format_value(value)}{(' ' + chart.unit) if chart.unit else ''}"
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width - (0 if stacked else 2), 1):.1f}" height="{h:.1f}"'
                f' fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(tip)}</title></rect>'
            )
            if stacked:
                base -= h
        if i % label_every == 0:
            body.append(
                f'<text x="{left + slot * i + slot / 2:.1f}" y="{top + plot_h + 18:.1f}" font-size="11" fill="#444"'
                f' text-anchor="middle">{escape(_shorten(category, int(slot * label_every / 6.5) or 1))}</text>'
            )
    body.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#888"/>')
    body.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 12:.1f}" font-size="12" fill="#555" text-anchor="middle">{escape(chart.x)}</text>'
    )
    return _svg(height, chart.title, body)


def _horizontal(chart: Chart, table: _Table) -> str:
    row_h, top, left, right = 24.0, 40.0, 250.0, 60.0
    height = top + row_h * len(table.categories) + 24
    plot_w = WIDTH - left - right
    name = table.series[0] if table.series else ""
    peak = max((v.get(name, 0.0) for v in table.values.values()), default=0.0)
    ceiling = nice_ceiling(peak)
    body = []
    for i, category in enumerate(table.categories):
        value = table.values[category].get(name, 0.0)
        y = top + row_h * i
        w = plot_w * value / ceiling
        body.append(f'<text x="{left - 8}" y="{y + 16:.1f}" font-size="12" fill="#333" text-anchor="end">{escape(_shorten(category, 34))}</text>')
        body.append(
            f'<rect x="{left}" y="{y + 4:.1f}" width="{max(w, 1):.1f}" height="{row_h - 8:.1f}" rx="2" fill="{PALETTE[0]}">'
            f"<title>{escape(category)}: {escape(format_value(value))}</title></rect>"
        )
        body.append(f'<text x="{left + w + 6:.1f}" y="{y + 16:.1f}" font-size="12" fill="#333">{escape(format_value(value))}</text>')
    return _svg(height, chart.title, body)


def render_chart(chart: Chart, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The SVG of ``chart`` over ``rows`` (``""`` when there is nothing to draw)."""
    table = pivot(chart, columns, rows)
    if not table.categories:
        return ""
    if not any(value > 0 for bucket in table.values.values() for value in bucket.values()):
        # e.g. the cost of local models only: no price known, nothing to compare
        note = f"Nothing to draw: {', '.join(chart.y)} is empty or 0 in every row."
        return _svg(64.0, chart.title, [f'<text x="10" y="48" font-size="13" fill="#555">{escape(note)}</text>'])
    if chart.kind == "hbar":
        return _horizontal(chart, table)
    return _vertical(chart, table)
