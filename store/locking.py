"""Per-session locks that serialise writers across threads and processes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from store.errors import SessionBusy

DEFAULT_TIMEOUT_SECONDS = 30.0

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _thread_lock(key: str) -> threading.Lock:
    with _thread_locks_guard:
        lock = _thread_locks.get(key)
        if lock is None:
            lock = _thread_locks[key] = threading.Lock()
        return lock


_held = threading.local()


@contextmanager
def locked(lock_path: Path, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (threads of this process and other processes).

    The in-process lock is taken first so threads queue cheaply; the file lock then
    excludes other processes. A lock held longer than ``timeout`` raises ``SessionBusy``
    (a ``filelock.Timeout``). Taking the same lock again in the thread that holds it (an
    update nested inside another update of the same session) raises ``RuntimeError`` at
    once instead of waiting for the timeout.
    """
    key = str(lock_path)
    held: set[str] = _held.__dict__.setdefault("keys", set())
    if key in held:
        raise RuntimeError(f"{key} is already held by this thread (a nested update of the same session)")
    thread_lock = _thread_lock(key)
    if not thread_lock.acquire(timeout=timeout):
        raise SessionBusy(key, timeout)
    try:
        # A short poll interval: appends hold the lock for ~1 ms, the default 50 ms poll
        # would make contended writers idle most of the time.
        file_lock = FileLock(key, timeout=timeout, thread_local=False, is_singleton=False, poll_interval=0.002)
        try:
            file_lock.acquire()
        except Timeout as exc:
            raise SessionBusy(key, timeout) from exc
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            file_lock.release()
    finally:
        thread_lock.release()
