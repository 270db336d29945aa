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
from index.files import is_session_file_name, known, known_but_not_in, known_paths, known_range, scan_names, stat_key
from index.models import ReindexReport
from index.row_writer import delete_rows, forget

Progress = Callable[[int, int], None]
# Files per transaction during a sync: each file's rows are replaced atomically either way;
# chunks keep a 100,000-file rebuild from holding the write lock for minutes.
SYNC_CHUNK = 500


def sync_files(db: IndexConnection, conn: sqlite3.Connection, progress: Progress | None, report: ReindexReport) -> None:
    """Index every new or changed file (an unchanged stat is trusted), one chunk of files per
    transaction, letting waiting chat turns in between chunks; then drop what is gone.

    A stat pass first finds the files to index, so ``db.pending`` (``index_pending``) counts
    exactly what is left, and the work is logged at INFO while it lasts (``index.pending``).
    """
    # Streamed: only the sorted file names are held in full; the ``files`` rows are read one
    # chunk (a range of paths) at a time, so a no-op sync over 100,000 files stays small.
    names = scan_names(db.layout.sessions)
    total = len(names)
    if progress is not None:
        progress(0, total)
    indexed = conn.execute("SELECT count(*) FROM files").fetchone()[0]
    db.pending.estimate(max(0, total - indexed))  # while the stat pass runs
    try:
        todo = changed(db.root, conn, names)
        unchanged = total - len(todo)
        report.files_seen += unchanged
        report.skipped += unchanged
        db.pending.begin(len(todo))
        done = unchanged
        for start in range(0, len(todo), SYNC_CHUNK):
            chunk = todo[start : start + SYNC_CHUNK]
            conn = db.let_turns_in(conn)
            with write_transaction(conn):
                rows = known_paths(conn, chunk)
                for rel in chunk:
                    index_one(db, conn, rel, rows.get(rel), "stat", report)
                    done += 1
                    if progress is not None:
                        progress(done, total)
            db.pending.done(len(chunk))  # committed: visible to every reader from now on
            db.after_write(conn)
        if progress is not None and done < total:
            progress(total, total)
    finally:
        db.pending.end()
    drop_gone(db, db.let_turns_in(conn), names, report)


def changed(root: Path, conn: sqlite3.Connection, names: list[str]) -> list[str]:
    """The files of ``names`` (sorted) the index has no row for, or whose stat differs from it."""
    todo: list[str] = []
    for start in range(0, len(names), SYNC_CHUNK):
        chunk = names[start : start + SYNC_CHUNK]
        rows = known_range(conn, chunk[0], chunk[-1])
        for rel in chunk:
            row = rows.get(rel)
            if row is None:
                todo.append(rel)
                continue
            try:
                if stat_key(os.lstat(os.path.join(root, rel))) != row.stat:
                    todo.append(rel)
            except FileNotFoundError:
                todo.append(rel)
    return todo


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
