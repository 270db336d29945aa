"""Ranking full-text matches: the sources searched, the filters as SQL, the rank window, and the
one pass over the newest matches that scores, picks and snippets the best of them."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from index import schema
from index.times import iso

# A query that matches more rows than this is ranked among its newest RANK_WINDOW matches only
# (highest rowid: the most recently indexed). Scoring every match of a very common term costs
# about 0.4 us a match (150 ms for "session" at 1M messages); FTS5 walks its doclists in rowid
# order, so ``ranked`` walks the newest matches first and stops after the window. Below the
# threshold the ranking is exact. ``$LLM_SEARCH_RANK_WINDOW`` overrides it.
RANK_WINDOW = 20_000
RANK_WINDOW_ENV = "LLM_SEARCH_RANK_WINDOW"
SNIPPET_TOKENS = 16
_NO_ROWS = (1, 0)  # a rowid range nothing is in


@dataclass(frozen=True)
class Source:
    """A full-text table and its content table: what a ranked search reads from them."""

    fts: str
    table: str  # the content table with its alias
    key: str  # the content table's column that is the full-text table's rowid
    # session_id, message_id, model, role, created_at, text (None where a snippet is made), position
    columns: str
    snippets: bool  # FTS5 makes the snippets (word tables); else the text is cut in Python
    score: str  # the bm25 call


_MESSAGE_COLUMNS = "m.session_id, m.message_id, m.model, m.role, m.created_at, {text}, m.position"
_TITLE_COLUMNS = "s.session_id, NULL, s.current_model, NULL, s.created_at, {text}, -1"

# The messages' word table also has a ``meta`` column (role and model tokens, see
# index.schema): weight 0, so a filter's token adds nothing to a score.
MESSAGES_WORDS = Source(
    "messages_fts", "messages m", "m.message_rowid", _MESSAGE_COLUMNS.format(text="NULL"), True, "bm25(messages_fts, 1.0, 0.0)"
)
TITLES_WORDS = Source(
    "sessions_fts", "sessions s", "s.session_rowid", _TITLE_COLUMNS.format(text="NULL"), True, "bm25(sessions_fts)"
)
# Trigram snippets would cut words at token (3-character) boundaries: the text is cut in Python.
MESSAGES_TRIGRAMS = Source(
    "messages_trigram", "messages m", "m.message_rowid", _MESSAGE_COLUMNS.format(text="m.text"), False, "bm25(messages_trigram)"
)
TITLES_TRIGRAMS = Source(
    "sessions_trigram", "sessions s", "s.session_rowid", _TITLE_COLUMNS.format(text="s.title"), False, "bm25(sessions_trigram)"
)

def configured_rank_window(environ: Mapping[str, str] | None = None) -> int:
    """``$LLM_SEARCH_RANK_WINDOW`` if set, else ``RANK_WINDOW``; ``ValueError`` naming the
    variable if it is not a positive whole number."""
    raw = (os.environ if environ is None else environ).get(RANK_WINDOW_ENV, "").strip()
    if not raw:
        return RANK_WINDOW
    value = int(raw) if raw.isdigit() else 0
    if value < 1:
        raise ValueError(
            f"{RANK_WINDOW_ENV} must be a positive whole number of matches (default {RANK_WINDOW}), got {raw!r}"
        )
    return value


def words_match(match: str, model: str | None, role: str | None) -> str:
    """``match`` for the messages' word table: scoped to the ``text`` column, and the ``model``
    and ``role`` filters as ``meta`` tokens (``index.schema.message_meta_sql``)."""
    scoped = f"text : ({match})"
    if model is not None:
        scoped += f" AND meta : m{model.encode().hex()}"
    if role is not None:
        scoped += f" AND meta : r{role.encode().hex()}"
    return scoped


def add_time_range(column: str, since: datetime | None, until: datetime | None, clauses: list[str], args: list[Any]) -> None:
    """Append ``column >= since`` / ``column <= until`` conditions (times stored as ISO text)."""
    if since is not None:
        clauses.append(f"{column} >= ?")
        args.append(iso(since))
    if until is not None:
        clauses.append(f"{column} <= ?")
        args.append(iso(until))


def message_filters(filters: tuple[Any, ...]) -> tuple[str, list[Any]]:
    model, role, session_id, since, until = filters
    clauses, args = [], []
    for column, value in (("m.model", model), ("m.role", role), ("m.session_id", session_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    add_time_range("m.created_at", since, until, clauses, args)
    return "".join(f" AND {clause}" for clause in clauses), args

def title_filters(filters: tuple[Any, ...]) -> tuple[str, list[Any]] | None:
    model, role, session_id, since, until = filters
    if role is not None:
        return None
    clauses, args = [], []
    if model is not None:
        clauses.append("(s.current_model = ? OR EXISTS (SELECT 1 FROM json_each(s.models_used) WHERE value = ?))")
        args += [model, model]
    if session_id is not None:
        clauses.append("s.session_id = ?")
        args.append(session_id)
    add_time_range("s.created_at", since, until, clauses, args)
    return "".join(f" AND {clause}" for clause in clauses), args


def ranked(
    conn: sqlite3.Connection,
    source: Source,
    match: str,
    where: str,
    args: list[Any],
    want: int,
    rank_window: int,
    rowids: tuple[int, int] | None = None,
) -> list[tuple[Any, ...]]:
    """The best ``want`` rows of ``source`` for ``match`` (filters ``where``, rows within the
    ``rowids`` range if given) among its ranking window (its newest ``rank_window`` matches), as (session_id, message_id, model,
    role, created_at, snippet or text, bm25, position), ordered by bm25 then session and
    position.

    One pass over the matches, newest first, stops after ``rank_window`` of them (after
    the filters, which join the content row only when there are filters): bm25 is computed
    for the window only, and nothing else is read per match. Only the best rows (every row
    tied with the ``want``-th included, so the tie-break by session and position is exact)
    are then looked up, and only the winners get a snippet.
    """
    fts = source.fts
    join = f" JOIN {source.table} ON {source.key} = {fts}.rowid" if where else ""
    within = f" AND {fts}.rowid >= ? AND {fts}.rowid <= ?" if rowids is not None else ""
    window = (
        f"SELECT {fts}.rowid AS rid, {source.score} AS score FROM {fts}{join}"
        f" WHERE {fts} MATCH ?{within}{where} ORDER BY {fts}.rowid DESC LIMIT ?"
    )
    window_args = [match, *(rowids or ()), *args, rank_window]
    fetch = want * 4 + 200
    top = conn.execute(f"SELECT rid, score FROM ({window}) ORDER BY score LIMIT ?", [*window_args, fetch]).fetchall()
    if len(top) == fetch and top[-1][1] == top[want - 1][1]:
        # The tie group at the cut may go on beyond what was fetched: take all of it.
        top = conn.execute(
            f"SELECT rid, score FROM ({window}) WHERE score <= ? ORDER BY score", [*window_args, top[want - 1][1]]
        ).fetchall()
    if len(top) > want:
        cut = top[want - 1][1]
        top = [(rowid, score) for rowid, score in top if score <= cut]
    if not top:
        return []
    scores = dict(top)
    rows = conn.execute(
        f"SELECT {source.key}, {source.columns} FROM {source.table}"
        f" WHERE {source.key} IN (SELECT value FROM json_each(?))",
        [json.dumps(list(scores))],
    ).fetchall()
    winners = sorted(rows, key=lambda row: (scores[row[0]], row[1], row[7]))[:want]
    texts = _snippets(conn, fts, match, [row[0] for row in winners]) if source.snippets else {}
    return [(*row[1:6], texts.get(row[0], row[6]), scores[row[0]], row[7]) for row in winners]

def message_rowids(conn: sqlite3.Connection, filters: tuple[Any, ...]) -> tuple[int, int] | None:
    """A range of message rowids that holds every message passing the ``session_id``,
    ``since`` and ``until`` filters (None if none is given). The filters are still applied:
    the range only spares FTS5 the matches that cannot pass them (a session's messages, or
    old messages, are a thin slice of a large index)."""
    _, _, session_id, since, until = filters
    if session_id is None and since is None and until is None:
        return None
    low, high = 0, (1 << 63) - 1
    if session_id is not None:
        first, last = conn.execute(
            "SELECT min(message_rowid), max(message_rowid) FROM messages WHERE session_id = ?", (session_id,)
        ).fetchone()
        if first is None:
            return _NO_ROWS
        low, high = first, last
    if since is not None or until is not None:
        # An open end compares with "" (before any time) or "~" (after any time).
        first_block, last_block = conn.execute(
            "SELECT (SELECT min(block) FROM message_time_blocks WHERE max_created_at >= ?),"
            " (SELECT max(block) FROM message_time_blocks WHERE min_created_at <= ?)",
            ("" if since is None else iso(since), "~" if until is None else iso(until)),
        ).fetchone()
        if first_block is None or last_block is None:
            return _NO_ROWS
        low = max(low, first_block << schema.TIME_BLOCK_BITS)
        high = min(high, ((last_block + 1) << schema.TIME_BLOCK_BITS) - 1)
    return (low, high)

def _snippets(conn: sqlite3.Connection, fts: str, match: str, rowids: list[int]) -> dict[int, str]:
    """FTS5 snippets of the rows ``rowids`` for ``match``.

    One pass over the matches from the oldest winner up, a snippet made for the winners
    only. ``rowid IN (...)`` alone would be one FTS5 query per rowid: for a short prefix
    (``s*``) each of them merges the doclists of every word it starts (seconds).
    """
    return {
        rowid: text
        for rowid, text in conn.execute(
            f"SELECT rowid, CASE WHEN rowid IN (SELECT value FROM json_each(?))"
            f" THEN snippet({fts}, 0, '[', ']', '…', {SNIPPET_TOKENS}) END FROM {fts}"
            f" WHERE {fts} MATCH ? AND rowid >= ? AND rowid <= ?",
            [json.dumps(rowids), match, min(rowids), max(rowids)],
        )
        if text is not None
    }
