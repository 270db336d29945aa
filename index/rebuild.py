"""Full rebuild: every session file's rows written anew into fresh tables (``index.bulk_load``),
the files decoded ahead of the writer, in worker processes when there are enough of them."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import datetime, timezone

from index import sync
from index.bulk_load import BulkLoad, bulk_load
from index.chunk_tables import ChunkTables
from index.connection import IndexConnection
from index.database import write_transaction
from index.file_sync import forget_vanished, index_one, settle_unusable
from index.files import REMEMBER_SQL, Known, files_row, known_range, scan_names, session_id_of, stat_key
from index.models import ReindexReport
from index.prepare import PreparedFile, default_workers, prepared_chunks
from index.row_writer import INSERT_SESSION_SQL, insert_messages, insert_switches
from index.sync import Progress, drop_gone
from index.times import iso

# A full sync puts the new messages into the full-text tables every this many chunks: large
# batches (few FTS5 segments to merge) that still overlap the decoding of the next files.
FTS_BATCH_CHUNKS = 16


def rebuild(db: IndexConnection, conn: sqlite3.Connection, progress: Progress | None, report: ReindexReport, workers: int | None) -> None:
    """Re-read every file into freshly created tables (so even a damaged full-text table is
    repaired), with the FTS triggers off and the full-text tables filled in batches
    (``bulk_load``); full-text searches meanwhile see an empty or partial index.
    ``workers``: see ``index.prepare.default_workers``."""
    with bulk_load(conn, db.lock_path) as load:
        names = scan_names(db.layout.sessions)
        if progress is not None:
            progress(0, len(names))
        db.pending.begin(len(names))
        try:
            write_all(db, conn, names, progress, report, workers, load)
        finally:
            db.pending.end()
        drop_gone(db, conn, names, report)
    db.after_write(conn)


def write_all(
    db: IndexConnection,
    conn: sqlite3.Connection,
    names: list[str],
    progress: Progress | None,
    report: ReindexReport,
    workers: int | None,
    load: BulkLoad,
) -> None:
    """Write every file's rows into the fresh tables of a full sync, one transaction per chunk.

    The files are decoded ahead of the writer (in worker processes when there are enough of
    them); inside each chunk's transaction a file whose stat changed since it was decoded
    (another writer came in between) is decoded again here. Every ``FTS_BATCH_CHUNKS``
    chunks the new messages go into the full-text tables (``BulkLoad.index_new_rows``).
    """
    size = sync.SYNC_CHUNK  # read here: tests shrink it
    chunks = [names[start : start + size] for start in range(0, len(names), size)]
    if workers is None:
        workers = default_workers(len(names), size)
    done = 0
    tables = ChunkTables(conn)
    tables.attach()
    try:
        with closing(prepared_chunks(db.root, chunks, workers, db.attachment_text)) as decoded_chunks:
            for number, (chunk, prepared) in enumerate(zip(chunks, decoded_chunks), start=1):
                with write_transaction(conn):
                    if prepared.tables is not None:
                        tables.load(prepared.tables)
                    source = tables if prepared.tables is not None else None
                    known = known_range(conn, chunk[0], chunk[-1])
                    fresh: list[tuple[int, PreparedFile]] = []
                    for file_no, item in enumerate(prepared.files):
                        if not _apply_prepared(db, conn, file_no, item, known.get(item.rel), fresh, report):
                            _write_fresh(conn, fresh, source, report, load)  # keep the rows in file order
                            fresh = []
                            index_one(db, conn, item.rel, known.get(item.rel), "full", report)
                        done += 1
                        if progress is not None:
                            progress(done, len(names))
                    _write_fresh(conn, fresh, source, report, load)
                    if number % FTS_BATCH_CHUNKS == 0:
                        load.index_new_rows()
                db.pending.done(len(prepared.files))
                db.after_write(conn)
    finally:
        tables.detach()


def _apply_prepared(
    db: IndexConnection,
    conn: sqlite3.Connection,
    file_no: int,
    item: PreparedFile,
    known: Known | None,
    fresh: list[tuple[int, PreparedFile]],
    report: ReindexReport,
) -> bool:
    """What ``index_one`` does in mode "full", from a file decoded beforehand; a readable one
    is added to ``fresh`` (with its place in the chunk). False (nothing done) if the file
    changed since it was decoded."""
    try:
        now: tuple[int, int, int] | None = stat_key(os.lstat(os.path.join(db.root, item.rel)))
    except FileNotFoundError:
        now = None
    decoded = item.decoded
    if now != (None if decoded is None else stat_key(decoded.stat)):
        return False
    report.files_seen += 1
    if decoded is None:
        forget_vanished(conn, item.rel, known, report)
    elif decoded.refused is None and decoded.problem is None:
        fresh.append((file_no, item))  # readable (the common case: no Path built for it)
    else:
        settle_unusable(db, conn, item.rel, db.root / item.rel, decoded, report)
    return True


def _write_fresh(
    conn: sqlite3.Connection,
    fresh: list[tuple[int, PreparedFile]],
    tables: ChunkTables | None,
    report: ReindexReport,
    load: BulkLoad,
) -> None:
    """The rows of readable files, batched: what ``write_session(fresh=True)`` and ``remember``
    write for each, in the same order. ``fresh`` is a run of files of one chunk (the files
    between them have no rows); their rows are in ``tables`` if given."""
    if not fresh:
        return
    if load.others_wrote():
        # Stray rows (another writer during the rebuild) must not collide; else each
        # session's rows are written once, into tables created empty.
        session_ids = [(session_id_of(item.rel),) for _, item in fresh]
        for table in ("messages", "model_switches", "sessions"):
            conn.executemany(f"DELETE FROM {table} WHERE session_id = ?", session_ids)
    if tables is not None:
        tables.copy(fresh[0][0], fresh[-1][0])
    else:
        rows = [item.rows for _, item in fresh if item.rows is not None]
        conn.executemany(INSERT_SESSION_SQL, [row.session for row in rows])
        insert_messages(conn, [message for row in rows for message in row.messages])
        insert_switches(conn, [switch for row in rows for switch in row.switches])
    indexed_at = iso(datetime.now(timezone.utc))
    conn.executemany(
        REMEMBER_SQL,
        [files_row(item.rel, item.decoded, "indexed", None, indexed_at) for _, item in fresh if item.decoded is not None],
    )
    report.indexed += len(fresh)
