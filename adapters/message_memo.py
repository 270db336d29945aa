"""Per-message memos: what a pure function computes from one stored message, computed once.

A chat turn sends the whole conversation, so without memos every turn converts, encodes and
counts every earlier message again (O(session) per turn). A stored message never changes in
place (the store shares one ``Session`` per file read-only, an edit or a merge writes a new
file and its next read makes new ``Message`` objects; nothing assigns to a message's fields),
so a value computed from a message object stays right for as long as that object lives.

:class:`MessageMemo` keys each value by the message object's identity and a ``variant`` (what
else the value depends on, e.g. the provider), holds the message only weakly (an entry goes
when its message is freed, so an id can never be reused for a stale entry) and checks the
identity on every lookup. What a turn sends is still chosen afresh on every turn (which
messages, the summary, the system prompt): only the per-message work is memoised.
"""

from __future__ import annotations

import operator
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from store.schema import Message

T = TypeVar("T")
S = TypeVar("S")


class MessageMemo(Generic[T]):
    """``get(message, variant, compute)``: ``compute(message)``, once per (message object, variant).

    Thread-safe for what it promises (a value may be computed twice by racing threads; both are
    equal). ``len()`` is the number of live entries.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[int, Hashable], tuple[weakref.ref[Message], T]] = {}

    def get(self, message: Message, variant: Hashable, compute: Callable[[Message], T]) -> T:
        key = (id(message), variant)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is message:
            return entry[1]
        value = compute(message)
        entries = self._entries
        self._entries[key] = (weakref.ref(message, lambda _ref: entries.pop(key, None)), value)
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()


class SentPrefixes(Generic[T, S]):
    """The converted histories of recent requests, to convert only what a new request adds.

    ``converted(variant, history, convert, start)`` returns ``convert``'s output for the whole
    ``history`` and the state after it, where ``convert(part, state) -> (items, state)`` works on
    a part that follows a plain message (:func:`adapters._convert.is_plain`) and carries a state
    across parts (``start`` before the first; e.g. the count of :func:`adapters._convert.normalize_from`).
    The outputs of two consecutive parts are put together by ``join`` (default: concatenated;
    it must not modify its arguments, which may be kept). The output of the longest part already
    converted for ``variant`` whose messages are the first messages of ``history`` (the same
    objects) is reused; the rest is converted, and the result up to the last plain message before
    the end is kept for the next request (the newest ``slots`` are kept: each holds its messages
    alive, so no more than the store keeps decoded). ``variant`` must name everything else the
    output depends on.
    """

    def __init__(self, slots: int = 4) -> None:
        self.slots = slots
        self._saved: list[tuple[Hashable, list[Message], list[T], S]] = []
        self._lock = threading.Lock()

    def converted(
        self,
        variant: Hashable,
        history: list[Message],
        convert: Callable[[list[Message], S], tuple[list[T], S]],
        start: S,
        join: Callable[[list[T], list[T]], list[T]] = operator.add,
    ) -> tuple[list[T], S]:
        from ._convert import is_plain

        done, head, state = 0, [], start
        used = None
        with self._lock:
            saved = list(self._saved)
        for entry in reversed(saved):
            upto = entry[1]
            if entry[0] == variant and len(upto) <= len(history) and all(map(operator.is_, upto, history)):
                done, head, state, used = len(upto), entry[2], entry[3], entry
                break
        cut = len(history) - 1
        while cut > done and not is_plain(history[cut - 1]):
            cut -= 1
        cut = max(cut, done)
        if cut > done:
            middle, state = convert(history[done:cut], state)
            head = join(head, middle)
        tail, end = convert(history[cut:], state)
        with self._lock:
            self._saved = [entry for entry in self._saved if entry is not used]  # superseded by the longer one
            self._saved.append((variant, history[:cut], head, state))
            del self._saved[: -self.slots]
        return join(head, tail), end
