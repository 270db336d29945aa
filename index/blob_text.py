"""The text of attached files, as the index reads it from ``blobs/`` (cached: blobs never change).

A session file holds only references to its attachments (``{"type": "file", "sha256", ...}``);
the index puts the referenced text in the message's searchable text so a search finds words
inside attachments. Blobs are content-addressed, so a text read once is valid for ever: it is
kept in a small cache bounded by size.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from store.blobs import BlobMissing, BlobStore

CACHE_BYTES = 32 * 1024 * 1024


class BlobTexts:
    """``texts(sha256)`` -> the blob's UTF-8 text, or None when it is missing or not text."""

    def __init__(self, root: Path | str, cache_bytes: int = CACHE_BYTES) -> None:
        self.blobs = BlobStore(root)
        self._cache: OrderedDict[str, str | None] = OrderedDict()
        self._size = 0
        self._limit = cache_bytes
        self._lock = threading.Lock()

    def __call__(self, sha256: str) -> str | None:
        with self._lock:
            if sha256 in self._cache:
                self._cache.move_to_end(sha256)
                return self._cache[sha256]
        try:
            text: str | None = self.blobs.read(sha256).decode("utf-8")
        except (BlobMissing, ValueError, OSError):
            return None  # not cached: it may be restored later
        with self._lock:
            self._cache[sha256] = text
            self._size += len(text)
            while self._size > self._limit and len(self._cache) > 1:
                _, dropped = self._cache.popitem(last=False)
                self._size -= len(dropped or "")
        return text
