"""Bytes <-> ``Session``: the only place that parses or serialises a session file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from store.schema import Message, Session
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
        return Session.model_validate(stable_defaults(document))
    except NotASessionDocument as exc:
        raise UnreadableSessionFile(source, str(exc)) from exc
    except ValidationError as exc:
        raise UnreadableSessionFile(source, _first_error(exc)) from exc
    except RecursionError as exc:
        raise UnreadableSessionFile(source, "document nested too deeply") from exc


# A time for files that give none anywhere: fixed, so every read of the file agrees.
UNKNOWN_TIME = "1970-01-01T00:00:00Z"


def stable_defaults(document: dict[str, Any]) -> dict[str, Any]:
    """Fill ids and times a hand-written or imported file leaves out, the same way on every read.

    The schema's own defaults (a random message id, "now") would give a different session on
    each read, so the index could never agree with the file. Only absent keys are filled;
    wrong values are left for validation to report. Rules: the session's ``created_at`` is its
    ``updated_at``, else its first message's time, else 1970-01-01T00:00:00Z; ``updated_at``
    is ``created_at``; a message's time is the previous message's, else the session's
    ``created_at``; a message's id is ``msg_missing_<position>``; a switch's ``at`` and a
    summary's ``created_at`` are the session's ``updated_at``.
    """
    messages = document.get("messages")
    messages = [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
    if "created_at" not in document:
        first = next((m["created_at"] for m in messages if "created_at" in m), None)
        document["created_at"] = document.get("updated_at", first if first is not None else UNKNOWN_TIME)
    if "updated_at" not in document:
        document["updated_at"] = document["created_at"]
    previous = document["created_at"]
    for position, message in enumerate(messages):
        message.setdefault("created_at", previous)
        previous = message["created_at"]
        message.setdefault("id", f"msg_missing_{position}")
    for key, field in (("model_switches", "at"), ("summaries", "created_at")):
        items = document.get(key)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                item.setdefault(field, document["updated_at"])
    return document


def encode_session(session: Session) -> bytes:
    """The file bytes of ``session`` (UTF-8 JSON, newline-terminated); ``decode_session`` reverses it."""
    return session.model_dump_json(indent=ENCODING_INDENT).encode("utf-8") + b"\n"


# Where the messages array sits in ``encode_session``'s output. Strings never hold a raw
# newline (JSON escapes it), so these byte runs occur only as the document's own layout.
_MESSAGES_OPEN = b'\n "messages": ['
_MESSAGES_END = b'\n "model_switches": '


def _split_at_messages(data: bytes) -> tuple[bytes, bytes, bytes] | None:
    """``(before, messages body, after)`` of an ``encode_session`` output, or None if not that layout.

    ``before`` ends with ``"messages": [``; ``after`` starts at the newline before
    ``"model_switches"``; the body is the messages' bytes with their separators (may be empty).
    """
    start = data.find(_MESSAGES_OPEN)
    end = data.rfind(_MESSAGES_END)
    if start < 0 or end < start:
        return None
    start += len(_MESSAGES_OPEN)
    body = data[start:end]
    if body == b"],":
        return data[:start], b"", data[end:]
    if not (body.startswith(b"\n  {") and body.endswith(b"\n  }\n ],")):
        return None
    return data[:start], body[1 : -len(b"\n ],")], data[end:]


def encode_message_for_session(message: Message) -> bytes:
    """One message's bytes as ``encode_session`` writes it inside ``messages`` (depth 2)."""
    return b"  " + message.model_dump_json(indent=ENCODING_INDENT).encode("utf-8").replace(b"\n", b"\n  ")


def encode_appended(previous_data: bytes, session: Session, new_messages: int) -> bytes | None:
    """``encode_session(session)`` built from ``previous_data`` without re-encoding old messages.

    ``previous_data`` must be exactly ``encode_session`` of an earlier state of ``session``
    whose messages are ``session.messages[:-new_messages]`` unchanged (the caller's promise);
    every other field is encoded afresh. Returns None when ``previous_data`` does not have
    that layout (the caller then encodes in full). O(file size) byte copying instead of
    O(messages) serialisation.
    """
    old = _split_at_messages(previous_data)
    if old is None:
        return None
    head = _split_at_messages(encode_session(session.model_copy(update={"messages": []})))
    if head is None:  # pragma: no cover - encode_session always has this layout
        return None
    added = [encode_message_for_session(message) for message in session.messages[len(session.messages) - new_messages :]]
    parts = [part for part in (old[1], *added) if part]
    if not parts:
        return head[0] + b"]," + head[2]
    return b"".join((head[0], b"\n", b",\n".join(parts), b"\n ],", head[2]))


def read_file_no_follow(path: Path) -> bytes:
    """Read ``path`` without following a symlink (a link in sessions/ could point outside the root)."""
    # O_NONBLOCK: a pipe swapped in for the file must not hang the reader (no effect on files).
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        return handle.read()
