"""Incremental sync: index the session files that are new or changed since the index last saw
them, drop the rows of the ones that are gone; and the same for a given list of paths."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path

from index.connection import IndexConnection
from index.database import write_transaction
from index.file_sync import index_one
from index.files import is_session_file_name, known, known_but_not_in, known_range, scan_names
from index.models import ReindexReport
from index.row_writer import delete_rows, forget

Progress = Callable[[int, int], None]
# Files per transaction during a sync: each file's rows are replaced atomically either way;
# chunks keep a 100,000-file rebuild from holding the write lock for minutes.
SYNC_CHUNK = 500


def sync_files(db: IndexConnection, conn: sqlite3.Connection, progress: Progress | None, report: ReindexReport) -> None:
    """Index every new or changed file (an unchanged stat is trusted), one chunk of files per
    transaction, letting waiting chat turns in between chunks; then drop what is gone."""
    # Streamed: only the sorted file names are held in full; the ``files`` rows are read one
    # chunk (a range of paths) at a time, so a no-op sync over 100,000 files stays small.
    names = scan_names(db.layout.sessions)
    total = len(names)
    if progress is not None:
        progress(0, total)
    for start in range(0, total, SYNC_CHUNK):
        chunk = names[start : start + SYNC_CHUNK]
        conn = db.let_turns_in(conn)
        with write_transaction(conn):
            rows = known_range(conn, chunk[0], chunk[-1])
            for offset, rel in enumerate(chunk, start=start + 1):
                index_one(db, conn, rel, rows.get(rel), "stat", report)
                if progress is not None:
                    progress(offset, total)
        db.after_write(conn)
    drop_gone(db, db.let_turns_in(conn), names, report)


def drop_gone(db: IndexConnection, conn: sqlite3.Connection, names: list[str], report: ReindexReport) -> None:
    """Drop the rows of files not in ``names`` (the sorted scan) that are still gone, and of
    sessions with no indexed file."""
    with write_transaction(conn):
        for rel in known_but_not_in(conn, names):
            if os.path.lexists(db.root / rel):
                continue  # appeared after the scan; the next sync indexes it
            forget(conn, rel)
            report.removed += 1
        orphans = conn.execute(
            "SELECT session_id FROM sessions WHERE file_path NOT IN (SELECT path FROM files WHERE status = 'indexed')"
        ).fetchall()
        for (session_id,) in orphans:
            delete_rows(conn, session_id)
    db.after_write(conn)


def session_rels(db: IndexConnection, paths: Iterable[Path | str]) -> list[str]:
    """``sessions/<name>`` of each path that is a session file of this index, in order, once."""
    wanted: dict[str, None] = {}  # ordered, without duplicates
    sessions_dir = os.path.abspath(db.layout.sessions)
    for raw in paths:
        path = Path(raw)
        if os.path.dirname(os.path.abspath(path)) != sessions_dir or not is_session_file_name(path.name):
            continue
        wanted[f"sessions/{path.name}"] = None
    return list(wanted)


def index_rels(db: IndexConnection, conn: sqlite3.Connection, rels: list[str], report: ReindexReport) -> None:
    """Index exactly the files ``rels`` (each read and hashed), in one transaction."""
    with write_transaction(conn):
        for rel in rels:
            index_one(db, conn, rel, known(conn, rel).get(rel), "hash", report)
    db.after_write(conn)
