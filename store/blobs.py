"""Attached files and images, stored once by content: ``<root>/blobs/<sha256 hex of the bytes>``.

Blobs are canonical data, like ``sessions/``: nothing in the project deletes them (a reindex
never looks at them, a session moved to ``trash/`` keeps the blobs it references, several
sessions share one blob). A blob's name is the SHA-256 of its bytes, so a reader can always
check what it got, and writing the same bytes twice is a no-op.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from store.atomic import atomic_write_bytes
from store.paths import Layout

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
#: ``type`` of the content part that references an attached text file:
#: ``{"type": "file", "path", "sha256", "size", "media_type", "lines", "tokens", "redacted"?}``
FILE_PART = "file"
#: ``type`` of the content part that references an attached image:
#: ``{"type": "image", "sha256", "size", "media_type", "path"?}`` (no ``path`` for a data: URL)
IMAGE_PART = "image"


class BlobMissing(FileNotFoundError):
    """A message references a blob that is not (or no longer) in ``blobs/``."""


def sha256_hex(data: bytes) -> str:
    """The name a blob holding ``data`` gets."""
    return hashlib.sha256(data).hexdigest()


def is_blob_name(name: str) -> bool:
    """True for a 64-character lower-case hex SHA-256 (anything else is never opened as a blob)."""
    return bool(_SHA256_HEX.match(name))


class BlobStore:
    """The ``blobs/`` folder of one session root (thread- and process-safe: writes are atomic and
    idempotent, so two writers of the same blob race harmlessly)."""

    def __init__(self, root: str | Path) -> None:
        self.layout = Layout(Path(root))

    @property
    def folder(self) -> Path:
        return self.layout.blobs

    def path(self, sha256: str) -> Path:
        """Where the blob ``sha256`` lives; ``ValueError`` for a name that is not a SHA-256 hex digest."""
        if not is_blob_name(sha256):
            raise ValueError(f"{sha256!r} is not a blob name (64 lower-case hex characters of a SHA-256)")
        return self.folder / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` (once) and return its SHA-256 hex name."""
        name = sha256_hex(data)
        target = self.path(name)
        try:
            if target.stat().st_size == len(data):
                return name  # already stored: content-addressed, so the same bytes
        except FileNotFoundError:
            pass
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
        return name

    def exists(self, sha256: str) -> bool:
        return is_blob_name(sha256) and self.path(sha256).is_file()

    def read(self, sha256: str) -> bytes:
        """The bytes of blob ``sha256``; ``BlobMissing`` if absent or if its bytes no longer match its name."""
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlobMissing(f"blob {sha256} is missing from {self.folder}") from None
        if sha256_hex(data) != sha256:
            raise BlobMissing(f"blob {path} does not hold the bytes its name says (it was changed on disk)")
        return data
