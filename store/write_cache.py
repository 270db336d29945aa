"""The store's write cache: per session, the bytes it last wrote or read and the object they decode to.

What lets a chat turn skip decoding the file it appends to, and encode only the new messages
(``encode_after``). Writers change a :func:`working_copy` and store :func:`as_decoded` objects,
so a cached object is never mutated and may be shared read-only.
"""

from __future__ import annotations

import operator
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TypeVar

from store.codec import encode_appended, encode_session
from store.schema import Session

T = TypeVar("T")


ViewKey = tuple[str, str | None, tuple[str, ...]]


def view_key(session: Session) -> ViewKey:
    """What the view links of ``session`` depend on: its creation day, current model and models used."""
    return (f"{session.created_at:%Y-%m-%d}", session.current_model, tuple(session.models_used))


# Top-level containers a change may append to or assign; copied so the original stays as it was.
_LIST_FIELDS = ("tags", "models_used", "messages", "model_switches", "summaries")
_DICT_FIELDS = ("tool_state", "extensions", "extra")


def working_copy(session: Session) -> Session:
    """A shallow copy of ``session`` whose top-level lists and dicts are its own.

    Appending to or assigning fields of the copy leaves ``session`` unchanged; the items
    (messages, switches, summaries) are shared, so they must not be changed in place. Costs
    O(number of items) pointer copies, no validation.
    """
    update: dict[str, object] = {name: list(getattr(session, name)) for name in _LIST_FIELDS}
    update.update((name, dict(getattr(session, name))) for name in _DICT_FIELDS)
    return session.model_copy(update=update)


_ITEM_LISTS = ("messages", "model_switches", "summaries")


def appended_count(old: list[T], new: list[T]) -> int | None:
    """How many items ``new`` adds after ``old`` if it starts with exactly ``old``'s objects, else None."""
    # map(operator.is_) runs in C: this is called on every turn over every message.
    if len(new) < len(old) or not all(map(operator.is_, old, new)):
        return None
    return len(new) - len(old)


def _normalised(item: T) -> T:
    return type(item).model_validate(item.model_dump(mode="json"))  # type: ignore[attr-defined,no-any-return]


def as_decoded(previous: Session, session: Session) -> Session:
    """``session`` (a changed working copy of ``previous``) as decoding its encoded bytes gives it.

    Items taken over from ``previous`` (already in that form) are kept as they are; new items and
    the top-level fields go through their JSON form once (UTC times, JSON values), so a cached
    object never differs from what a reader of the file would see. O(new items) validation.
    """
    lists: dict[str, list[object]] = {}
    for name in _ITEM_LISTS:
        old, new = getattr(previous, name), getattr(session, name)
        added = appended_count(old, new)
        if added is not None:
            lists[name] = [*old, *(_normalised(item) for item in new[len(old) :])]
        else:
            known = {id(item) for item in old}
            lists[name] = [item if id(item) in known else _normalised(item) for item in new]
    head = Session.model_validate(session.model_dump(mode="json", exclude=set(_ITEM_LISTS)))
    return head.model_copy(update=lists)


@dataclass(frozen=True)
class CacheEntry:
    data: bytes
    session: Session
    # The view key whose links this store made sure of when it wrote ``data`` (None: only read).
    views: ViewKey | None


class LastWritten:
    """Per session id, the exact bytes this store last wrote or read and the object they decode to.

    A lookup hands the object out only when the file holds exactly those bytes now (compared
    in full, so a change by another process, another store object or a person editing the
    file is always noticed): that is what lets a turn skip decoding the file. The objects are
    never mutated once stored (writers change a :func:`working_copy`), so they can be shared
    read-only with callers of ``snapshot`` and ``update_shared``.
    """

    def __init__(self, size: int) -> None:
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._guard = threading.Lock()
        self._size = size

    def get(self, session_id: str, current: bytes | None) -> CacheEntry | None:
        """The entry for ``session_id`` if ``current`` is exactly its bytes, else None."""
        if current is None:
            return None
        with self._guard:
            entry = self._entries.get(session_id)
            if entry is not None:
                self._entries.move_to_end(session_id)
        if entry is not None and entry.data == current:
            return entry
        return None

    def put(self, session_id: str, data: bytes, session: Session, views: ViewKey | None = None) -> None:
        with self._guard:
            self._entries[session_id] = CacheEntry(data, session, views)
            self._entries.move_to_end(session_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


def encode_after(entry: CacheEntry | None, session: Session) -> bytes:
    """``encode_session(session)``, reusing the bytes of the old messages when only new ones were added.

    Only bytes this store encoded itself (``entry.views`` set) have the exact layout reused.
    """
    if entry is not None and entry.views is not None:
        added = appended_count(entry.session.messages, session.messages)
        if added is not None:
            data = encode_appended(entry.data, session, added)
            if data is not None:
                return data
    return encode_session(session)
