"""Maintenance of the index between writes: the full-text segment merges the writes leave
undone (``index.merging``), done a slice at a time, yielding to chat turns. (Checkpoints: see
``index.checkpointer``, told after every write by ``IndexConnection.after_write``.)"""

from __future__ import annotations

import sqlite3
import time

from index.connection import IndexConnection
from index.database import is_rebuilding, write_transaction
from index.merging import defer_merges, merge_slice
from index.schema import FTS_TABLES, is_bulk_loading


class Merges:
    """The deferred merges of one indexer's writes."""

    def __init__(self, db: IndexConnection) -> None:
        self._db = db
        # ``db.writes`` at the last complete merge pass; unequal at start: an index opened may
        # hold merging left by an earlier process.
        self._merged_writes = -1
        # The connection on which the index's merge settings were last checked (not on open,
        # so that a read-only ``check`` never writes them).
        self._deferred_on: sqlite3.Connection | None = None

    def merge_deferred(self, seconds: float | None = None) -> int:
        """See ``Indexer.merge_deferred``."""
        db = self._db
        writes = db.writes
        if writes == self._merged_writes:
            return 0
        deadline = None if seconds is None else time.monotonic() + seconds
        merged = 0
        for table in FTS_TABLES:
            while True:
                if db.turns.waiting or (deadline is not None and time.monotonic() >= deadline):
                    return merged
                with db.lock:
                    if db.turns.waiting:
                        return merged
                    conn = db.connection()
                    if db.needs_rebuild or is_bulk_loading(conn):
                        return merged  # a rebuild (here or in another process) merges as it goes
                    try:
                        with write_transaction(conn):
                            if self._deferred_on is not conn:  # an index made before merges were deferred
                                defer_merges(conn, FTS_TABLES)
                                self._deferred_on = conn
                            worked = merge_slice(conn, table)
                    except sqlite3.OperationalError as exc:
                        if is_rebuilding(exc):  # another process dropped the tables to rebuild them
                            return merged
                        raise
                    db.checkpointer.after_commit(conn)
                if not worked:
                    break
                merged += 1
        self._merged_writes = writes  # later writes (a turn let in between slices) count again
        return merged
