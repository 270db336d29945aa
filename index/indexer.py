"""``Indexer``: mirror the session files into ``index.sqlite`` (incremental, full, per path, check).

Reads the files, never writes under ``sessions/``, except that an unreadable file is handed to
the store's quarantine rule (``SessionStore.quarantine``), exactly as the store itself does.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from index.checkpointer import WalCheckpointer
from index.database import (
    FTS_TABLES,
    BulkLoad,
    PENDING_HASH,
    discard_damaged,
    file_identity,
    is_bulk_loading,
    is_damaged,
    is_rebuilding,
    iso,
    abandoned_bulk_load,
    bulk_load,
    open_database,
    reset_schema,
    retry_busy,
    retry_rebuilding,
    write_transaction,
)
from index.merging import defer_merges, merge_slice
from index.models import IndexDifference, ReindexReport
from index.blob_text import BlobTexts
from index.chunk_tables import ChunkTables
from index.prepare import Decoded as _Decoded, PreparedFile, decode_file, default_workers, prepared_chunks
from index.rows import MESSAGE_COLUMNS, SESSION_COLUMNS, SWITCH_COLUMNS, message_rows, session_row, switch_rows
from store.codec import read_file_no_follow
from store.paths import Layout
from store.schema import Session
from store.session_store import Appended

log = logging.getLogger(__name__)
T = TypeVar("T")
Progress = Callable[[int, int], None]
# Files per transaction during a sync: each file's rows are replaced atomically either way;
# chunks keep a 100,000-file rebuild from holding the write lock for minutes.
SYNC_CHUNK = 500
# A full sync puts the new messages into the full-text tables every this many chunks: large
# batches (few FTS5 segments to merge) that still overlap the decoding of the next files.
FTS_BATCH_CHUNKS = 16
# Sessions whose last indexed bytes are remembered for the append path (the ones being chatted
# in): as many as the store caches, whose bytes objects they share, so they cost no extra memory.
MIRRORED_SESSIONS = 4


@dataclass(frozen=True)
class _Known:
    """What the ``files`` table remembers about one file."""

    mtime_ns: int
    size: int
    inode: int | None
    sha256: str
    status: str


@dataclass(frozen=True)
class _Mirrored:
    """The bytes a session's rows were last made from by this indexer, and the stat recorded for them."""

    data: bytes
    stat: tuple[int, int, int]


