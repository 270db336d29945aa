"""``SearchIndex``: ranked full-text search, model-switch history, counts — reads only the index."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from index.database import is_busy, retry_busy, retry_rebuilding
from index.fts_query import clean, has_cjk, phrase_fallback, prefix_query, substring_query
from index.indexer import Indexer
from index.listing import ListingFilters, SessionPage, list_page
from index.pending import PendingFiles
from index.models import IndexStats, InvalidQuery, RecentSession, SearchHit, SwitchPage, SwitchRecord
from index.ranking import (
    MESSAGES_TRIGRAMS,
    MESSAGES_WORDS,
    RANK_WINDOW,
    RANK_WINDOW_ENV,
    TITLES_TRIGRAMS,
    TITLES_WORDS,
    configured_rank_window,
    message_filters,
    message_rowids,
    ranked,
    title_filters,
    words_match,
)
from index.rows import ATTACHMENT_MARK
from index.snippets import file_of_match, make_snippet
from index.times import parse_iso
from index.usage import Grouping, UsageReport, build_report

T = TypeVar("T")
# Imported by callers from here (``server.py``, tests): the rank window's setting.
__all__ = ["RANK_WINDOW", "RANK_WINDOW_ENV", "SearchIndex", "configured_rank_window"]
MAX_LIMIT = 1000
MAX_OFFSET = 100_000


def validate_page(limit: int, offset: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidQuery(f"limit must be an integer, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise InvalidQuery(f"offset must be an integer, got {offset!r}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidQuery(f"offset must be between 0 and {MAX_OFFSET}, got {offset}")


class SearchIndex:
    """Queries over ``<root>/index.sqlite``. If the file is missing it is created and built.

    Safe to share between threads. All methods read only the index, never the session files
    (except to (re)build a missing index).
    """

    def __init__(self, root: Path | str, *, rank_window: int | None = None, build: bool = True, pending: PendingFiles | None = None) -> None:
        """``rank_window``: see ``RANK_WINDOW``; default ``configured_rank_window()``.

        ``build=False`` (the server): never sync on a read. A missing or damaged index is
        recreated empty and answered from as it is; the process's watcher fills it in the
        background (``index_pending`` says how far it is), so no tool call waits for a rebuild.
        ``pending``: the writer's count, so that a read which replaced a damaged file says so.
        """
        if rank_window is None:
            rank_window = configured_rank_window()
        if isinstance(rank_window, bool) or not isinstance(rank_window, int) or rank_window < 1:
            raise ValueError(f"rank_window must be a positive integer, got {rank_window!r}")
        self.root = Path(root)
        self.rank_window = rank_window
        self._indexer = Indexer(self.root, pending)
        self._lock = threading.RLock()
        self._build = build
        if build:
            self._indexer.rebuild_if_needed()

    def close(self) -> None:
        self._indexer.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, sql: str, args: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        def read() -> list[tuple[Any, ...]]:
            if self._build:
                self._indexer.rebuild_if_needed()
            conn = self._indexer.connection
            return retry_busy(lambda: conn.execute(sql, tuple(args)).fetchall())

        with self._lock:
            # A damaged index is rebuilt, then read; one being rebuilt by another process is waited for.
            return self._indexer.recovering(lambda: retry_rebuilding(read))

    def _read_with(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run several reads in ``work`` on one snapshot (one read transaction), like ``_read``."""

        def attempt(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN")
            try:
                return work(conn)
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

        def read() -> T:
            if self._build:
                self._indexer.rebuild_if_needed()
            conn = self._indexer.connection
            return retry_busy(lambda: attempt(conn))

        with self._lock:
            return self._indexer.recovering(lambda: retry_rebuilding(read))

    # -- search ----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        model: str | None = None,
        role: str | None = None,
        session_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> list[SearchHit]:
        """Messages (and session titles) matching ``query``, best first (``score`` higher = better).

        ``query`` may use FTS5 syntax (phrases, OR, NOT, prefix*); anything FTS5 rejects is
        searched as a plain phrase. A query with CJK text is searched as substrings; words that
        match nothing are retried as word prefixes. Raises ``InvalidQuery`` for a query with nothing to
        search for, a bad limit/offset or ``since`` after ``until``.
        Filters: ``model``/``role``/``session_id`` exact; ``since``/``until`` on the message time.
        Session-title hits (``message_id`` None) are included unless ``role`` is given.
        """
        text = clean(query)
        validate_page(limit, offset)
        if since is not None and until is not None and since > until:
            raise InvalidQuery("since is later than until: nothing can match")
        want = offset + limit
        filters = (model, role, session_id, since, until)
        if has_cjk(text):
            hits = self._substring_hits(text, filters, want)
        else:
            hits = self._word_hits_or_none(text, filters, want)
            if hits is None:
                hits = self._word_hits(phrase_fallback(text), filters, want)
            if not hits:
                hits = self._word_hits_or_none(prefix_query(text), filters, want) or []
        return self._name_files(hits[offset:want])

    def _name_files(self, hits: list[SearchHit]) -> list[SearchHit]:
        """Set ``file`` on the hits whose match lies in an attached file's section of the text."""
        keys = [(hit.session_id, hit.message_id) for hit in hits if hit.message_id is not None]
        if not keys:
            return hits
        values = ", ".join("(?, ?)" for _ in keys)
        rows = self._read(
            # session_id IN (...) lets SQLite use the (session_id, position) index; the row-value
            # IN alone scans every message (~0.8 s a search at 1M messages).
            f"SELECT session_id, message_id, text FROM messages WHERE session_id IN ({', '.join('?' for _ in keys)})"
            f" AND (session_id, message_id) IN (VALUES {values}) AND instr(text, char(31)) > 0",
            [*(key[0] for key in keys), *(item for key in keys for item in key)],
        )
        texts = {(row[0], row[1]): row[2] for row in rows}
        named = []
        for hit in hits:
            text = texts.get((hit.session_id, hit.message_id))
            if text is not None:
                hit = hit.model_copy(update={"file": file_of_match(text, hit.snippet), "snippet": hit.snippet.replace(ATTACHMENT_MARK, " ")})
            named.append(hit)
        return named

    def _word_hits_or_none(self, match: str, filters: tuple[Any, ...], want: int) -> list[SearchHit] | None:
        """``_word_hits``, or None if FTS5 rejects ``match`` as a query."""
        try:
            return self._word_hits(match, filters, want)
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                raise
            return None

    @staticmethod
    def _to_hits(rows: list[tuple[Any, ...]]) -> list[SearchHit]:
        # rows: session_id, message_id, model, role, created_at, snippet, rank (lower = better), position
        rows = sorted(rows, key=lambda row: (row[6], row[0], row[7]))
        return [
            SearchHit(
                session_id=row[0],
                message_id=row[1],
                model=row[2],
                role=row[3],
                created_at=parse_iso(row[4]),
                snippet=row[5] or "",
                score=-float(row[6]) + 0.0,
            )
            for row in rows
        ]

    def _word_hits(self, match: str, filters: tuple[Any, ...], want: int) -> list[SearchHit]:
        model, role, *rest = filters
        where, args = message_filters((None, None, *rest))
        titles = title_filters(filters)
        messages_match = words_match(match, model, role)

        def work(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            rowids = message_rowids(conn, filters)
            rows = ranked(conn, MESSAGES_WORDS, messages_match, where, args, want, self.rank_window, rowids)
            if titles is not None:
                rows += ranked(conn, TITLES_WORDS, match, *titles, want, self.rank_window)
            return rows

        return self._to_hits(self._read_with(work))

    def _substring_hits(self, text: str, filters: tuple[Any, ...], want: int) -> list[SearchHit]:
        sub = substring_query(text)
        where, args = message_filters(filters)
        short_sql = "".join(" AND instr(lower(m.text), lower(?)) > 0" for _ in sub.short_terms)
        titles = title_filters(filters)
        if sub.match is not None:
            match = sub.match

            def work(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
                rowids = message_rowids(conn, filters)
                rows = ranked(conn, MESSAGES_TRIGRAMS, match, short_sql + where, [*sub.short_terms, *args], want, self.rank_window, rowids)
                if titles is not None:
                    title_where, title_args = titles
                    title_short = short_sql.replace("m.text", "s.title")
                    rows += ranked(
                        conn, TITLES_TRIGRAMS, match, title_short + title_where, [*sub.short_terms, *title_args], want, self.rank_window
                    )
                return rows

            rows = self._read_with(work)
        else:
            rows = self._scan_rows(sub, where, args, short_sql, titles, want)
        # Trigram snippets would cut words at token (3-character) boundaries: cut in Python.
        rows = [(*row[:5], make_snippet(row[5] or "", sub.terms), *row[6:]) for row in rows]
        return self._to_hits(rows)

    def _scan_rows(
        self, sub: Any, where: str, args: list[Any], short_sql: str, titles: tuple[str, list[Any]] | None, want: int
    ) -> list[tuple[Any, ...]]:
        # Only CJK terms too short for trigrams: scan the messages with CJK text.
        message_sql = (
            "SELECT m.session_id, m.message_id, m.model, m.role, m.created_at, m.text, 0.0, m.position"
            f" FROM messages m WHERE m.cjk = 1{short_sql}{where} ORDER BY m.session_id, m.position LIMIT ?"
        )
        rows = self._read(message_sql, [*sub.short_terms, *args, want])
        if titles is not None:
            title_where, title_args = titles
            rows += self._read(
                "SELECT s.session_id, NULL, s.current_model, NULL, s.created_at, s.title, 0.0, -1"
                f" FROM sessions s WHERE s.title IS NOT NULL{short_sql.replace('m.text', 's.title')}{title_where}"
                " ORDER BY s.session_id LIMIT ?",
                [*sub.short_terms, *title_args, want],
            )
        return rows

    # -- other queries ---------------------------------------------------------------------

    def model_switch_history(
        self, session_id: str | None = None, model: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[SwitchRecord]:
        """Recorded switches, newest first; ``model`` matches either side of a switch.
        ``limit`` None: every switch (``model_switch_page`` pages and counts)."""
        return self.model_switch_page(session_id, model, limit, offset).switches

    def model_switch_page(
        self, session_id: str | None = None, model: str | None = None, limit: int | None = 100, offset: int = 0
    ) -> SwitchPage:
        """One page of the switches (newest first: time, then session id and position descending)
        and how many match. Served by indexes: (switched_at), (from_model, switched_at) and
        (to_model, switched_at), so a page costs O(offset + limit), not O(switches)."""
        if limit is not None:
            validate_page(limit, offset)
        if session_id is not None:
            where, args = " WHERE session_id = ?", [session_id]
            sources = [(where + (" AND (from_model = ? OR to_model = ?)" if model is not None else ""), args + ([model, model] if model else []))]
        elif model is not None:
            # Two ordered index reads instead of an OR that sorts every match.
            sources = [(" WHERE from_model = ?", [model]), (" WHERE to_model = ? AND from_model IS NOT ?", [model, model])]
        else:
            sources = [("", [])]
        order = " ORDER BY switched_at DESC, session_id DESC, position DESC"
        page = "" if limit is None else f" LIMIT {offset + limit}"
        columns = "session_id, at_message, from_model, to_model, switched_at, warning, position"
        selects = [(f"SELECT * FROM (SELECT {columns} FROM model_switches{where}{order}{page})", args) for where, args in sources]

        def work(conn: sqlite3.Connection) -> tuple[list[tuple[Any, ...]], int]:
            sql = " UNION ALL ".join(sql for sql, _ in selects)
            rows = conn.execute(
                f"SELECT * FROM ({sql}){order}" + ("" if limit is None else f" LIMIT {limit} OFFSET {offset}"),
                [arg for _, args in selects for arg in args],
            ).fetchall()
            total = sum(conn.execute(f"SELECT count(*) FROM model_switches{where}", args).fetchone()[0] for where, args in sources)
            return rows, total

        rows, total = self._read_with(work)
        switches = [
            SwitchRecord(session_id=r[0], at_message=r[1], from_model=r[2], to_model=r[3], at=parse_iso(r[4]), warning=r[5] or "")
            for r in rows
        ]
        return SwitchPage(switches=switches, total=total, limit=limit, offset=offset)

    def list_sessions(self, filters: ListingFilters | None = None, limit: int = 50, offset: int = 0) -> SessionPage:
        """One page of the sessions matching ``filters``, newest update first, with ``total``
        (``index.listing``: index reads only, never a session file)."""
        validate_page(limit, offset)
        wanted = filters or ListingFilters()
        return self._read_with(lambda conn: list_page(conn, wanted, limit, offset))

    def recent_sessions(self, limit: int = 50) -> list[RecentSession]:
        """The ``limit`` most recently updated sessions, newest first (ties by id, descending,
        as every listing: one read of the ``updated_at`` index)."""
        validate_page(limit, 0)
        rows = self._read(
            "SELECT session_id, title, updated_at, current_model, models_used, message_count FROM sessions"
            " ORDER BY updated_at DESC, session_id DESC LIMIT ?",
            [limit],
        )
        return [
            RecentSession(
                session_id=row[0], title=row[1], updated_at=parse_iso(row[2]), current_model=row[3],
                models_used=json.loads(row[4] or "[]"), message_count=row[5] or 0,
            )
            for row in rows
        ]

    def usage_report(
        self, by: Grouping | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> UsageReport:
        """Turns, failures, latency, tokens and cost per ``by`` group and in total (``index.usage``)."""
        return build_report(self._read, by, since, until)

    def sessions_by_model(self) -> dict[str, int]:
        """How many sessions used each model (a session counts once under every model it used)."""
        rows = self._read(
            "SELECT model, count(*) FROM (SELECT DISTINCT s.session_id, j.value AS model"
            " FROM sessions s, json_each(s.models_used) j) GROUP BY model ORDER BY count(*) DESC, model"
        )
        return {model: count for model, count in rows}

    def stats(self) -> IndexStats:
        """Row counts, file size and the time of the most recent indexing."""
        counts = self._read(
            "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM messages),"
            " (SELECT count(*) FROM model_switches), (SELECT count(*) FROM files),"
            " (SELECT count(*) FROM files WHERE status = 'refused'), (SELECT max(indexed_at) FROM files)"
        )[0]
        db_path = self._indexer.db_path
        size = sum(os.path.getsize(p) for p in (str(db_path), f"{db_path}-wal") if os.path.exists(p))
        return IndexStats(
            path=str(db_path),
            sessions=counts[0],
            messages=counts[1],
            model_switches=counts[2],
            files=counts[3],
            refused_files=counts[4],
            size_bytes=size,
            last_indexed_at=parse_iso(counts[5]) if counts[5] else None,
        )
