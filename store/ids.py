"""The one place that decides what a session id may be (it becomes a file name)."""

from __future__ import annotations

import secrets
import unicodedata
from datetime import datetime, timezone

from store.errors import InvalidSessionId

MAX_ID_LENGTH = 200
# File names are limited to 255 bytes; the longest name derived from an id (the quarantine
# reason file's temp name) adds about 40 bytes, so the id itself stays within 200 bytes.
MAX_ID_BYTES = 200
_ASCII_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")

# Names Windows refuses as files (sessions may be synced to such machines).
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)


def _allowed(char: str) -> bool:
    if char in _ASCII_SAFE:
        return True
    # Unicode letters (L*) and combining marks (M*, needed by scripts such as Devanagari)
    # are allowed; digits beyond ASCII, symbols, spaces and controls are not.
    return ord(char) > 127 and unicodedata.category(char)[0] in "LM"


def validate_session_id(session_id: object) -> str:
    """Return ``session_id`` unchanged if it is a safe id, else raise ``InvalidSessionId``."""
    if not isinstance(session_id, str):
        raise InvalidSessionId(session_id, f"expected a string, got {type(session_id).__name__}")
    if session_id == "":
        raise InvalidSessionId(session_id, "it is empty")
    if len(session_id) > MAX_ID_LENGTH:
        raise InvalidSessionId(
            session_id, f"it is {len(session_id)} characters long (limit {MAX_ID_LENGTH})"
        )
    if session_id in {".", ".."}:
        raise InvalidSessionId(session_id, "'.' and '..' name directories")
    if session_id.startswith("."):
        # A leading dot makes a hidden file, which listings skip and which could collide
        # with the store's own temp files (``.tmp-*``).
        raise InvalidSessionId(session_id, "it starts with '.'")
    for char in session_id:
        if char in "/\\":
            raise InvalidSessionId(session_id, "it contains a path separator")
        if not _allowed(char):
            raise InvalidSessionId(session_id, f"character {char!r} (U+{ord(char):04X}) is not allowed")
    if session_id.split(".")[0].lower() in _RESERVED:
        raise InvalidSessionId(session_id, "it is a reserved device name")
    size = len(session_id.encode("utf-8"))
    if size > MAX_ID_BYTES:
        raise InvalidSessionId(
            session_id, f"it is {size} bytes long in UTF-8 (limit {MAX_ID_BYTES}; non-ASCII letters take 2-4 bytes)"
        )
    return session_id


def new_session_id(now: datetime | None = None) -> str:
    """A fresh, sortable id such as ``20261125-113640-3f9a1c``."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