def _stat_key(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def is_session_file_name(name: str) -> bool:
    """``<id>.json`` in ``sessions/``; dot files (the store's temp files, editor swaps) are not."""
    return name.endswith(".json") and not name.startswith(".")


def _placeholders(columns: tuple[str, ...]) -> str:
    return ", ".join("?" for _ in columns)


_REMEMBER_SQL = (
    "INSERT OR REPLACE INTO files (path, session_id, mtime_ns, size, inode, sha256, status, detail, indexed_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def session_id_of(rel: str) -> str:
    """``Path(rel).stem`` without building a ``Path`` (a full sync asks for 100,000 of them):
    the session id a ``sessions/<id>.json`` file name gives."""
    name = rel.rpartition("/")[2]
    if name.endswith(".json") and name != ".json":
        return name[: -len(".json")]
    return Path(rel).stem


def _files_row(rel: str, decoded: _Decoded, status: str, detail: str | None, indexed_at: str) -> tuple[Any, ...]:
    """The ``files`` row that remembers ``decoded`` (its stat and digest) as ``status``."""
    st = decoded.stat
    return (rel, session_id_of(rel), st.st_mtime_ns, st.st_size, st.st_ino, decoded.sha256, status, detail, indexed_at)


class Indexer:
    """Keeps ``<root>/index.sqlite`` equal to what ``<root>/sessions/*.json`` say.

    Thread-safe (one lock per instance); several instances, in several processes, may write
    the same index: WAL, a busy timeout and ``BEGIN IMMEDIATE`` keep them from failing with
    "database is locked". If the index file is deleted, the next call recreates and rebuilds it.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.layout = Layout(self.root)
        self.db_path = self.layout.index
        self._lock = threading.RLock()
        # A long sync hands the lock over between chunks to chat turns waiting for it (the
        # server's turns and its watcher share this indexer): see ``_let_turns_in``.
        self._handoff = threading.Condition(self._lock)
        self._turns_waiting = 0
        self._turns_guard = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._needs_rebuild = False
        self._store: Any = None
        self._lock_path = self.layout.locks / "index.sqlite.lock"
        self._mirrored: OrderedDict[str, _Mirrored] = OrderedDict()  # guarded by _lock
        self.attachment_text = BlobTexts(self.root)
        # Checkpoints run on its thread, not inside a chat turn's COMMIT.
        self.checkpointer = WalCheckpointer(self.db_path)
        # Row writes committed, and their count at the last complete merge pass (merge_deferred);
        # unequal at start: an index opened may hold merging left by an earlier process.
        self._writes = 0
        self._merged_writes = -1
        # The connection on which the index's merge settings were last checked (merge_deferred:
        # not on open, so that a read-only ``check`` never writes them).
        self._deferred_on: sqlite3.Connection | None = None

    # -- connection ------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        """The open connection; reopened (and marked for rebuild) if the file was deleted."""
        identity = file_identity(self.db_path)
        if self._conn is not None and identity == self._identity:
            if abandoned_bulk_load(self._conn, self._lock_path):
                # A full rebuild died mid-way (no FTS triggers): start again from empty tables.
                retry_busy(lambda: reset_schema(self._conn, self._lock_path))  # type: ignore[arg-type]
                self._needs_rebuild = True
            return self._conn
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._identity = identity  # the file being opened: the one to drop if it is damaged
        conn, created = open_database(self.db_path, self._lock_path, autocheckpoint=False)
        self._conn = conn
        self._identity = file_identity(self.db_path)
        # A new file (ours or made by another process that has not filled it yet) needs a sync.
        if created or (conn.execute("SELECT 1 FROM files LIMIT 1").fetchone() is None and self._scan_names()):
            self._needs_rebuild = True
        return conn

    def recovering(self, action: Callable[[], T]) -> T:
        """Run ``action``; if the index file is damaged (truncated, garbage), drop it and run again.

        The index is derived data: the damaged file is deleted (only if it is still the file
        that failed, so a fresh index another process made is kept) and the retry recreates it
        and rebuilds it from the session files. The session files are never touched.
        """
        with self._lock:
            try:
                # A write that meets a table dropped for a moment by another process's full
                # rebuild waits for the new tables, like searches do (its transaction was rolled back).
                return retry_rebuilding(action)
            except sqlite3.DatabaseError as exc:
                if not is_damaged(exc):
                    raise
                log.warning("%s is damaged (%s); deleting it and rebuilding it from the session files", self.db_path, exc)
                failed = self._identity
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                self._identity = None
                discard_damaged(self.db_path, self._lock_path, failed)
            return retry_rebuilding(action)

    @property
    def connection(self) -> sqlite3.Connection:
        """The SQLite connection (for tests and read-only inspection)."""
        with self._lock:
            return self._connection()

    def close(self) -> None:
        self.checkpointer.close()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._identity = None

    def __enter__(self) -> Indexer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _quarantine(self, path: Path, reason: str) -> Any:
        if self._store is None:
            from store.session_store import SessionStore

            self._store = SessionStore(self.root)
        return self._store.quarantine(path, reason)

    # -- reading files ---------------------------------------------------------------------

    def _scan(self) -> dict[str, Path]:
        folder = self.layout.sessions
        if not folder.is_dir():
            return {}
        found = {}
        for entry in os.scandir(folder):
            if is_session_file_name(entry.name) and not entry.is_dir(follow_symlinks=False):
                found[f"sessions/{entry.name}"] = Path(entry.path)
        return found

    def _known(self, conn: sqlite3.Connection, rel: str | None = None) -> dict[str, _Known]:
        sql = "SELECT path, mtime_ns, size, inode, sha256, status FROM files"
        args: tuple[Any, ...] = ()
        if rel is not None:
            sql += " WHERE path = ?"
            args = (rel,)
        return {row[0]: _Known(*row[1:]) for row in conn.execute(sql, args)}

    def _decode(self, path: Path) -> _Decoded | None:
        """Read and decode ``path``; None if it vanished. Never raises for bad content."""
        return decode_file(path)

    # -- writing rows ----------------------------------------------------------------------

    @staticmethod
    def _delete_rows(conn: sqlite3.Connection, session_id: str) -> None:
        conn.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
        conn.execute("DELETE FROM model_switches WHERE session_id = ?", (session_id,))
        conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))

    def _forget(self, conn: sqlite3.Connection, rel: str) -> None:
        self._delete_rows(conn, Path(rel).stem)
        conn.execute("DELETE FROM files WHERE path = ?", (rel,))

    @staticmethod
    def _remember(conn: sqlite3.Connection, rel: str, decoded: _Decoded, status: str, detail: str | None) -> None:
        conn.execute(_REMEMBER_SQL, _files_row(rel, decoded, status, detail, iso(datetime.now(timezone.utc))))

    def _write_session(self, conn: sqlite3.Connection, rel: str, session: Session, fresh: bool = False) -> None:
        """Make the rows of ``session`` equal to what a rebuild would write.

        Incremental: the stored message rows are compared with the new ones and only the rows
        from the first difference on are replaced (a turn appends two messages, so usually only
        those are inserted). ``fresh`` (full sync) skips the comparison: every row is written anew.
        """
        new_session = session_row(session, rel)
        new_messages = message_rows(session, attachment_text=self.attachment_text)
        new_switches = switch_rows(session)
        stored = None if fresh else conn.execute(
            f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE session_id = ?", (session.id,)
        ).fetchone()
        if stored is None:
            # Stray rows (a crash, another writer during a full rebuild) must not collide.
            self._delete_rows(conn, session.id)
            conn.execute(
                f"INSERT INTO sessions ({', '.join(SESSION_COLUMNS)}) VALUES ({_placeholders(SESSION_COLUMNS)})",
                new_session,
            )
            self._insert_messages(conn, new_messages)
            self._insert_switches(conn, new_switches)
            return
        if tuple(stored) != new_session:
            assignments = ", ".join(f"{column} = ?" for column in SESSION_COLUMNS[1:])
            conn.execute(f"UPDATE sessions SET {assignments} WHERE session_id = ?", (*new_session[1:], session.id))
        old_messages = conn.execute(
            f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM messages WHERE session_id = ? ORDER BY position", (session.id,)
        ).fetchall()
        common = 0
        for old, new in zip(old_messages, new_messages):
            if old != new:
                break
            common += 1
        if common < len(old_messages):
            conn.execute("DELETE FROM messages WHERE session_id = ? AND position >= ?", (session.id, common))
        self._insert_messages(conn, new_messages[common:])
        old_switches = conn.execute(
            f"SELECT {', '.join(SWITCH_COLUMNS)} FROM model_switches WHERE session_id = ? ORDER BY position", (session.id,)
        ).fetchall()
        if old_switches != new_switches:
            conn.execute("DELETE FROM model_switches WHERE session_id = ?", (session.id,))
            self._insert_switches(conn, new_switches)

    @staticmethod
    def _insert_messages(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            conn.executemany(
                f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) VALUES ({_placeholders(MESSAGE_COLUMNS)})", rows
            )

    @staticmethod
    def _insert_switches(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            conn.executemany(
                f"INSERT INTO model_switches ({', '.join(SWITCH_COLUMNS)}) VALUES ({_placeholders(SWITCH_COLUMNS)})", rows
            )

    def _index_one(
        self, conn: sqlite3.Connection, rel: str, known: _Known | None, mode: str, report: ReindexReport
    ) -> None:
        """Bring one file's rows up to date. ``mode``: "stat" (trust unchanged stat), "hash", "full"."""
        path = self.root / rel
        report.files_seen += 1
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            self._forget_vanished(conn, rel, known, report)
            return
        unchanged = known is not None and _stat_key(st) == (known.mtime_ns, known.size, known.inode)
        if mode == "stat" and unchanged:
            report.skipped += 1
            return
        if mode == "hash" and unchanged and known is not None and known.sha256 == PENDING_HASH:
            # Our own append path's write: the rows match these bytes; only the digest is missing.
            self._stamp_digest(conn, rel, path, known)
            report.skipped += 1
            return
        decoded = self._decode(path)
        if decoded is None:
            self._forget_vanished(conn, rel, known, report)
            return
        if mode != "full" and known is not None and known.sha256 == decoded.sha256:
            # Touched but not changed: remember the new stat so the next sync skips it cheaply.
            self._remember(conn, rel, decoded, known.status, None)
            report.skipped += 1
            return
        if self._settle_unusable(conn, rel, path, decoded, report):
            return
        assert decoded.session is not None
        self._write_session(conn, rel, decoded.session, fresh=mode == "full")
        self._remember(conn, rel, decoded, "indexed", None)
        report.indexed += 1

    def _forget_vanished(self, conn: sqlite3.Connection, rel: str, known: _Known | None, report: ReindexReport) -> None:
        """A file that is gone: drop what the index knew of it."""
        if known is not None:
            self._forget(conn, rel)
            report.removed += 1

    def _settle_unusable(self, conn: sqlite3.Connection, rel: str, path: Path, decoded: _Decoded, report: ReindexReport) -> bool:
        """A file written by a newer schema (left in place, refused) or unreadable (quarantined,
        ``_handle_unreadable``): record it so; False if it is a readable session."""
        if decoded.refused is not None:
            self._delete_rows(conn, path.stem)
            self._remember(conn, rel, decoded, "refused", decoded.refused)
            report.refused.append(decoded.refused)
            report.skipped += 1
            return True
        if decoded.problem is not None:
            self._handle_unreadable(conn, rel, path, decoded, report)
            return True
        return False

    @staticmethod
    def _stamp_digest(conn: sqlite3.Connection, rel: str, path: Path, known: _Known) -> None:
        try:
            digest = hashlib.sha256(read_file_no_follow(path)).hexdigest()
        except OSError:
            return  # gone or replaced: its own event (or the next sync) handles it
        conn.execute(
            "UPDATE files SET sha256 = ? WHERE path = ? AND sha256 = ? AND mtime_ns = ? AND size = ? AND inode IS ?",
            (digest, rel, PENDING_HASH, known.mtime_ns, known.size, known.inode),
        )

    def _handle_unreadable(
        self, conn: sqlite3.Connection, rel: str, path: Path, decoded: _Decoded, report: ReindexReport
    ) -> None:
        try:
            now = os.lstat(path)
        except FileNotFoundError:
            self._forget(conn, rel)
            report.removed += 1
            return
        if _stat_key(now) != _stat_key(decoded.stat):
            # Someone is still writing it: the next event (or sync) looks again.
            report.skipped += 1
            return
        assert decoded.problem is not None
        try:
            record = self._quarantine(path, decoded.problem)
        except OSError as exc:
            report.errors.append(f"{path}: unreadable ({decoded.problem}) and could not be quarantined: {exc}")
            report.skipped += 1
            return
        self._forget(conn, rel)
        report.quarantined.append(record)

    # -- public operations -----------------------------------------------------------------

    def sync(self, full: bool = False, progress: Progress | None = None, workers: int | None = None) -> ReindexReport:
        """Make the index match ``sessions/``: index new/changed files, drop rows of deleted ones.

        A damaged index file is dropped and rebuilt (see ``recovering``). ``workers``: processes
        that decode the files of a full sync (default: one per CPU when there are enough files
        to pay for starting them, see ``index.prepare.default_workers``; 1: this process only).
        An incremental sync ends with the full-text merges left undone (``merge_deferred``).
        """
        report = self.recovering(lambda: self._sync(full, progress, workers))
        if not full:  # what its writes left unmerged (a full rebuild merges as it goes)
            self.merge_deferred()
        return report

    def _sync(self, full: bool, progress: Progress | None, workers: int | None = None) -> ReindexReport:
        """``sync`` without the damage recovery.

        Incremental by default: a file whose (mtime_ns, size, inode) is unchanged is skipped, one
        whose stat changed but whose sha256 did not is only re-stamped. ``full=True`` re-reads
        every file into freshly created tables (so even a damaged full-text table is repaired),
        with the FTS triggers off and one FTS rebuild at the end (``bulk_load``); full-text
        searches meanwhile see an empty or partial index. ``progress(done, total)`` is called once with
        ``done=0`` and then after every file.
        """
        started = time.monotonic()
        report = ReindexReport(full=full)
        with self._lock:
            conn = self._connection()
            self._needs_rebuild = False
            if full:
                with bulk_load(conn, self._lock_path) as load:
                    self._sync_files(conn, progress, report, workers, load)
                self._after_write(conn)
            else:
                self._sync_files(conn, progress, report)
        report.seconds = time.monotonic() - started
        return report

    def _sync_files(
        self,
        conn: sqlite3.Connection,
        progress: Progress | None,
        report: ReindexReport,
        workers: int | None = None,
        load: BulkLoad | None = None,
    ) -> None:
        # ``load``: the bulk load of a full sync; None for an incremental one (which lets chat
        # turns in between chunks).
        # Streamed: only the sorted file names are held in full; the ``files`` rows are read one
        # chunk (a range of paths) at a time, so a no-op sync over 100,000 files stays small.
        names = self._scan_names()
        total = len(names)
        if progress is not None:
            progress(0, total)
        if load is not None:
            self._full_sync_files(conn, names, progress, report, workers, load)
        else:
            for start in range(0, total, SYNC_CHUNK):
                chunk = names[start : start + SYNC_CHUNK]
                conn = self._let_turns_in(conn)
                with write_transaction(conn):
                    known = self._known_range(conn, chunk[0], chunk[-1])
                    for offset, rel in enumerate(chunk, start=start + 1):
                        self._index_one(conn, rel, known.get(rel), "stat", report)
                        if progress is not None:
                            progress(offset, total)
                self._after_write(conn)
            conn = self._let_turns_in(conn)
        with write_transaction(conn):
            for rel in self._known_but_not_in(conn, names):
                if os.path.lexists(self.root / rel):
                    continue  # appeared after the scan; the next sync indexes it
                self._forget(conn, rel)
                report.removed += 1
            orphans = conn.execute(
                "SELECT session_id FROM sessions WHERE file_path NOT IN (SELECT path FROM files WHERE status = 'indexed')"
            ).fetchall()
            for (session_id,) in orphans:
                self._delete_rows(conn, session_id)
        self._after_write(conn)

    def _full_sync_files(
        self,
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
        chunks = [names[start : start + SYNC_CHUNK] for start in range(0, len(names), SYNC_CHUNK)]
        if workers is None:
            workers = default_workers(len(names), SYNC_CHUNK)
        done = 0
        tables = ChunkTables(conn)
        tables.attach()
        try:
            with closing(prepared_chunks(self.root, chunks, workers, self.attachment_text)) as decoded_chunks:
                for number, (chunk, prepared) in enumerate(zip(chunks, decoded_chunks), start=1):
                    with write_transaction(conn):
                        if prepared.tables is not None:
                            tables.load(prepared.tables)
                        source = tables if prepared.tables is not None else None
                        known = self._known_range(conn, chunk[0], chunk[-1])
                        fresh: list[tuple[int, PreparedFile]] = []
                        for file_no, item in enumerate(prepared.files):
                            if not self._apply_prepared(conn, file_no, item, known.get(item.rel), fresh, report):
                                self._write_fresh(conn, fresh, source, report, load)  # keep the rows in file order
                                fresh = []
                                self._index_one(conn, item.rel, known.get(item.rel), "full", report)
                            done += 1
                            if progress is not None:
                                progress(done, len(names))
                        self._write_fresh(conn, fresh, source, report, load)
                        if number % FTS_BATCH_CHUNKS == 0:
                            load.index_new_rows()
                    self._after_write(conn)
        finally:
            tables.detach()

    def _apply_prepared(
        self,
        conn: sqlite3.Connection,
        file_no: int,
        item: PreparedFile,
        known: _Known | None,
        fresh: list[tuple[int, PreparedFile]],
        report: ReindexReport,
    ) -> bool:
        """What ``_index_one`` does in mode "full", from a file decoded beforehand; a readable one
        is added to ``fresh`` (with its place in the chunk). False (nothing done) if the file
        changed since it was decoded."""
        try:
            now: tuple[int, int, int] | None = _stat_key(os.lstat(os.path.join(self.root, item.rel)))
        except FileNotFoundError:
            now = None
        decoded = item.decoded
        if now != (None if decoded is None else _stat_key(decoded.stat)):
            return False
        report.files_seen += 1
        if decoded is None:
            self._forget_vanished(conn, item.rel, known, report)
        elif decoded.refused is None and decoded.problem is None:
            fresh.append((file_no, item))  # readable (the common case: no Path built for it)
        else:
            self._settle_unusable(conn, item.rel, self.root / item.rel, decoded, report)
        return True

    def _write_fresh(
        self,
        conn: sqlite3.Connection,
        fresh: list[tuple[int, PreparedFile]],
        tables: ChunkTables | None,
        report: ReindexReport,
        load: BulkLoad,
    ) -> None:
        """The rows of readable files, batched: what ``_write_session(fresh=True)`` and
        ``_remember`` write for each, in the same order. ``fresh`` is a run of files of one chunk
        (the files between them have no rows); their rows are in ``tables`` if given."""
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
            conn.executemany(
                f"INSERT INTO sessions ({', '.join(SESSION_COLUMNS)}) VALUES ({_placeholders(SESSION_COLUMNS)})",
                [row.session for row in rows],
            )
            self._insert_messages(conn, [message for row in rows for message in row.messages])
            self._insert_switches(conn, [switch for row in rows for switch in row.switches])
        indexed_at = iso(datetime.now(timezone.utc))
        conn.executemany(
            _REMEMBER_SQL,
            [_files_row(item.rel, item.decoded, "indexed", None, indexed_at) for _, item in fresh if item.decoded is not None],
        )
        report.indexed += len(fresh)

    def _let_turns_in(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        """Between two chunks of an incremental sync (no transaction open): if chat turns wait
        for the lock, release it until they have indexed their write; return the connection to
        go on with (a turn may have had to reopen it)."""
        if self._turns_waiting:
            self._handoff.wait_for(lambda: not self._turns_waiting, timeout=5.0)
            return self._connection()
        return conn

    def _as_a_turn(self, action: Callable[[], T]) -> T:
        """Run ``action`` under the lock, announced as a chat turn so a running sync lets it in."""
        with self._turns_guard:
            self._turns_waiting += 1
        counted = True
        try:
            with self._lock:
                with self._turns_guard:
                    self._turns_waiting -= 1
                counted = False
                self._handoff.notify_all()
                return action()
        finally:
            if counted:  # pragma: no cover - only if acquiring the lock itself raised
                with self._turns_guard:
                    self._turns_waiting -= 1

    def merge_deferred(self, seconds: float | None = None) -> int:
        """Do the full-text segment merges the writes leave undone (``index.merging``), one slice at a time.

        Stops when nothing is left to merge, when a chat turn waits for the lock (it gets the
        lock after at most one slice), or after ``seconds``. Returns the slices that merged
        something. Costs nothing when this indexer wrote nothing since the last complete pass,
        and nothing is done while the index waits for a rebuild.
        """
        writes = self._writes
        if writes == self._merged_writes:
            return 0
        deadline = None if seconds is None else time.monotonic() + seconds
        merged = 0
        for table in FTS_TABLES:
            while True:
                if self._turns_waiting or (deadline is not None and time.monotonic() >= deadline):
                    return merged
                with self._lock:
                    if self._turns_waiting:
                        return merged
                    conn = self._connection()
                    if self._needs_rebuild or is_bulk_loading(conn):
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
                    self.checkpointer.after_commit(conn)
                if not worked:
                    break
                merged += 1
        self._merged_writes = writes  # later writes (a turn let in between slices) count again
        return merged

    def _after_write(self, conn: sqlite3.Connection) -> None:
        """After each committed write of rows: count it (it may leave merging to do) and checkpoint."""
        self._writes += 1
        self.checkpointer.after_commit(conn)

    def _scan_names(self) -> list[str]:
        """The ``sessions/<name>`` of every session file, sorted (plain strings: small)."""
        folder = self.layout.sessions
        if not folder.is_dir():
            return []
        with os.scandir(folder) as entries:
            names = [
                f"sessions/{entry.name}"
                for entry in entries
                if is_session_file_name(entry.name) and not entry.is_dir(follow_symlinks=False)
            ]
        names.sort()
        return names

    @staticmethod
    def _known_range(conn: sqlite3.Connection, first: str, last: str) -> dict[str, _Known]:
        rows = conn.execute(
            "SELECT path, mtime_ns, size, inode, sha256, status FROM files WHERE path >= ? AND path <= ?", (first, last)
        )
        return {row[0]: _Known(*row[1:]) for row in rows}

    @staticmethod
    def _known_but_not_in(conn: sqlite3.Connection, names: list[str], page: int = 2000) -> list[str]:
        """Paths in ``files`` that are not in the sorted list ``names`` (read a page at a time)."""
        missing: list[str] = []
        after = ""
        while True:
            rows = conn.execute("SELECT path FROM files WHERE path > ? ORDER BY path LIMIT ?", (after, page)).fetchall()
            for (rel,) in rows:
                at = bisect.bisect_left(names, rel)
                if at == len(names) or names[at] != rel:
                    missing.append(rel)
            if len(rows) < page:
                return missing
            after = rows[-1][0]

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
        wanted: dict[str, None] = {}  # ordered, without duplicates
        sessions_dir = os.path.abspath(self.layout.sessions)
        for raw in paths:
            path = Path(raw)
            if os.path.dirname(os.path.abspath(path)) != sessions_dir or not is_session_file_name(path.name):
                continue
            wanted[f"sessions/{path.name}"] = None
        with self._lock:
            conn = self._connection()
            if self._needs_rebuild:
                return self.sync()
            with write_transaction(conn):
                for rel in wanted:
                    known = self._known(conn, rel).get(rel)
                    self._index_one(conn, rel, known, "hash", report)
            self._after_write(conn)
        report.seconds = time.monotonic() - started
        return report

    def on_written(self, receipt: Any) -> ReindexReport:
        """Mirror what the store just wrote (its write receipt) into the index."""
        return self.index_session(receipt.path, receipt.session, receipt.data, receipt.appended)

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
        ``files`` row gets :data:`PENDING_HASH` until the watcher stamps the digest). Otherwise
        the path above is taken.
        """
        path = Path(path)
        if os.path.dirname(os.path.abspath(path)) != os.path.abspath(self.layout.sessions) or not is_session_file_name(
            path.name
        ):
            raise ValueError(f"{path} is not a session file in {self.layout.sessions}")
        if session.id != path.stem:
            raise ValueError(f"the file name says id {path.stem!r} but the session is {session.id!r}")
        return self._as_a_turn(lambda: self.recovering(lambda: self._index_session(path, session, data, appended)))

    def _index_session(self, path: Path, session: Session, data: bytes | None, appended: Appended | None) -> ReindexReport:
        started = time.monotonic()
        report = ReindexReport()
        rel = f"sessions/{path.name}"
        with self._lock:
            mirror = self._mirrored.pop(session.id, None)  # put back only once the rows are committed
            conn = self._connection()
            if self._needs_rebuild:
                return self._sync(False, None)
            recorded: tuple[int, int, int] | None = None
            with write_transaction(conn):
                known = self._known(conn, rel).get(rel)
                report.files_seen += 1
                if data is not None and appended is not None and self._extends(mirror, known, appended, path, data):
                    self._append_rows(conn, rel, session, appended)
                    self._remember(conn, rel, _Decoded(b"", PENDING_HASH, appended.stat, session, None, None), "indexed", None)
                    recorded = _stat_key(appended.stat)
                    report.indexed += 1
                elif (current := self._read_exactly(path, data)) is None:
                    report.files_seen -= 1
                    self._index_one(conn, rel, known, "hash", report)  # changed, gone or a symlink
                else:
                    st, digest = current
                    decoded = _Decoded(b"", digest, st, session, None, None)
                    recorded = _stat_key(st)
                    if known is not None and known.sha256 == digest and known.status == "indexed":
                        self._remember(conn, rel, decoded, "indexed", None)
                        report.skipped += 1
                    else:
                        self._write_session(conn, rel, session)
                        self._remember(conn, rel, decoded, "indexed", None)
                        report.indexed += 1
            self._after_write(conn)
            if recorded is not None and data is not None:
                self._mirrored[session.id] = _Mirrored(data, recorded)
                while len(self._mirrored) > MIRRORED_SESSIONS:
                    self._mirrored.popitem(last=False)
        report.seconds = time.monotonic() - started
        return report

    @staticmethod
    def _extends(mirror: _Mirrored | None, known: _Known | None, appended: Appended, path: Path, data: bytes) -> bool:
        """True if the rows are those of ``appended.previous_data`` and the file is still the one written."""
        if mirror is None or known is None or known.status != "indexed":
            return False
        if (known.mtime_ns, known.size, known.inode) != mirror.stat:
            return False  # someone indexed another version of the file since
        if mirror.data is not appended.previous_data and mirror.data != appended.previous_data:
            return False
        if appended.stat.st_size != len(data):
            return False
        try:
            return _stat_key(os.lstat(path)) == _stat_key(appended.stat)
        except OSError:
            return False

    def _append_rows(self, conn: sqlite3.Connection, rel: str, session: Session, appended: Appended) -> None:
        """The rows of ``session`` from those of the previous version: O(new messages and switches)."""
        new_session = session_row(session, rel)
        assignments = ", ".join(f"{column} = ?" for column in SESSION_COLUMNS[1:])
        cursor = conn.execute(f"UPDATE sessions SET {assignments} WHERE session_id = ?", (*new_session[1:], session.id))
        if cursor.rowcount != 1:  # pragma: no cover - the files row says it is indexed; be safe anyway
            self._write_session(conn, rel, session)
            return
        self._insert_messages(conn, message_rows(session, len(session.messages) - appended.messages, self.attachment_text))
        self._insert_switches(conn, switch_rows(session, len(session.model_switches) - appended.switches))

    @staticmethod
    def _read_exactly(path: Path, data: bytes | None) -> tuple[os.stat_result, str] | None:
        """(stat, sha256) of the file as it is now, if it holds ``data`` (any content if None)."""
        try:
            st = os.lstat(path)  # before reading: a write after it shows as a newer stat later
            if data is not None and st.st_size != len(data):
                return None
            on_disk = read_file_no_follow(path)
        except OSError:
            return None
        if data is not None and on_disk != data:
            return None
        return st, hashlib.sha256(on_disk).hexdigest()

    def rebuild_if_needed(self) -> ReindexReport | None:
        """If the index file was deleted, damaged (or never built), recreate it and sync; else None."""

        def rebuild() -> ReindexReport | None:
            self._connection()
            if self._needs_rebuild:
                return self._sync(False, None)
            return None

        return self.recovering(rebuild)

    def signature_matches(self) -> bool:
        """True if every file in ``sessions/`` has the (mtime_ns, size, inode) the index recorded.

        Read-only: a missing index file is reported as False, never created.
        """
        if not self.db_path.exists():
            return False
        conn = sqlite3.connect(self.db_path.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
        try:
            known = retry_busy(lambda: self._known(conn))
        except sqlite3.DatabaseError:
            return False
        finally:
            conn.close()
        disk = self._scan()
        if set(known) != set(disk):
            return False
        for rel, path in disk.items():
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                return False
            entry = known[rel]
            if _stat_key(st) != (entry.mtime_ns, entry.size, entry.inode):
                return False
        return True

    def check(self) -> list[IndexDifference]:
        """Compare the index with the files, read-only; return every difference found."""
        from index.check import compare

        with self._lock:
            try:
                conn = self._connection()
                return retry_busy(lambda: compare(conn, self.root, self._scan(), self._decode, self._known(conn), self.attachment_text))
            except sqlite3.DatabaseError as exc:
                if not is_damaged(exc):
                    raise
                detail = f"index.sqlite is damaged ({exc}); run scripts/reindex.py to rebuild it from the files"
                return [IndexDifference(kind="fts", path="index.sqlite", detail=detail)]
