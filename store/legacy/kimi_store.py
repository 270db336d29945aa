"""The legacy ``.kimi_sessions/<id>.json`` files, as the old ``kimi_chat`` wrote them.

Used by ``kimi_chat`` while ``LLM_UNIFIED`` is off, so the legacy behaviour keeps working. A
legacy file created here has the old shape::

    {"session_id": ..., "model": ..., "created_at": ..., "updated_at": ...,
     "messages": [{"role": ..., "content": ..., "timestamp": ...}, ...]}

Files are read exactly as the migration reads them (``parsing`` and ``mapping``: the same keys,
aliases and roles), so a conversation continued here is the one the migration would import.
A continued file keeps its own spelling: new turns join its one message list (``messages``,
``history``, ``conversation``, a bare list...) spelled like its other turns, and every other
key and the key order stay. A file the migration could not read is never overwritten:
``LegacyFileUnreadable`` is raised instead.
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
from store.legacy.mapping import LegacyShapeError, LegacySource, append_to_legacy, parse_legacy_document, to_unified
from store.legacy.parsing import LegacyReadError
from store.locking import locked
from store.schema import Message, Session


class LegacyFileUnreadable(StoreError):
    """A legacy file exists but is not JSON of a known shape; it is left untouched."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"legacy session file {path} is unreadable ({reason}); it was not modified. "
            "Repair it, or start a new session (omit session_id)."
        )
        self.path = path
        self.reason = reason


class LegacyKimiSession:
    """One legacy document: ``doc`` is the parsed JSON (dict or bare list) kept whole, in its
    own key order; ``session`` is its mapping to the unified schema (``to_unified``)."""

    def __init__(self, session_id: str, doc: dict[str, Any] | list[Any], session: Session) -> None:
        self.session_id = session_id
        self.doc = doc
        self.session = session

    @property
    def model(self) -> str | None:
        return self.session.current_model

    def to_unified_messages(self) -> list[Message]:
        """The conversation as unified messages, for a prompt (tool calls, roles and aliases mapped)."""
        return list(self.session.messages)


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
            source = LegacySource.of_file(path, raw, session_id)
        except FileNotFoundError:
            return None
        try:
            doc = parse_legacy_document(raw)
            session = to_unified(doc, session_id=session_id, source=source)
        except (LegacyReadError, LegacyShapeError) as exc:
            raise LegacyFileUnreadable(path, exc.reason) from exc
        return LegacyKimiSession(session_id, doc, session)

    def append_exchange(
        self,
        session_id: str,
        model: str,
        new_messages: Sequence[dict[str, Any]],
    ) -> None:
        """Append messages (``role``/``content`` dicts, spelled as the file spells them) under a lock.

        Creates the file in the legacy shape if it does not exist. The write is atomic.
        """
        (self.root / ".locks").mkdir(parents=True, exist_ok=True)
        with locked(self._lock_path(validate_session_id(session_id))):
            now = datetime.now(timezone.utc)
            session = self.load(session_id) or self._new(session_id, model, now)
            added = [Message(role=item["role"], content=item["content"]) for item in new_messages]
            append_to_legacy(session.doc, session.session, added, now)
            data = json.dumps(session.doc, ensure_ascii=False, indent=2).encode("utf-8")
            atomic_write_bytes(self.path_for(session_id), data)

    def _new(self, session_id: str, model: str, now: datetime) -> LegacyKimiSession:
        stamp = now.isoformat().replace("+00:00", "Z")
        doc = {"session_id": session_id, "model": model, "created_at": stamp, "updated_at": stamp, "messages": []}
        source = LegacySource(f"{session_id}.json", session_id, "", now)
        return LegacyKimiSession(session_id, doc, to_unified(doc, session_id=session_id, source=source))
