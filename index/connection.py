"""``IndexConnection``: the one connection to ``index.sqlite`` an indexer writes through, and its recovery.

Opens the file (again when it was deleted or replaced), drops and recreates a damaged one,
starts over from empty tables after an abandoned bulk load, and marks the index for a rebuild
whenever it had to be recreated. Holds what every job of the indexer shares: the lock, the
turn handoff, the checkpointer and the count of row writes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from index.blob_text import BlobTexts
from index.checkpointer import WalCheckpointer
from index.database import discard_damaged, file_identity, is_damaged, open_database, retry_busy, retry_rebuilding
from index.files import scan_names
from index.handoff import TurnHandoff
from index.pending import PendingFiles
from index.schema import abandoned_bulk_load, reset_schema
from store import SessionStore
from store.paths import Layout
from store.quarantine import QuarantineRecord

log = logging.getLogger(__name__)
T = TypeVar("T")


class IndexConnection:
    """The connection of one indexer and the state its jobs share; thread-safe through ``lock``."""

    def __init__(self, root: Path | str, pending: PendingFiles | None = None) -> None:
        self.root = Path(root)
        self.layout = Layout(self.root)
        self.db_path = self.layout.index
        self.lock_path = self.layout.locks / "index.sqlite.lock"
        self.lock = threading.RLock()
        self.turns = TurnHandoff(self.lock)
        self.needs_rebuild = False
        # Files not yet in the index (``index_pending``): a sync's catch-up and the watcher's queue.
        self.pending = pending if pending is not None else PendingFiles()
        self.attachment_text = BlobTexts(self.root)
        # Checkpoints run on its thread, not inside a chat turn's COMMIT.
        self.checkpointer = WalCheckpointer(self.db_path)
        # Row writes committed (``index.maintenance`` merges after them).
        self.writes = 0
        self.conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._store: SessionStore | None = None  # made on first use: it creates folders

    def connection(self) -> sqlite3.Connection:
        """The open connection (call with ``lock`` held); reopened (and marked for rebuild) if
        the file was deleted."""
        identity = file_identity(self.db_path)
        if self.conn is not None and identity == self._identity:
            conn = self.conn
            if abandoned_bulk_load(conn, self.lock_path):
                # A full rebuild died mid-way (no FTS triggers): start again from empty tables.
                retry_busy(lambda: reset_schema(conn, self.lock_path))
                self.needs_rebuild = True
                self.pending.starting()  # index_pending >= 1 until the catch-up has counted the files
            return conn
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self._identity = identity  # the file being opened: the one to drop if it is damaged
        conn, created = open_database(self.db_path, self.lock_path, autocheckpoint=False)
        self.conn = conn
        self._identity = file_identity(self.db_path)
        # A new file (ours or made by another process that has not filled it yet) needs a sync.
        if created or (conn.execute("SELECT 1 FROM files LIMIT 1").fetchone() is None and scan_names(self.layout.sessions)):
            self.needs_rebuild = True
            self.pending.starting()  # index_pending >= 1 until the catch-up has counted the files
        return conn

    def replaced(self) -> bool:
        """True if the open connection's file was deleted or replaced since it was opened."""
        return self.conn is not None and file_identity(self.db_path) != self._identity

    def recovering(self, action: Callable[[], T]) -> T:
        """Run ``action``; if the index file is damaged (truncated, garbage), drop it and run again.

        The index is derived data: the damaged file is deleted (only if it is still the file
        that failed, so a fresh index another process made is kept) and the retry recreates it
        and rebuilds it from the session files. The session files are never touched.
        """
        with self.lock:
            try:
                # A write that meets a table dropped for a moment by another process's full
                # rebuild waits for the new tables, like searches do (its transaction was rolled back).
                return retry_rebuilding(action)
            except sqlite3.DatabaseError as exc:
                if not is_damaged(exc):
                    raise
                log.warning("%s is damaged (%s); deleting it and rebuilding it from the session files", self.db_path, exc)
                failed = self._identity
                if self.conn is not None:
                    self.conn.close()
                    self.conn = None
                self._identity = None
                discard_damaged(self.db_path, self.lock_path, failed)
            return retry_rebuilding(action)

    def after_write(self, conn: sqlite3.Connection) -> None:
        """After each committed write of rows: count it (it may leave merging to do) and checkpoint."""
        self.writes += 1
        self.checkpointer.after_commit(conn)

    def let_turns_in(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        """Between two chunks of a long write (no transaction open): let the waiting chat turns
        index their writes; return the connection to go on with (a turn may have reopened it)."""
        return self.connection() if self.turns.let_turns_in() else conn

    def quarantine(self, path: Path, reason: str) -> QuarantineRecord:
        """The store's quarantine rule for an unreadable session file (the index's one write
        under ``sessions/``, exactly as the store itself does it)."""
        if self._store is None:
            self._store = SessionStore(self.root)
        return self._store.quarantine(path, reason)

    def close(self) -> None:
        self.checkpointer.close()
        with self.lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None
                self._identity = None
