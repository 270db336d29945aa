"""The read tools' work: arguments checked, then the index (every listing and search) or the
session's file (one session) read. ``server.py`` gives each its MCP signature and shape."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

from chat.app import App
from chat.errors import InvalidToolArgument
from index.models import InvalidQuery
from store import StoreError, validate_session_id
from store.pages import session_page
from utils.dates import InvalidDate, parse_user_time

log = logging.getLogger("llm_mcp_server")

MAX_PAGE = 500
ROLES = ("system", "user", "assistant", "tool")


def parse_time(value: str | None, name: str, *, end_of_day: bool = False) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_user_time(value, end_of_day=end_of_day)
    except InvalidDate as exc:
        raise InvalidToolArgument(f"{name} {exc}") from exc  # "since 'x' is not an ISO-8601 date ...: use ..."


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidToolArgument(f"limit {limit} is out of range: use 1 to {MAX_PAGE}")
    if offset < 0:
        raise InvalidToolArgument(f"offset {offset} is negative: use 0 or more")


def as_dict(item: Any) -> dict[str, Any]:
    """A result item (pydantic model, dataclass or mapping) as JSON-ready data."""
    if hasattr(item, "model_dump"):
        return item.model_dump(mode="json")
    data = asdict(item) if hasattr(item, "__dataclass_fields__") else dict(item)
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in data.items()}


def _reader(app: App, what: str) -> Any:
    if app.reader is None:
        raise StoreError(f"{what} is not available: the index is not configured in this server")
    return app.reader


def list_sessions(
    app: App, query: str | None, model: str | None, tag: str | None, group_id: str | None,
    since: str | None, until: str | None, limit: int, offset: int,
) -> dict[str, Any]:
    """One page of the sessions matching the filters, newest update first, from the index."""
    from index.listing import ListingFilters, listed_from_summary, page_of

    check_page(limit, offset)
    if query is not None and not query.strip():
        raise InvalidToolArgument("query is empty: pass words of a title or an id, or leave it out")
    filters = ListingFilters(
        query=query, model=model, tag=tag, group_id=group_id,
        since=parse_time(since, "since"), until=parse_time(until, "until", end_of_day=True),
    )
    # Read before and after the listing: 0 then means every catch-up commit is visible to it
    # and the read found no damaged index (which the reader replaces by an empty one).
    pending = app.index_pending()
    try:
        if app.reader is not None:
            page = app.reader.list_sessions(filters, limit, offset)
        else:  # no index configured: the files are the listing
            page = page_of([listed_from_summary(s) for s in app.store.list().sessions], filters, limit, offset)
    except InvalidQuery as exc:
        raise InvalidToolArgument(str(exc)) from exc
    result = page.model_dump(mode="json")
    result.update(quarantined=[], refused=[], index_pending=max(pending, app.index_pending()))
    return result


def get_session(app: App, session_id: str, offset: int | None, limit: int, max_chars_per_message: int) -> dict[str, Any]:
    """One page of a session's messages, read from its file."""
    check_page(limit, offset or 0)
    if max_chars_per_message < 1:
        raise InvalidToolArgument(f"max_chars_per_message {max_chars_per_message} is out of range: use 1 or more")
    session = app.store.snapshot(validate_session_id(session_id)).session
    return session_page(session, offset, limit, max_chars_per_message)


def search_sessions(
    app: App, query: str, model: str | None, role: str | None, session_id: str | None,
    since: str | None, until: str | None, limit: int, offset: int,
) -> dict[str, Any]:
    """The best hits of a full-text query, from the index."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidToolArgument("query is empty: pass the words or phrase to search for")
    check_page(limit, offset)
    if role is not None and role not in ROLES:
        raise InvalidToolArgument(f"role {role!r} is not valid: use user, assistant, system or tool")
    if session_id is not None:
        validate_session_id(session_id)
    reader = _reader(app, "search")
    after, before = parse_time(since, "since"), parse_time(until, "until", end_of_day=True)
    pending = app.index_pending()  # before the search (see list_sessions)
    try:
        hits = reader.search(query, model=model, role=role, session_id=session_id, since=after, until=before, limit=limit, offset=offset)
    except InvalidQuery as exc:  # the index's documented refusals: an unusable query, since after until
        raise InvalidToolArgument(str(exc)) from exc
    return {"hits": [as_dict(hit) for hit in hits], "index_pending": max(pending, app.index_pending())}


def model_switch_history(app: App, session_id: str | None, model: str | None, limit: int, offset: int) -> dict[str, Any]:
    """One page of the recorded model switches, newest first, from the index."""
    check_page(limit, offset)
    if session_id is not None:
        validate_session_id(session_id)
    reader = _reader(app, "model switch history")
    pending = app.index_pending()  # before the query (see list_sessions)
    page = reader.model_switch_page(session_id=session_id, model=model, limit=limit, offset=offset)
    return {
        "switches": [as_dict(item) for item in page.switches],
        "total": page.total, "limit": limit, "offset": offset, "index_pending": max(pending, app.index_pending()),
    }


def list_models(app: App, provider: str | None, query: str | None) -> dict[str, Any]:
    """The models this server can call (``adapters.catalog``), filtered by provider or name."""
    if app.list_models is None:
        return {"models": []}
    filters = {key: value for key, value in (("provider", provider), ("query", query)) if value}
    listed = app.list_models(**filters)
    if isinstance(listed, list):  # an injected list (tests, older wiring): one entry per item
        return {"models": [as_dict(item) for item in listed]}
    return listed.model_dump(mode="json", exclude_none=True)


def last_answer_id(app: App, session_id: str) -> str | None:
    """The id of the newest answer stored in ``session_id`` (for the link to a reply that was cut)."""
    try:
        session = app.store.snapshot(validate_session_id(session_id)).session
    except Exception:  # the link then names the whole session instead
        log.debug("no answer id for %s", session_id, exc_info=True)
        return None
    return next((message.id for message in reversed(session.messages) if message.role == "assistant"), None)
