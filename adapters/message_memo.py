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

import weakref
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from store.schema import Message

T = TypeVar("T")


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
