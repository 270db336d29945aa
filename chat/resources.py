"""The stored sessions as MCP resources: ``session://{session_id}`` (the session as Markdown),
``session://{session_id}/messages/{message_id}`` (one message whole: where a cut result links),
and the ``resources/list`` entries of the most recently updated sessions (from the index)."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import Resource as MCPResource

from chat.app import App
from chat.errors import user_message
from store import InvalidSessionId, SessionNotFound, validate_session_id

SESSION_RESOURCE_TEMPLATE = "session://{session_id}"
#: A ``session://`` resource longer than this shows the newest messages that fit, with a note.
SESSION_RESOURCE_MAX_CHARS = 200_000
RECENT_RESOURCES = 50


def session_resources(app: App, limit: int) -> list[MCPResource]:
    """``resources/list`` entries for the ``limit`` most recently updated sessions."""
    if app.reader is not None:
        rows = [(r.session_id, r.title, r.updated_at, r.models_used, r.message_count) for r in app.reader.recent_sessions(limit)]
    else:
        rows = [(s.id, s.title, s.updated_at, s.models_used, s.message_count) for s in app.store.list().sessions[:limit]]
    return [
        MCPResource(
            uri=SESSION_RESOURCE_TEMPLATE.format(session_id=session_id),
            name=session_id,
            title=title or f"Session {session_id}",
            description=f"{count} messages with {', '.join(models) or 'no model yet'}; updated {updated:%Y-%m-%d %H:%M} UTC",
            mime_type="text/markdown",
        )
        for session_id, title, updated, models, count in rows
    ]


def _resource_session(app: App, session_id: str) -> Any:
    """The session a ``session://`` resource shows; an unknown id is the SDK's not-found."""
    try:
        return app.store.snapshot(validate_session_id(session_id)).session
    except (InvalidSessionId, SessionNotFound) as exc:
        raise ResourceNotFoundError(str(exc)) from exc
    except Exception as exc:
        message = user_message(exc)
        if message is None:
            raise
        raise ResourceError(message) from exc


def read_session_resource(app: App, session_id: str) -> str:
    """The ``session://{session_id}`` resource: the session as Markdown (``store.markdown``)."""
    from store.markdown import render_session

    return render_session(_resource_session(app, session_id), max_chars=SESSION_RESOURCE_MAX_CHARS)


def read_message_resource(app: App, session_id: str, message_id: str) -> str:
    """The ``session://{session_id}/messages/{message_id}`` resource: one message's whole text."""
    from store import message_text

    for stored in _resource_session(app, session_id).messages:
        if stored.id == message_id:
            return message_text(stored)
    raise ResourceNotFoundError(f"session {session_id!r} has no message {message_id!r}: get_session lists its message ids")
