"""How far the index is behind the session files, as this process knows it (``index_pending``).

Two sources add up: the files a catch-up (a sync: first start, a deleted or damaged index, files
copied in while the server was stopped) found new or changed and has not indexed yet, and the
files the watcher has events for that it has not applied yet (queued, debounced, or in the batch
being written). 0 when the index reflects every file this process knows about.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("index")
#: A catch-up logs its progress at INFO at most this often (and when it ends).
PROGRESS_LOG_SECONDS = 3.0


class PendingFiles:
    """Thread-safe counters of un-indexed files; ``count()`` is what the tools report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._catch_up = 0
        self._starting = False
        self._queued: Callable[[], int] | None = None
        self._total = 0
        self._done = 0
        self._logged_at = 0.0
        self.last_error: str | None = None

    def count(self) -> int:
        """Session files written but not yet reflected in the index (0 when current)."""
        with self._lock:
            catch_up = max(self._catch_up, 1 if self._starting else 0)
            queued = self._queued
        return catch_up + (queued() if queued is not None else 0)

    def watch(self, queued: Callable[[], int] | None) -> None:
        """Count ``queued()`` too: the watcher's files with events not applied yet."""
        with self._lock:
            self._queued = queued

    def starting(self) -> None:
        """A catch-up of an index that must be rebuilt has begun but not yet counted its files."""
        with self._lock:
            self._starting = True

    def estimate(self, remaining: int) -> None:
        """A first count of the files a catch-up will index, before it has looked at them."""
        with self._lock:
            self._starting = False
            self._catch_up = remaining

    def begin(self, remaining: int) -> None:
        """A catch-up has ``remaining`` files to index."""
        with self._lock:
            self._starting = False
            self._catch_up = remaining
            self._total = remaining
            self._done = 0
            self._logged_at = time.monotonic()
        if remaining:
            log.info("index catch-up: %d session files to index", remaining)

    def done(self, files: int = 1) -> None:
        """``files`` more are in the index (call it after their transaction committed: a reader
        that saw ``count()`` fall must find them)."""
        with self._lock:
            self._catch_up = max(0, self._catch_up - files)
            self._done += files
            now = time.monotonic()
            due = self._catch_up and now - self._logged_at >= PROGRESS_LOG_SECONDS
            if due:
                self._logged_at = now
            done, total = self._done, self._total
        if due:
            log.info("index catch-up: %d / %d session files indexed", done, total)

    def end(self) -> None:
        with self._lock:
            done, total = self._done, self._total
            self._catch_up = 0
            self._starting = False
            self._total = self._done = 0
        if total:
            log.info("index catch-up: done, %d / %d session files indexed", done, total)
