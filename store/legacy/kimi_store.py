"""The legacy ``.kimi_sessions/<id>.json`` files, as the old ``kimi_chat`` wrote them.

Used by ``kimi_chat`` while ``LLM_UNIFIED`` is off, so the legacy behaviour keeps working
unchanged. A legacy file written here has the old shape::

    {"session_id": ..., "model": ..., "created_at": ..., "updated_at": ...,
     "messages": [{"role": ..., "content": ..., "timestamp": ...}, ...]}

Files written by other versions of the legacy server (a bare list of messages, a ``history``
key, extra keys) are read tolerantly and, when continued, keep their shape and every key they
had: only the message list grows and ``updated_at`` changes. A file that cannot be parsed is
never overwritten: ``LegacyFileUnreadable`` is raised instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from store.atomic import atomic_write_bytes
from store.errors import StoreError
from store.ids import validate_session_id
from store.locking import locked
from store.schema import Message, ToolCall


class LegacyFileUnreadable(StoreError):
    """A legacy file exists but is not JSON of a known shape; it is left untouched."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"legacy session file {path} is unreadable ({reason}); it was not modified. "
            "Repair it, or start a new session (omit session_id)."
        )
        self.path = path
        self.reason = reason


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class LegacyKimiSession:
    """One legacy document: ``doc`` is the parsed JSON (dict or bare list), kept whole."""

    def __init__(self, session_id: str, doc: dict[str, Any] | list[Any]) -> None:
        self.session_id = session_id
        self.doc = doc

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The message list inside ``doc`` (the same list object: appending changes ``doc``)."""
        if isinstance(self.doc, list):
            return self.doc
        for key in ("messages", "history"):
            if isinstance(self.doc.get(key), list):
                return self.doc[key]
        self.doc["messages"] = []
        return self.doc["messages"]

    @property
    def model(self) -> str | None:
        if isinstance(self.doc, dict) and isinstance(self.doc.get("model"), str):
            return self.doc["model"]
        return None

    def to_unified_messages(self) -> list[Message]:
        """The conversation as unified messages, for a prompt (OpenAI-style tool calls converted)."""
        return [legacy_to_message(item) for item in self.messages if isinstance(item, dict) and item.get("role")]


def legacy_to_message(item: dict[str, Any]) -> Message:
    """One legacy (OpenAI-shaped) message as a unified ``Message`` (for building a prompt)."""
    role = item.get("role")
    if role not in ("system", "user", "assistant", "tool"):
        role = "user"
    tool_calls = None
    if isinstance(item.get("tool_calls"), list):
        tool_calls = []
        for index, call in enumerate(item["tool_calls"]):
            function = call.get("function") or {}
            arguments: Any = function.get("arguments", {})
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments) if arguments.strip() else {}
                except json.JSONDecodeError:
                    arguments = {"_raw": arguments}
            tool_calls.append(
                ToolCall(id=str(call.get("id") or f"call_{index}"), name=str(function.get("name") or "tool"), arguments=arguments)
            )
    content = item.get("content")
    if not (content is None or isinstance(content, (str, list))):
        content = json.dumps(content, ensure_ascii=False)
    return Message(
        role=role,
        content=content,
        tool_calls=tool_calls or None,
        tool_call_id=item.get("tool_call_id"),
        name=item.get("name"),
    )


class LegacyKimiStore:
    """The folder of legacy Kimi session files (``resolve_legacy_root()``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path_for(self, session_id: str) -> Path:
        return self.root / f"{validate_session_id(session_id)}.json"

    def _lock_path(self, session_id: str) -> Path:
        return self.root / ".locks" / f"{session_id}.lock"

    def exists(self, session_id: str) -> bool:
        return self.path_for(session_id).is_file()

    def load(self, session_id: str) -> LegacyKimiSession | None:
        """The legacy session, ``None`` if it has no file; ``LegacyFileUnreadable`` if broken."""
        path = self.path_for(session_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LegacyFileUnreadable(path, f"not valid UTF-8 JSON: {exc}") from exc
        if not isinstance(doc, (dict, list)):
            raise LegacyFileUnreadable(path, f"expected an object or a list, found {type(doc).__name__}")
        if isinstance(doc, dict) and not isinstance(doc.get("messages", doc.get("history", [])), list):
            raise LegacyFileUnreadable(path, "'messages' is not a list")
        return LegacyKimiSession(session_id, doc)

    def append_exchange(
        self,
        session_id: str,
        model: str,
        new_messages: Sequence[dict[str, Any]],
    ) -> LegacyKimiSession:
        """Append messages (``role``/``content`` dicts; a ``timestamp`` is added) under a lock.

        Creates the file in the legacy shape if it does not exist. The write is atomic.
        """
        (self.root / ".locks").mkdir(parents=True, exist_ok=True)
        with locked(self._lock_path(validate_session_id(session_id))):
            session = self.load(session_id)
            now = _now_iso()
            if session is None:
                session = LegacyKimiSession(
                    session_id,
                    {"session_id": session_id, "model": model, "created_at": now, "updated_at": now, "messages": []},
                )
            messages = session.messages
            for item in new_messages:
                messages.append({**item, "timestamp": item.get("timestamp", now)})
            if isinstance(session.doc, dict):
                session.doc["updated_at"] = now
            data = json.dumps(session.doc, ensure_ascii=False, indent=2).encode("utf-8")
            atomic_write_bytes(self.path_for(session_id), data)
            return session
