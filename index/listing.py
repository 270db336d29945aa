"""Listings served by the index: one page of sessions, newest update first, with the total.

Each filter is an index range read in ``updated_at`` order (``index.schema``): ``model`` and
``tag`` read ``session_models``/``session_tags``, ``group_id`` an index of ``sessions``,
``query`` the full-text table of titles and id words (``sessions_names``, each word a prefix);
with no filter the ``updated_at`` index of ``sessions`` is read backwards. The other filters of a
call are checked on the rows that one yields. Nothing here reads a session file.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from index.models import InvalidQuery
from index.times import iso, parse_iso
from store.session_store import SessionSummary

_COLUMNS = (
    "s.session_id, s.title, s.created_at, s.updated_at, s.current_model, s.models_used, s.tags,"
    " s.message_count, s.cost_usd, s.unpriced_answers, s.group_id, s.forked_from"
)
_WORD = re.compile(r"\w+", re.UNICODE)


class ListedSession(SessionSummary):
    """One session of a listing: ``store.SessionSummary`` with ``session_id`` beside ``id``
    (the name every other result uses)."""

    session_id: str


class SessionPage(BaseModel):
    """A page of a listing: ``total`` sessions match, ``sessions`` are those from ``offset`` on."""

    sessions: list[ListedSession] = Field(default_factory=list)
    total: int = 0
    limit: int
    offset: int


class ListingFilters(BaseModel):
    """What ``list_sessions`` filters on; ``since``/``until`` bound ``updated_at`` (inclusive)."""

    query: str | None = None
    model: str | None = None
    tag: str | None = None
    group_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def name_match(query: str) -> str:
    """The FTS5 query for ``list_sessions(query=...)``: every word of ``query`` as a prefix."""
    words = _WORD.findall(query)
    if not words:
        raise InvalidQuery(f"query {query!r} has no words to look for: pass words of a title or an id")
    return " ".join(f'"{word}"*' for word in words)


def _count_key(filters: ListingFilters) -> str | None:
    """The ``listing_counts`` key holding the total of ``filters``, if one does (one filter, no range)."""
    if filters.query is not None or filters.since is not None or filters.until is not None:
        return None
    keys = [f"{prefix}:{value}" for prefix, value in (("m", filters.model), ("t", filters.tag), ("g", filters.group_id)) if value is not None]
    return "" if not keys else keys[0] if len(keys) == 1 else None


def _counted(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT sessions FROM listing_counts WHERE key = ?", (key,)).fetchone()
    return row[0] if row else 0


def _plan(filters: ListingFilters, conn: sqlite3.Connection | None = None, *, counting: bool = False) -> tuple[str, str, list[Any]]:
    """(FROM … WHERE …, ORDER BY …, args): the most selective filter drives, the rest are checked
    (between a tag and a model, the one with fewer sessions, when ``conn`` can say).
    ``counting``: for ``count(*)``, without the join to ``sessions`` when no filter needs it."""
    where: list[str] = []
    args: list[Any] = []
    driver, driving_key = "s", None
    if filters.query is not None:
        source = "sessions_names f CROSS JOIN sessions s ON s.session_rowid = f.rowid"
        where.append("sessions_names MATCH ?")
        args.append(name_match(filters.query))
    elif filters.group_id is None and (filters.tag is not None or filters.model is not None):
        by_tag = filters.tag is not None
        if by_tag and filters.model is not None and conn is not None:
            by_tag = _counted(conn, f"t:{filters.tag}") <= _counted(conn, f"m:{filters.model}")
        table, driving_key = ("session_tags", "tag") if by_tag else ("session_models", "model")
        source, driver = f"{table} k CROSS JOIN sessions s ON s.session_id = k.session_id", "k"
        if counting:
            source = f"{table} k"
        where.append(f"k.{driving_key} = ?")
        args.append(filters.tag if driving_key == "tag" else filters.model)
    else:
        source = "sessions s"
    if filters.group_id is not None:
        where.append("s.group_id = ?")
        args.append(filters.group_id)
    for table, key, value in (("session_tags", "tag", filters.tag), ("session_models", "model", filters.model)):
        if value is None or key == driving_key:
            continue
        where.append(
            f"EXISTS (SELECT 1 FROM {table} x WHERE x.{key} = ? AND x.updated_at = {driver}.updated_at"
            f" AND x.session_id = {driver}.session_id)"
        )
        args.append(value)
    if filters.since is not None:
        where.append(f"{driver}.updated_at >= ?")
        args.append(iso(filters.since))
    if filters.until is not None:
        where.append(f"{driver}.updated_at <= ?")
        args.append(iso(filters.until))
    sql = source + (" WHERE " + " AND ".join(where) if where else "")
    return sql, f"ORDER BY {driver}.updated_at DESC, {driver}.session_id DESC", args


def _listed(row: tuple[Any, ...]) -> ListedSession:
    return ListedSession(
        id=row[0], session_id=row[0], title=row[1], created_at=parse_iso(row[2]), updated_at=parse_iso(row[3]),
        current_model=row[4], models_used=json.loads(row[5] or "[]"), tags=json.loads(row[6] or "[]"),
        message_count=row[7] or 0, cost_usd=row[8], unpriced_answers=row[9] or 0, group_id=row[10], forked_from=row[11],
    )


def list_page(conn: sqlite3.Connection, filters: ListingFilters, limit: int, offset: int) -> SessionPage:
    """One page of the sessions matching ``filters``, newest update first (ties: id descending),
    and how many match. Run inside one read transaction so page and total agree."""
    if filters.since is not None and filters.until is not None and filters.since > filters.until:
        raise InvalidQuery("since is later than until: nothing can match")
    source, order, args = _plan(filters, conn)
    rows = conn.execute(f"SELECT {_COLUMNS} FROM {source} {order} LIMIT ? OFFSET ?", (*args, limit, offset)).fetchall()
    key = _count_key(filters)
    if offset == 0 and len(rows) < limit:
        total = len(rows)
    elif key is not None:
        total = _counted(conn, key)
    else:
        counted, _, count_args = _plan(filters, conn, counting=True)
        total = conn.execute(f"SELECT count(*) FROM {counted}", count_args).fetchone()[0]
    return SessionPage(sessions=[_listed(row) for row in rows], total=total, limit=limit, offset=offset)


def _words(text: str) -> list[str]:
    return [word.casefold() for word in _WORD.findall(text)]


def matches(item: ListedSession, filters: ListingFilters) -> bool:
    """Whether ``item`` passes ``filters``, in Python: what the index's SQL decides, for a
    server without an index and for the tests that compare the two. (FTS5's unicode61 also
    folds diacritics; ids and titles in tests are plain.)"""
    if filters.model is not None and filters.model not in item.models_used and filters.model != item.current_model:
        return False
    if filters.tag is not None and filters.tag not in item.tags:
        return False
    if filters.group_id is not None and item.group_id != filters.group_id:
        return False
    if filters.since is not None and item.updated_at < filters.since:
        return False
    if filters.until is not None and item.updated_at > filters.until:
        return False
    if filters.query is not None:
        name_match(filters.query)  # the same refusal of a query without words
        have = _words(f"{item.title or ''} {item.session_id}")
        if not all(any(word.startswith(want) for word in have) for want in _words(filters.query)):
            return False
    return True


def page_of(items: list[ListedSession], filters: ListingFilters, limit: int, offset: int) -> SessionPage:
    """The page ``list_page`` returns, computed from every session (a scan of the files)."""
    if filters.since is not None and filters.until is not None and filters.since > filters.until:
        raise InvalidQuery("since is later than until: nothing can match")
    chosen = sorted((item for item in items if matches(item, filters)), key=lambda item: (item.updated_at, item.session_id), reverse=True)
    return SessionPage(sessions=chosen[offset : offset + limit], total=len(chosen), limit=limit, offset=offset)


def listed_from_summary(summary: SessionSummary) -> ListedSession:
    """A ``store.SessionSummary`` as a listing item."""
    return ListedSession(session_id=summary.id, **summary.model_dump())
