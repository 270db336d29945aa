"""``WriteReceipt``: what one write of a session file put on disk, handed to the index.

The store's one public shape for a write: a reader that mirrors the files (``index``) needs
nothing else of the store to update itself from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from store.schema import Session

T = TypeVar("T")


@dataclass(frozen=True)
class Appended:
    """How a write extended the file before it, for a reader that mirrors the file (the index).

    The file held exactly ``previous_data`` when the write began (under the lock) and the new
    session is that one with ``messages`` messages and ``switches`` model switches added at the
    end (the older items are the same objects); ``stat`` is the new file's, taken right after
    the rename, so a reader can tell whether the file is still the one written.
    """

    previous_data: bytes
    stat: os.stat_result
    messages: int
    switches: int


@dataclass(frozen=True)
class WriteReceipt(Generic[T]):
    """What a write of the session file ``path`` did: the exact bytes written (``data``), the
    session they encode (read-only, shared with the store's cache: never mutate it), the
    change's return value (``result``: for a chat turn the ``ModelSwitch`` or None), and
    ``appended`` when the write only added messages/switches after the previous file (else None).
    """

    result: T
    session: Session
    data: bytes
    path: Path
    appended: Appended | None = None
