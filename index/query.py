"""``SearchIndex``: ranked full-text search, model-switch history, counts — reads only the index."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from index import database
from index.database import is_busy, iso, parse_iso, retry_busy, retry_rebuilding
from index.fts_query import clean, has_cjk, phrase_fallback, prefix_query, substring_query
from index.indexer import Indexer
from index.models import IndexStats, InvalidQuery, RecentSession, SearchHit, SwitchRecord
from index.rows import ATTACHMENT_MARK
from index.usage import Grouping, UsageReport, build_report

T = TypeVar("T")
MAX_LIMIT = 1000
MAX_OFFSET = 100_000
# A query that matches more rows than this is ranked among its newest RANK_WINDOW matches only
# (highest rowid: the most recently indexed). Scoring every match of a very common term costs
# about 0.4 us a match (150 ms for "session" at 1M messages); FTS5 walks its doclists in rowid
# order, so ``_ranked`` walks the newest matches first and stops after the window. Below the
# threshold the ranking is exact. ``$LLM_SEARCH_RANK_WINDOW`` overrides it.
RANK_WINDOW = 20_000
RANK_WINDOW_ENV = "LLM_SEARCH_RANK_WINDOW"
SNIPPET_TOKENS = 16
_NO_ROWS = (1, 0)  # a rowid range nothing is in
_SNIPPET_CONTEXT = 40


@dataclass(frozen=True)
class _Source:
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
# index.database): weight 0, so a filter's token adds nothing to a score.
_MESSAGES_WORDS = _Source(
    "messages_fts", "messages m", "m.message_rowid", _MESSAGE_COLUMNS.format(text="NULL"), True, "bm25(messages_fts, 1.0, 0.0)"
)
_TITLES_WORDS = _Source(
    "sessions_fts", "sessions s", "s.session_rowid", _TITLE_COLUMNS.format(text="NULL"), True, "bm25(sessions_fts)"
)
# Trigram snippets would cut words at token (3-character) boundaries: the text is cut in Python.
_MESSAGES_TRIGRAMS = _Source(
    "messages_trigram", "messages m", "m.message_rowid", _MESSAGE_COLUMNS.format(text="m.text"), False, "bm25(messages_trigram)"
)
_TITLES_TRIGRAMS = _Source(
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


def _validate_page(limit: int, offset: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidQuery(f"limit must be an integer, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise InvalidQuery(f"offset must be an integer, got {offset!r}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidQuery(f"offset must be between 0 and {MAX_OFFSET}, got {offset}")


def _make_snippet(text: str, terms: list[str]) -> str:
    """A snippet around the first term found, every term in [brackets] (for ``instr`` matches)."""
    lowered = text.lower()
    found = [(lowered.find(term.lower()), term) for term in terms]
    found = [(at, term) for at, term in found if at >= 0]
    if not found:
        return text[: 2 * _SNIPPET_CONTEXT]
    first = min(at for at, _ in found)
    start = max(0, first - _SNIPPET_CONTEXT)
    end = min(len(text), first + _SNIPPET_CONTEXT)
    window = text[start:end]
    out = []
    i = 0
    low_window = window.lower()
    while i < len(window):
        for term in sorted(terms, key=len, reverse=True):
            if term and low_window.startswith(term.lower(), i):
                out.append("[" + window[i : i + len(term)] + "]")
                i += len(term)
                break
        else:
            out.append(window[i])
            i += 1
    return ("…" if start > 0 else "") + "".join(out) + ("…" if end < len(text) else "")


def _unmarked(text: str) -> str:
    return text.replace("[", "").replace("]", "")


def file_of_match(text: str, snippet: str) -> str | None:
    """The attached file (its path) whose section of a message's ``text`` holds the ``snippet``.

    A snippet is an excerpt of the text with the matches in [brackets]: the section holding
    the excerpt decides; if it spans sections, the one holding its first highlighted term.
    None when the match is in the message's own text.
    """
    sections = text.split(ATTACHMENT_MARK)
    core = _unmarked(snippet.strip("…"))
    candidates = [index for index, section in enumerate(sections) if core and core in _unmarked(section)]
    if not candidates:
        terms = re.findall(r"\[([^\[\]]+)\]", snippet)
        for term in terms:
            candidates = [index for index, section in enumerate(sections) if term.lower() in section.lower()]
            if candidates:
                break
    if not candidates or candidates[0] == 0:
        return None
    head = sections[candidates[0]].split("\n", 1)[0]
    return head.removeprefix("file ")


def words_match(match: str, model: str | None, role: str | None) -> str:
    """``match`` for the messages' word table: scoped to the ``text`` column, and the ``model``
    and ``role`` filters as ``meta`` tokens (``index.database.message_meta_sql``)."""
    scoped = f"text : ({match})"
    if model is not None:
        scoped += f" AND meta : m{model.encode().hex()}"
    if role is not None:
        scoped += f" AND meta : r{role.encode().hex()}"
    return scoped


def _add_time_range(column: str, since: datetime | None, until: datetime | None, clauses: list[str], args: list[Any]) -> None:
    """Append ``column >= since`` / ``column <= until`` conditions (times stored as ISO text)."""
    if since is not None:
        clauses.append(f"{column} >= ?")
        args.append(iso(since))
    if until is not None:
        clauses.append(f"{column} <= ?")
        args.append(iso(until))


class SearchIndex:
    """Queries over ``<root>/index.sqlite``. If the file is missing it is created and built.

    Safe to share between threads. All methods read only the index, never the session files
    (except to (re)build a missing index).
    """

    def __init__(self, root: Path | str, *, rank_window: int | None = None) -> None:
        """``rank_window``: see ``RANK_WINDOW``; default ``configured_rank_window()``."""
        if rank_window is None:
            rank_window = configured_rank_window()
        if isinstance(rank_window, bool) or not isinstance(rank_window, int) or rank_window < 1:
            raise ValueError(f"rank_window must be a positive integer, got {rank_window!r}")
        self.root = Path(root)
        self.rank_window = rank_window
        self._indexer = Indexer(self.root)
        self._lock = threading.RLock()
        self._indexer.rebuild_if_needed()

    def close(self) -> None:
        self._indexer.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, sql: str, args: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        def read() -> list[tuple[Any, ...]]:
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
        match nothing are retried as word prefixes. Raises ``InvalidQuery`` (a ``ValueError``) for a query with nothing to
        search for, ``ValueError`` for a bad limit/offset or ``since`` after ``until``.
        Filters: ``model``/``role``/``session_id`` exact; ``since``/``until`` on the message time.
        Session-title hits (``message_id`` None) are included unless ``role`` is given.
        """
        text = clean(query)
        _validate_page(limit, offset)
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
    def _message_filters(filters: tuple[Any, ...]) -> tuple[str, list[Any]]:
        model, role, session_id, since, until = filters
        clauses, args = [], []
        for column, value in (("m.model", model), ("m.role", role), ("m.session_id", session_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        _add_time_range("m.created_at", since, until, clauses, args)
        return "".join(f" AND {clause}" for clause in clauses), args

    @staticmethod
    def _title_filters(filters: tuple[Any, ...]) -> tuple[str, list[Any]] | None:
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
        _add_time_range("s.created_at", since, until, clauses, args)
        return "".join(f" AND {clause}" for clause in clauses), args

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

    def _ranked(
        self,
        conn: sqlite3.Connection,
        source: _Source,
        match: str,
        where: str,
        args: list[Any],
        want: int,
        rowids: tuple[int, int] | None = None,
    ) -> list[tuple[Any, ...]]:
        """The best ``want`` rows of ``source`` for ``match`` (filters ``where``, rows within the
        ``rowids`` range if given) among its ranking window, as (session_id, message_id, model,
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
        window_args = [match, *(rowids or ()), *args, self.rank_window]
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
        texts = self._snippets(conn, fts, match, [row[0] for row in winners]) if source.snippets else {}
        return [(*row[1:6], texts.get(row[0], row[6]), scores[row[0]], row[7]) for row in winners]

    @staticmethod
    def _message_rowids(conn: sqlite3.Connection, filters: tuple[Any, ...]) -> tuple[int, int] | None:
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
            low = max(low, first_block << database.TIME_BLOCK_BITS)
            high = min(high, ((last_block + 1) << database.TIME_BLOCK_BITS) - 1)
        return (low, high)

    @staticmethod
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

    def _word_hits(self, match: str, filters: tuple[Any, ...], want: int) -> list[SearchHit]:
        model, role, *rest = filters
        where, args = self._message_filters((None, None, *rest))
        titles = self._title_filters(filters)
        messages_match = words_match(match, model, role)

        def work(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            rowids = self._message_rowids(conn, filters)
            rows = self._ranked(conn, _MESSAGES_WORDS, messages_match, where, args, want, rowids)
            if titles is not None:
                rows += self._ranked(conn, _TITLES_WORDS, match, *titles, want)
            return rows

        return self._to_hits(self._read_with(work))

    def _substring_hits(self, text: str, filters: tuple[Any, ...], want: int) -> list[SearchHit]:
        sub = substring_query(text)
        where, args = self._message_filters(filters)
        short_sql = "".join(" AND instr(lower(m.text), lower(?)) > 0" for _ in sub.short_terms)
        titles = self._title_filters(filters)
        if sub.match is not None:
            match = sub.match

            def work(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
                rowids = self._message_rowids(conn, filters)
                rows = self._ranked(conn, _MESSAGES_TRIGRAMS, match, short_sql + where, [*sub.short_terms, *args], want, rowids)
                if titles is not None:
                    title_where, title_args = titles
                    title_short = short_sql.replace("m.text", "s.title")
                    rows += self._ranked(
                        conn, _TITLES_TRIGRAMS, match, title_short + title_where, [*sub.short_terms, *title_args], want
                    )
                return rows

            rows = self._read_with(work)
        else:
            rows = self._scan_rows(sub, where, args, short_sql, titles, want)
        # Trigram snippets would cut words at token (3-character) boundaries: cut in Python.
        rows = [(*row[:5], _make_snippet(row[5] or "", sub.terms), *row[6:]) for row in rows]
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

    def model_switch_history(self, session_id: str | None = None, model: str | None = None) -> list[SwitchRecord]:
        """Recorded switches, oldest first; ``model`` matches either side of a switch."""
        clauses, args = [], []
        if session_id is not None:
            clauses.append("session_id = ?")
            args.append(session_id)
        if model is not None:
            clauses.append("(from_model = ? OR to_model = ?)")
            args += [model, model]
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._read(
            "SELECT session_id, at_message, from_model, to_model, switched_at, warning FROM model_switches"
            f"{where} ORDER BY switched_at, session_id, position",
            args,
        )
        return [
            SwitchRecord(session_id=r[0], at_message=r[1], from_model=r[2], to_model=r[3], at=parse_iso(r[4]), warning=r[5] or "")
            for r in rows
        ]

    def recent_sessions(self, limit: int = 50) -> list[RecentSession]:
        """The ``limit`` most recently updated sessions, newest first (ties by id)."""
        _validate_page(limit, 0)
        rows = self._read(
            "SELECT session_id, title, updated_at, current_model, models_used, message_count FROM sessions"
            " ORDER BY updated_at DESC, session_id LIMIT ?",
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
