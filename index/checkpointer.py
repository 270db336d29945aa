"""``WalCheckpointer``: WAL checkpoints of ``index.sqlite`` off the committing thread.

SQLite's automatic checkpoint (every 1000 WAL pages) runs inside the ``COMMIT`` that crosses
the mark: that commit copies the pages into the database and fsyncs it, which made an
occasional chat turn pay 10-30 ms. The indexer's connection therefore turns the automatic
checkpoint off (``open_database(..., autocheckpoint=False)``) and tells this object after each
commit; every ``every_commits`` commits a daemon thread runs a PASSIVE checkpoint through a
connection of its own (readers and writers are never blocked by it). If the thread has not
managed one for ``limit_commits`` commits (busy disk, long readers), the committer checkpoints
inline, so the WAL cannot grow without bound.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# A 10-message chat turn writes ~36 WAL pages: 16 commits stay under SQLite's default of 1000 pages.
CHECKPOINT_EVERY_COMMITS = 16
# Commits without a completed checkpoint after which the committer checkpoints inline.
CHECKPOINT_LIMIT_COMMITS = 512


def passive_checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """``PRAGMA wal_checkpoint(PASSIVE)``: (busy, frames in the WAL, frames checkpointed)."""
    row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def _complete(result: tuple[int, int, int]) -> bool:
    """True if the checkpoint copied every WAL frame (so the next writer restarts the WAL)."""
    busy, frames, done = result
    return busy == 0 and frames == done


class WalCheckpointer:
    """Checkpoints one index file in the background; thread-safe; ``close`` stops the thread.

    Callers may rely on: ``after_commit`` never blocks on a checkpoint unless
    ``limit_commits`` commits went by without a complete one (then it tries on every commit
    until one completes); ``checkpoints`` counts complete ones (background and inline); errors
    are logged, never raised (the index is derived data).
    """

    def __init__(
        self,
        db_path: Path,
        every_commits: int = CHECKPOINT_EVERY_COMMITS,
        limit_commits: int = CHECKPOINT_LIMIT_COMMITS,
    ) -> None:
        if every_commits < 1 or limit_commits < every_commits:
            raise ValueError("need 1 <= every_commits <= limit_commits")
        self.db_path = Path(db_path)
        self.every_commits = every_commits
        self.limit_commits = limit_commits
        self.checkpoints = 0
        self.inline_checkpoints = 0
        self._since = 0  # commits since the last completed checkpoint
        self._requested = 0  # value of _since when the thread was last woken
        self._wanted = False
        self._stopping = False
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def after_commit(self, conn: sqlite3.Connection) -> None:
        """Count one commit on ``conn``; wake the thread or, past the limit, checkpoint on ``conn``."""
        with self._condition:
            self._since += 1
            since = self._since
            if since >= self.limit_commits:
                inline = True
            else:
                inline = False
                if since - self._requested >= self.every_commits:
                    self._requested = since
                    self._wanted = True
                    self._ensure_thread()
                    self._condition.notify_all()
        if inline:
            try:
                complete = _complete(passive_checkpoint(conn))
            except sqlite3.Error:
                log.warning("checkpointing %s failed", self.db_path, exc_info=True)
                return
            if complete:  # else (another checkpoint running, a reader pinning frames) retry next commit
                with self._condition:
                    self.checkpoints += 1
                    self.inline_checkpoints += 1
                    self._since = 0
                    self._requested = 0

    def _ensure_thread(self) -> None:
        if self._stopping or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._run, name="index-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._wanted and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    return
                self._wanted = False
            if self._checkpoint_once():
                with self._condition:
                    self.checkpoints += 1
                    self._since = 0
                    self._requested = 0

    def _checkpoint_once(self) -> bool:
        # mode=rw: never create an empty file where the index was just deleted.
        try:
            conn = sqlite3.connect(self.db_path.resolve().as_uri() + "?mode=rw", uri=True, timeout=5)
        except sqlite3.Error:
            return False
        try:
            return _complete(passive_checkpoint(conn))
        except sqlite3.Error:
            log.debug("background checkpoint of %s failed", self.db_path, exc_info=True)
            return False
        finally:
            conn.close()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread (a checkpoint under way finishes first)."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._condition:
            self._thread = None
            self._stopping = False
