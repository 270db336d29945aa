"""``Indexer``: mirror the session files into ``index.sqlite`` (incremental, full, per path, per turn, check).

A facade over the modules that do each job: ``index.connection`` (opening and recovery),
``index.sync`` (incremental sync), ``index.rebuild`` (full rebuild), ``index.turn`` (the
per-turn update), ``index.maintenance`` (merges). Reads the files, never writes under
``sessions/``, except that an unreadable file is handed to the store's quarantine rule
(``SessionStore.quarantine``), exactly as the store itself does.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from index import rebuild, sync
from index.check import compare
from index.checkpointer import WalCheckpointer
from index.connection import IndexConnection
from index.database import is_damaged, retry_busy
from index.files import known, scan, stat_key
from index.maintenance import Merges
from index.models import IndexDifference, ReindexReport
from index.pending import PendingFiles
from index.prepare import decode_file
from index.sync import Progress
from index.turn import TurnUpdate
from store import Appended, WriteReceipt
from store.schema import Session

T = TypeVar("T")


class Indexer:
    """Keeps ``<root>/index.sqlite`` equal to what ``<root>/sessions/*.json`` say.

    Thread-safe (one lock per instance); several instances, in several processes, may write
    the same index: WAL, a busy timeout and ``BEGIN IMMEDIATE`` keep them from failing with
    "database is locked". If the index file is deleted, the next call recreates and rebuilds it.
    A long sync hands the lock over between chunks to the chat turns waiting for it
    (``index.handoff``): the server's turns and its watcher share one indexer.
    """

    def __init__(self, root: Path | str, pending: PendingFiles | None = None) -> None:
        """``pending``: share another indexer's count (a reader that finds the index damaged
        and replaces it then says so in the writer's ``index_pending``)."""
        self._db = IndexConnection(root, pending)
        self.root = self._db.root
        self.layout = self._db.layout
        self.db_path = self._db.db_path
        self.attachment_text = self._db.attachment_text
        self.turns = self._db.turns
        self._turn = TurnUpdate(self._db, lambda: self._sync(False, None))
        self._merges = Merges(self._db)

    @property
    def checkpointer(self) -> WalCheckpointer:
        """Runs the WAL checkpoints after this indexer's commits (replaceable, for tests)."""
        return self._db.checkpointer

    @checkpointer.setter
    def checkpointer(self, value: WalCheckpointer) -> None:
        self._db.checkpointer = value

    # -- connection ------------------------------------------------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        """The SQLite connection (for tests and read-only inspection)."""
        with self._db.lock:
            return self._db.connection()

    @property
    def is_open(self) -> bool:
        """True while the connection is open (``close`` closes it)."""
        return self._db.conn is not None

    def recovering(self, action: Callable[[], T]) -> T:
        """Run ``action``; if the index file is damaged, drop it and run again (``IndexConnection.recovering``)."""
        return self._db.recovering(action)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Indexer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def sync(self, full: bool = False, progress: Progress | None = None, workers: int | None = None) -> ReindexReport:
        """Make the index match ``sessions/``: index new/changed files, drop rows of deleted ones.

        Incremental by default: a file whose (mtime_ns, size, inode) is unchanged is skipped, one
        whose stat changed but whose sha256 did not is only re-stamped. ``full=True`` re-reads
        every file into freshly created tables (``index.rebuild``); full-text searches meanwhile
        see an empty or partial index. ``progress(done, total)`` is called once with ``done=0``,
        then after every file it indexes, and with ``done=total`` at the end; ``pending_files``
        counts what is left meanwhile. A damaged index file is dropped and rebuilt (see
        ``recovering``). ``workers``: processes that decode the files of a full sync (default:
        one per CPU when there are enough files to pay for starting them, see
        ``index.prepare.default_workers``; 1: this process only). An incremental sync ends with
        the full-text merges left undone (``merge_deferred``).
        """
        report = self.recovering(lambda: self._sync(full, progress, workers))
        if not full:  # what its writes left unmerged (a full rebuild merges as it goes)
            self.merge_deferred()
        return report

    def _sync(self, full: bool, progress: Progress | None, workers: int | None = None) -> ReindexReport:
        started = time.monotonic()
        report = ReindexReport(full=full)
        if full or self._db.needs_rebuild:
            self._db.pending.starting()  # index_pending > 0 from now until the files are counted
        try:
            with self._db.lock:
                conn = self._db.connection()
                self._db.needs_rebuild = False
                if full:
                    rebuild.rebuild(self._db, conn, progress, report, workers)
                else:
                    sync.sync_files(self._db, conn, progress, report)
        finally:
            self._db.pending.end()
        report.seconds = time.monotonic() - started
        return report

    def index_paths(self, paths: Iterable[Path | str]) -> ReindexReport:
        """Index (or drop the rows of) exactly these session files, in one transaction.

        Each file is read and hashed, so a write in the same clock tick is never missed. Paths
        outside ``sessions/`` or not named ``*.json`` are ignored. If the index had to be
        recreated (deleted or damaged), this performs a full sync instead.
        """
        return self.recovering(lambda: self._index_paths(paths))

    def _index_paths(self, paths: Iterable[Path | str]) -> ReindexReport:
        started = time.monotonic()
        report = ReindexReport()
        rels = sync.session_rels(self._db, paths)
        with self._db.lock:
            conn = self._db.connection()
            if self._db.needs_rebuild:
                return self.sync()
            sync.index_rels(self._db, conn, rels, report)
        report.seconds = time.monotonic() - started
        return report

    def on_written(self, receipt: WriteReceipt[Any]) -> None:
        """What a chat turn calls after the store wrote a session: index it (``index_session``
        with everything the receipt carries: O(new messages) when nothing else changed the file)."""
        self.index_session(receipt.path, receipt.session, receipt.data, receipt.appended)

    def index_session(
        self, path: Path | str, session: Session, data: bytes | None = None, appended: Appended | None = None
    ) -> ReindexReport:
        """Index ``session``, already decoded from the session file ``path``, without decoding it again.

        ``data`` is the file's content as written; if given and the file on disk no longer holds
        exactly these bytes (another writer came in between), the file is read and decoded as
        ``index_paths`` would. Without ``data`` the caller promises ``session`` is what the file
        holds now. Either way the ``files`` row records the file's stat and sha256 taken inside
        the write transaction, so a later sync sees any newer write. Raises ``ValueError`` if
        ``path`` is not a session file under ``sessions/`` or its name disagrees with ``session.id``.

        ``appended`` (from the store's write) makes a chat turn cost O(new messages): when the
        rows of this session were last made by this indexer from exactly
        ``appended.previous_data``, nothing else changed them since (same ``files`` row), and the
        file still has the stat of the write, only the session row is updated and the new
        messages and switches are inserted; the file is neither read back nor hashed (the
        ``files`` row gets ``PENDING_HASH`` until the watcher stamps the digest). Otherwise
        the path above is taken.
        """
        return self._turn.index_session(Path(path), session, data, appended)

    def merge_deferred(self, seconds: float | None = None) -> int:
        """Do the full-text segment merges the writes leave undone (``index.merging``), one slice at a time.

        Stops when nothing is left to merge, when a chat turn waits for the lock (it gets the
        lock after at most one slice), or after ``seconds``. Returns the slices that merged
        something. Costs nothing when this indexer wrote nothing since the last complete pass,
        and nothing is done while the index waits for a rebuild.
        """
        return self._merges.merge_deferred(seconds)

    def rebuild_if_needed(self) -> ReindexReport | None:
        """If the index file was deleted, damaged (or never built), recreate it and sync; else None."""

        def rebuild() -> ReindexReport | None:
            self._db.connection()
            if self._db.needs_rebuild:
                return self._sync(False, None)
            return None

        return self.recovering(rebuild)

    # -- reading ---------------------------------------------------------------------------

    @property
    def pending(self) -> PendingFiles:
        """What this indexer knows it has not indexed yet (``index.pending``); the watcher adds its queue."""
        return self._db.pending

    def reflects(self, path: str) -> bool:
        """True if this indexer's rows for the session file ``path`` were made from the file as it is now."""
        return self._turn.reflects(path)

    def pending_files(self) -> int:
        """Session files written but not yet reflected in the index (0 when current): ``index_pending``.

        At least 1 from the moment the index file was deleted or replaced under this indexer
        until its catch-up has counted the files to index again.
        """
        pending = self._db.pending.count()
        if pending == 0 and self._db.replaced():
            return 1
        return pending

    def signature_matches(self) -> bool:
        """True if every file in ``sessions/`` has the (mtime_ns, size, inode) the index recorded.

        Read-only: a missing index file is reported as False, never created.
        """
        if not self.db_path.exists():
            return False
        conn = sqlite3.connect(self.db_path.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
        try:
            rows = retry_busy(lambda: known(conn))
        except sqlite3.DatabaseError:
            return False
        finally:
            conn.close()
        disk = scan(self.layout.sessions)
        if set(rows) != set(disk):
            return False
        for rel, path in disk.items():
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                return False
            if stat_key(st) != rows[rel].stat:
                return False
        return True

    def check(self) -> list[IndexDifference]:
        """Compare the index with the files, read-only; return every difference found."""
        with self._db.lock:
            try:
                conn = self._db.connection()
                return retry_busy(
                    lambda: compare(conn, self.root, scan(self.layout.sessions), decode_file, known(conn), self.attachment_text)
                )
            except sqlite3.DatabaseError as exc:
                if not is_damaged(exc):
                    raise
                detail = f"index.sqlite is damaged ({exc}); run scripts/reindex.py to rebuild it from the files"
                return [IndexDifference(kind="fts", path="index.sqlite", detail=detail)]
