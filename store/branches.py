"""Sessions that belong together: the branches of one conversation and the groups of one call.

``ask_models`` stores each model's answer in a session of its own. All sessions of one call
share a group id (``extra["group_id"]``); a session started from an existing one is a branch of
it: the messages are copied and ``extra["forked_from"]`` records where it came from. The
original is never changed. Both keys live in ``extra`` (schema version 1 is unchanged) and are
shown by ``list_sessions`` (``SessionSummary.group_id`` / ``forked_from``) and ``get_session``.
"""

from __future__ import annotations

import uuid
from typing import Any

from store.schema import Session, utc_now

GROUP_KEY = "group_id"
FORK_KEY = "forked_from"


def new_group_id() -> str:
    """A fresh group id (``grp_`` and 20 hex digits)."""
    return f"grp_{uuid.uuid4().hex[:20]}"


def group_of(session: Session) -> str | None:
    """The group id ``session`` belongs to, if any."""
    value = session.extra.get(GROUP_KEY)
    return value if isinstance(value, str) else None


def forked_from(session: Session) -> str | None:
    """The id of the session ``session`` was branched from, if any."""
    origin = session.extra.get(FORK_KEY)
    value = origin.get("session_id") if isinstance(origin, dict) else None
    return value if isinstance(value, str) else None


def grouped_session(session_id: str, model: str, group_id: str) -> Session:
    """A new, empty session for ``model`` in group ``group_id``."""
    session = Session(id=session_id, current_model=model, extra={GROUP_KEY: group_id})
    session.note_model(model)
    return session


def branch_of(source: Session, session_id: str, group_id: str) -> Session:
    """A new session ``session_id`` holding a copy of ``source``'s conversation, in group ``group_id``.

    Everything the next turn builds on is copied (messages, summaries, model switches, tool
    state, current model, title, tags, provider extensions); ``extra`` records the origin
    (``forked_from: {session_id, message_count, at}``). ``source`` is left as it was: the copy is
    a new validated object sharing nothing mutable with it.
    """
    data: dict[str, Any] = source.model_dump(mode="json")
    now = utc_now()
    data.update(id=session_id, created_at=now, updated_at=now)
    data["extra"] = {
        **data.get("extra", {}),
        FORK_KEY: {"session_id": source.id, "message_count": len(source.messages), "at": now.isoformat()},
        GROUP_KEY: group_id,
    }
    return Session.model_validate(data)
