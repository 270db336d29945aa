"""Opening ``index.sqlite`` (WAL, busy timeout, schema) and living with it: retries while it
is busy or being rebuilt, write transactions, and telling a damaged file apart.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from filelock import FileLock

from index.schema import ensure_schema

BUSY_TIMEOUT_MS = 30_000
WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024

T = TypeVar("T")


def is_busy(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


# SQLite primary result codes that mean the file itself is damaged (not merely busy).
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


def is_damaged(error: BaseException) -> bool:
    """True if ``error`` says the index file is corrupt or not a database at all.

    Such a file is useless (it is derived data): callers drop it and rebuild from the files.
    """
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    if isinstance(error, sqlite3.OperationalError) and is_busy(error):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return True
    text = str(error).lower()
    return "not a database" in text or "malformed" in text


def discard_damaged(path: Path, lock_path: Path, identity: tuple[int, int] | None) -> bool:
    """Delete the damaged index file at ``path`` if it is still the file that failed.

    ``identity`` is the (device, inode) of the file that raised the damage error; if another
    process already replaced it (a fresh index), nothing is deleted. The -wal/-shm files are
    dropped by the next ``open_database``. Returns True if the file was deleted.
    """
    with FileLock(str(lock_path), timeout=60):
        if identity is None or file_identity(path) != identity:
            return False
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True


def _retry(
    action: Callable[[], T], should_retry: Callable[[sqlite3.OperationalError], bool], deadline_seconds: float, max_delay: float
) -> T:
    """Run ``action``, retrying with doubling sleeps while ``should_retry(error)``, up to the deadline."""
    stop = time.monotonic() + deadline_seconds
    delay = 0.01
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not should_retry(exc) or time.monotonic() > stop:
                raise
            time.sleep(delay)
            delay = min(delay * 2, max_delay)


def retry_busy(action: Callable[[], T], deadline_seconds: float = 120.0) -> T:
    """Run ``action``, retrying while SQLite says the database is locked (busy_timeout aside)."""
    return _retry(action, is_busy, deadline_seconds, max_delay=0.5)


def is_rebuilding(error: sqlite3.OperationalError) -> bool:
    """True if a table is missing for a moment because another process is rebuilding (``--full``)."""
    text = str(error).lower()
    return "no such table" in text or "vtable constructor failed" in text or "schema has changed" in text


def retry_rebuilding(action: Callable[[], T], deadline_seconds: float = 20.0) -> T:
    """Run a read, retrying while the tables are being dropped and recreated by a full rebuild.

    ``reindex.py --full`` drops and recreates every table; a search arriving in that window
    waits for the new tables instead of failing with "no such table". A table still missing
    after ``deadline_seconds`` is a real error and is raised.
    """
    return _retry(action, is_rebuilding, deadline_seconds, max_delay=0.2)


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back if the body raises.

    IMMEDIATE takes the write lock before anything is read, so two indexers (server and
    watcher) apply their reads of the files in the order they commit.
    """
    retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite may already have rolled back (e.g. on SQLITE_CORRUPT)
            conn.execute("ROLLBACK")
        raise
    retry_busy(lambda: conn.execute("COMMIT"))


def open_database(path: Path, lock_path: Path, *, autocheckpoint: bool = True) -> tuple[sqlite3.Connection, bool]:
    """Open (creating if needed) the index at ``path``; return the connection and "was created".

    The connection is in autocommit mode (transactions are explicit), WAL, ``synchronous=NORMAL``
    (commits do not fsync: the index is derived and rebuildable), with a busy timeout.
    ``autocheckpoint=False`` turns off SQLite's checkpoint inside ``COMMIT``: the caller then
    checkpoints itself (see ``index.checkpointer``). Creation runs under a file lock so two
    processes never both set up a fresh file.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_path), timeout=60):
        if not path.exists():
            # A -wal left by a deleted index must not be replayed into the new file.
            for suffix in ("-wal", "-shm", "-journal"):
                try:
                    os.unlink(str(path) + suffix)
                except FileNotFoundError:
                    pass
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA synchronous = NORMAL")
        # After a checkpoint resets it, a WAL grown by a big rebuild is cut back to this size.
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
        if not autocheckpoint:
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        created = ensure_schema(conn, lock_path)
    return conn, created


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of ``path``, or None if it does not exist: tells a recreated file apart."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)
