"""``--check``: compare the index with the session files without changing either."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from index.models import IndexDifference
from index.rows import MESSAGE_COLUMNS, SESSION_COLUMNS, SWITCH_COLUMNS, message_rows, session_row, switch_rows
from index.schema import BULK_LOADING_VERSION, FILL_LISTING_COUNTS_SQL, FTS_TABLES, INDEX_SCHEMA_VERSION, PENDING_HASH



def _rows(conn: sqlite3.Connection, table: str, columns: tuple[str, ...], session_id: str) -> list[tuple[Any, ...]]:
    order = "position" if "position" in columns else "session_id"
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE session_id = ? ORDER BY {order}"
    return [tuple(row) for row in conn.execute(sql, (session_id,))]


def _first_difference(expected: list[tuple[Any, ...]], actual: list[tuple[Any, ...]], columns: tuple[str, ...]) -> str:
    if len(expected) != len(actual):
        return f"{len(actual)} rows in the index, {len(expected)} in the file"
    for position, (want, have) in enumerate(zip(expected, actual)):
        for column, a, b in zip(columns, want, have):
            if a != b:
                return f"row {position}: {column} is {b!r} in the index, {a!r} in the file"
    return "rows differ"  # pragma: no cover - unreachable when lists differ


def index_file_problem(index_path: Path) -> IndexDifference | None:
    """Why ``index_path`` cannot be compared at all (missing, other schema version), read-only.

    ``--check`` calls this first so that checking never creates, upgrades or drops an index.
    """
    if not index_path.exists():
        return IndexDifference(kind="index", path=index_path.name, detail="there is no index yet; run scripts/reindex.py to build it")
    try:
        conn = sqlite3.connect(f"file:{index_path}?mode=ro", uri=True)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return IndexDifference(kind="index", path=index_path.name, detail=f"the index cannot be read ({exc}); run scripts/reindex.py --full")
    if version == BULK_LOADING_VERSION:
        detail = (
            "a full rebuild is filling the index (or was interrupted; the next use of the index"
            " rebuilds it); check again when scripts/reindex.py --full has finished"
        )
        return IndexDifference(kind="index", path=index_path.name, detail=detail)
    if version != INDEX_SCHEMA_VERSION:
        return IndexDifference(
            kind="index",
            path=index_path.name,
            detail=f"the index has schema version {version}, this program writes {INDEX_SCHEMA_VERSION}; run scripts/reindex.py --full",
        )
    return None


def listing_differences(conn: sqlite3.Connection) -> list[IndexDifference]:
    """The listings' derived tables (``session_models``, ``session_tags``, ``listing_counts``)
    against what the ``sessions`` rows say."""
    differences = []
    for table, select in (
        ("session_models", "SELECT j.value, s.updated_at, s.session_id FROM sessions s, json_each(s.models_used) j"
         " UNION SELECT current_model, updated_at, session_id FROM sessions WHERE current_model IS NOT NULL"),
        ("session_tags", "SELECT DISTINCT j.value, s.updated_at, s.session_id FROM sessions s, json_each(s.tags) j"),
    ):
        extra = conn.execute(f"SELECT count(*) FROM (SELECT * FROM {table} EXCEPT SELECT * FROM ({select}))").fetchone()[0]
        missing = conn.execute(f"SELECT count(*) FROM (SELECT * FROM ({select}) EXCEPT SELECT * FROM {table})").fetchone()[0]
        if extra or missing:
            detail = f"{table}: {missing} rows missing, {extra} rows too many for the sessions table"
            differences.append(IndexDifference(kind="rows", path="index.sqlite", detail=detail))
    expected = dict(conn.execute(" UNION ALL ".join(sql.split(" ", 3)[3] for sql in FILL_LISTING_COUNTS_SQL[1:])).fetchall())
    actual = dict(conn.execute("SELECT key, sessions FROM listing_counts WHERE sessions != 0").fetchall())
    if {key: n for key, n in expected.items() if n} != actual:
        wrong = sorted(set(expected.items()) ^ set(actual.items()))[:3]
        differences.append(IndexDifference(kind="rows", path="index.sqlite", detail=f"listing_counts differ from the sessions: {wrong}"))
    return differences


def compare(
    conn: sqlite3.Connection,
    root: Path,
    disk: dict[str, Path],
    decode: Callable[[Path], Any],
    known: dict[str, Any],
    attachment_text: Callable[[str], str | None] | None = None,
) -> list[IndexDifference]:
    """Every difference between the index reachable through ``conn`` and the files in ``disk``."""
    differences: list[IndexDifference] = []
    indexed_sessions = {row[0] for row in conn.execute("SELECT session_id FROM sessions")}
    for rel in sorted(disk):
        path = disk[rel]
        session_id = path.stem
        decoded = decode(path)
        if decoded is None:
            continue  # deleted while checking
        entry = known.get(rel)
        if decoded.problem is not None:
            differences.append(IndexDifference(kind="unreadable", path=rel, session_id=session_id, detail=decoded.problem))
            continue
        if decoded.refused is not None:
            if entry is None or entry.status != "refused":
                differences.append(
                    IndexDifference(kind="missing", path=rel, session_id=session_id, detail="newer-schema file not recorded")
                )
            continue
        if entry is None:
            differences.append(IndexDifference(kind="missing", path=rel, session_id=session_id, detail="file is not indexed"))
            continue
        # A turn's append path records PENDING_HASH with the stat of its own write (see indexer).
        pending_and_unchanged = entry.sha256 == PENDING_HASH and (entry.mtime_ns, entry.size, entry.inode) == (
            decoded.stat.st_mtime_ns, decoded.stat.st_size, decoded.stat.st_ino
        )
        if entry.sha256 != decoded.sha256 and not pending_and_unchanged:
            differences.append(
                IndexDifference(kind="stale", path=rel, session_id=session_id, detail="file content changed since it was indexed")
            )
            continue
        session = decoded.session
        for table, columns, expected in (
            ("sessions", SESSION_COLUMNS, [session_row(session, rel)]),
            ("messages", MESSAGE_COLUMNS, message_rows(session, attachment_text=attachment_text)),
            ("model_switches", SWITCH_COLUMNS, switch_rows(session)),
        ):
            actual = _rows(conn, table, columns, session_id)
            if actual != [tuple(row) for row in expected]:
                detail = f"{table}: " + _first_difference([tuple(r) for r in expected], actual, columns)
                differences.append(IndexDifference(kind="rows", path=rel, session_id=session_id, detail=detail))
    on_disk_ids = {Path(rel).stem for rel in disk}
    for rel in sorted(set(known) - set(disk)):
        if not os.path.lexists(root / rel):
            differences.append(
                IndexDifference(kind="extra", path=rel, session_id=Path(rel).stem, detail="the file no longer exists")
            )
    for session_id in sorted(indexed_sessions - on_disk_ids):
        if f"sessions/{session_id}.json" not in known:
            differences.append(
                IndexDifference(
                    kind="extra", path=f"sessions/{session_id}.json", session_id=session_id, detail="rows without a file"
                )
            )
    for (session_id,) in conn.execute(
        "SELECT DISTINCT session_id FROM messages WHERE session_id NOT IN (SELECT session_id FROM sessions)"
    ):
        if session_id in on_disk_ids:
            continue  # already reported as a rows difference
        differences.append(
            IndexDifference(kind="extra", path=f"sessions/{session_id}.json", session_id=session_id, detail="orphan message rows")
        )
    differences.extend(listing_differences(conn))
    for table in FTS_TABLES:
        try:
            conn.execute(f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            differences.append(IndexDifference(kind="fts", path="index.sqlite", detail=f"{table}: {exc}"))
    return differences
