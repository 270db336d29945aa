"""Bytes <-> ``Session``: the only place that parses or serialises a session file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import ValidationError

from store.schema import Session
from store.upgrade import NotASessionDocument, upgrade_document

# Session files are JSON (UTF-8, indented for people reading them).
ENCODING_INDENT = 1


class UnreadableSessionFile(ValueError):
    """The bytes are not a valid session document; ``reason`` says why, for quarantine."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _first_error(error: ValidationError) -> str:
    details = error.errors()
    first = details[0]
    where = ".".join(str(part) for part in first["loc"]) or "(document)"
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return f"schema error at {where}: {first['msg']}{more}"


def decode_session(data: bytes, source: Path) -> Session:
    """Parse a session file's bytes; raise ``UnreadableSessionFile`` or ``UnsupportedSchemaVersion``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableSessionFile(source, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise UnreadableSessionFile(source, "the file is empty")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableSessionFile(source, f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise UnreadableSessionFile(source, "invalid JSON: nested too deeply") from exc
    try:
        document = upgrade_document(document, source)
        return Session.model_validate(document)
    except NotASessionDocument as exc:
        raise UnreadableSessionFile(source, str(exc)) from exc
    except ValidationError as exc:
        raise UnreadableSessionFile(source, _first_error(exc)) from exc
    except RecursionError as exc:
        raise UnreadableSessionFile(source, "document nested too deeply") from exc


def encode_session(session: Session) -> bytes:
    """The file bytes of ``session`` (UTF-8 JSON, newline-terminated); ``decode_session`` reverses it."""
    return session.model_dump_json(indent=ENCODING_INDENT).encode("utf-8") + b"\n"


def read_file_no_follow(path: Path) -> bytes:
    """Read ``path`` without following a symlink (a link in sessions/ could point outside the root)."""
    # O_NONBLOCK: a pipe swapped in for the file must not hang the reader (no effect on files).
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        return handle.read()
