"""Per-session locks that serialise writers across threads and processes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

DEFAULT_TIMEOUT_SECONDS = 30.0

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _thread_lock(key: str) -> threading.Lock:
    with _thread_locks_guard:
        lock = _thread_locks.get(key)
        if lock is None:
            lock = _thread_locks[key] = threading.Lock()
        return lock


@contextmanager
def locked(lock_path: Path, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (threads of this process and other processes).

    The in-process lock is taken first so threads queue cheaply; the file lock then
    excludes other processes. A lock held longer than ``timeout`` raises ``filelock.Timeout``.
    """
    key = str(lock_path)
    thread_lock = _thread_lock(key)
    if not thread_lock.acquire(timeout=timeout):
        from filelock import Timeout

        raise Timeout(key)
    try:
        # A short poll interval: appends hold the lock for ~1 ms, the default 50 ms poll
        # would make contended writers idle most of the time.
        with FileLock(key, timeout=timeout, thread_local=False, is_singleton=False, poll_interval=0.002):
            yield
    finally:
        thread_lock.release()
