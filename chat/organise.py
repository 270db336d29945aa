"""Titles, tags and the trash, as the MCP tools offer them: each a normal atomic write of the
session file under its lock (``store``), then the index told what changed."""

from __future__ import annotations

import logging
from typing import Any

from chat.app import App
from chat.errors import InvalidToolArgument
from store import validate_session_id
from store.session_store import summarize

log = logging.getLogger("llm_mcp_server")


def _reindex(app: App, session_id: str) -> None:
    if app.index is None:
        return
    try:
        app.index.index_paths([app.store.path_for(session_id)])
    except Exception:  # the watcher catches up; the change itself is stored
        log.warning("indexing %s failed; the background watcher will retry", session_id, exc_info=True)


def session_summary(app: App, session_id: str) -> dict[str, Any]:
    summary = summarize(app.store.snapshot(session_id).session).model_dump(mode="json")
    return {"session_id": summary["id"], **summary}


def update_session(
    app: App, session_id: str, title: str | None, add_tags: list[str] | None, remove_tags: list[str] | None
) -> dict[str, Any]:
    """Set the title and/or add and remove tags; the session's summary after the change."""
    validate_session_id(session_id)
    if title is None and not add_tags and not remove_tags:
        raise InvalidToolArgument("nothing to change: pass title, add_tags or remove_tags")
    app.store.snapshot(session_id)  # SessionNotFound (with its hint) before any write
    if title is not None:
        app.store.set_title(session_id, title)
    if add_tags or remove_tags:
        app.store.update_tags(session_id, add=add_tags or (), remove=remove_tags or ())
    _reindex(app, session_id)
    return session_summary(app, session_id)


def delete_session(app: App, session_id: str) -> dict[str, Any]:
    """Move the session to ``trash/``; it leaves the index and the views at once."""
    validate_session_id(session_id)
    trashed = app.store.trash(session_id)
    _reindex(app, session_id)
    return {
        "session_id": session_id,
        "trashed_to": str(trashed.path),
        "restore": f"scripts/sessions.py restore {session_id} (or: llm-sessions restore {session_id})",
    }
