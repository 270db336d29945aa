"""``TurnHandoff``: a long sync hands the index lock over to the chat turns waiting for it.

The server's turns and its watcher share one indexer; a sync or a merge works in chunks and,
between two of them, lets every waiting turn index its write first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class TurnHandoff:
    """Counts the chat turns waiting for ``lock`` and lets a long holder step aside for them."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._handoff = threading.Condition(lock)
        self._waiting = 0
        self._guard = threading.Lock()

    @property
    def waiting(self) -> int:
        """Chat turns waiting for the lock now (read without the lock: a hint)."""
        return self._waiting

    def let_turns_in(self) -> bool:
        """Called by the lock's holder between two chunks (no transaction open): if chat turns
        wait, release the lock until they are done (at most 5 s). True if it was released
        (the holder must then get its connection again: a turn may have reopened it)."""
        if not self._waiting:
            return False
        self._handoff.wait_for(lambda: not self._waiting, timeout=5.0)
        return True

    def as_a_turn(self, action: Callable[[], T]) -> T:
        """Run ``action`` under the lock, announced as a chat turn so a running sync lets it in."""
        with self._guard:
            self._waiting += 1
        counted = True
        try:
            with self._lock:
                with self._guard:
                    self._waiting -= 1
                counted = False
                self._handoff.notify_all()
                return action()
        finally:
            if counted:  # pragma: no cover - only if acquiring the lock itself raised
                with self._guard:
                    self._waiting -= 1

    def waiting_turn(self) -> _WaitingTurn:
        """A context that counts as one waiting turn (for tests of the holders' yielding)."""
        return _WaitingTurn(self)


class _WaitingTurn:
    def __init__(self, handoff: TurnHandoff) -> None:
        self._handoff = handoff

    def __enter__(self) -> None:
        with self._handoff._guard:
            self._handoff._waiting += 1

    def __exit__(self, *exc: object) -> None:
        with self._handoff._guard:
            self._handoff._waiting -= 1
