"""The Datasette plugin of the browser view: session page, links, charts, percentiles, token.

Registered by ``index.browse.app.make_datasette`` (``datasette.plugins.pm.register``); every
hook acts on the ``index`` database only. Hooks:

- ``register_routes``: ``/-/session/<id>``, one session as a conversation (``session.html``);
- ``render_cell``: a ``session_id`` cell links to that page (at the message or switch of the row);
- ``extra_template_vars``: ``browse_chart`` for ``query-index.html`` (the canned queries' charts)
  and ``markdown`` for ``session.html``;
- ``prepare_connection``: the ``percentile(value, fraction)`` aggregate the latency query uses;
- ``asgi_wrapper``: the token (when the plugin setting ``token`` is set) and the CJK search redirect.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, unquote

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup

from index.browse.auth import App, Receive, Scope, Send, require_token
from index.browse.charts import render_chart
from index.browse.conversation import MESSAGES_SQL, SESSION_SQL, SWITCHES_SQL, build_conversation
from index.browse.markdown import render_markdown
from index.browse.metadata import DATABASE, PLUGIN
from index.browse.queries import CHARTS
from index.browse.search import cjk_redirect
from index.usage import percentile

SESSION_ROUTE = "/-/session/"


def session_url(session_id: str, anchor: str = "") -> str:
    return SESSION_ROUTE + quote(session_id, safe="") + (f"#{anchor}" if anchor else "")


class _Percentile:
    """``percentile(value, fraction)``: ``index.usage.percentile`` of the non-NULL values."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value: Any, fraction: Any) -> None:
        if isinstance(value, (int, float)):
            self.values.append(float(value))
        if isinstance(fraction, (int, float)) and 0 < fraction < 1:
            self.fraction = float(fraction)

    def finalize(self) -> float | None:
        return percentile(sorted(self.values), self.fraction)


@hookimpl
def prepare_connection(conn: sqlite3.Connection) -> None:
    conn.create_aggregate("percentile", 2, _Percentile)  # type: ignore[arg-type]


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str) -> Markup | None:
    if database != DATABASE or column != "session_id" or not isinstance(value, str):
        return None
    anchor = ""
    keys = row.keys() if hasattr(row, "keys") else []
    if table == "messages" and "position" in keys:
        anchor = f"m{row['position']}"
    elif table == "model_switches" and "position" in keys:
        anchor = f"s{row['position']}"
    return Markup('<a href="{}" title="open as a conversation">{}</a>').format(session_url(value, anchor), value)


def _chart(canned_query: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Markup:
    chart = CHARTS.get(canned_query or "")
    if chart is None or not rows:
        return Markup("")
    # render_chart escapes every text it puts into the SVG.
    return Markup(f'<figure class="browse-chart">{render_chart(chart, columns, rows)}</figure>')


def _markdown(text: str) -> Markup:
    return Markup(render_markdown(text))  # raw HTML off, links checked: see index.browse.markdown


@hookimpl
def extra_template_vars(database: str | None) -> dict[str, Any]:
    if database not in (DATABASE, None):
        return {}
    return {"browse_chart": _chart, "markdown": _markdown, "session_url": session_url}


async def session_page(datasette: Any, request: Any) -> Response:
    await datasette.ensure_permissions(
        request.actor, [("view-table", (DATABASE, "messages")), ("view-database", DATABASE), "view-instance"]
    )
    session_id = unquote(request.url_vars["session_id"])
    db = datasette.get_database(DATABASE)
    session = (await db.execute(SESSION_SQL, {"id": session_id})).first()
    if session is None:
        raise NotFound(f"No session {session_id!r} in the index (it may be newer than the index: run scripts/reindex.py)")
    messages = (await db.execute(MESSAGES_SQL, {"id": session_id})).rows
    switches = (await db.execute(SWITCHES_SQL, {"id": session_id})).rows
    conversation = build_conversation(session, messages, switches)
    html = await datasette.render_template(
        "session.html",
        {"conversation": conversation, "database": DATABASE, "markdown": _markdown},
        request=request,
        view_name="llm-session",
    )
    return Response.html(html)


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/session/(?P<session_id>[^/]+)$", session_page)]


def _cjk_search(app: App) -> App:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET":
            target = cjk_redirect(scope["path"], scope.get("query_string", b"").decode("latin-1"))
            if target is not None:
                await send({"type": "http.response.start", "status": 302,
                            "headers": [(b"location", quote(target, safe="/?=&%#:;,+@!$'()*~").encode("ascii"))]})
                await send({"type": "http.response.body", "body": b""})
                return
        await app(scope, receive, send)

    return wrapped


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    settings = datasette.plugin_config(PLUGIN) or {}
    token = settings.get("token")
    if settings.get("token_required") and not (isinstance(token, str) and token.strip()):
        # Fail closed: a token was asked for but its variable is unset or blank.
        raise RuntimeError("the browser view was configured to require a token, but the token is empty")

    def wrap(app: App) -> App:
        inner = _cjk_search(app)
        return require_token(inner, token) if token else inner

    return wrap
