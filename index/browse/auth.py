"""The token in front of every page when the browser view must not be open to all (``LLM_MCP_TOKEN``).

The rule is the MCP server's (``utils.http_auth.http_auth``): the token is required whenever it
is set, and a host that is not a loopback address refuses to start without it. A request passes
with ``Authorization: Bearer <token>`` (scripts), or with the cookie a person gets by typing the
token once into the form every other request is answered with (401). The cookie holds an HMAC
of the token, never the token, and is ``HttpOnly; SameSite=Strict``; the token never appears
in a URL, so it is in no access log nor browser history.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from html import escape
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "llm_browse_auth"
LOGIN_PATH = "/-/llm-login"
MAX_FORM_BYTES = 8192

_FORM = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Token required</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:32em;margin:4em auto;padding:0 1em;color:#222}}
input{{font-size:1em;padding:.4em}} input[type=password]{{width:100%;box-sizing:border-box}}
.error{{color:#b00020}}</style></head>
<body><h1>Token required</h1>
<p>This session browser is protected: enter the value of <code>LLM_MCP_TOKEN</code> it was started with.</p>
{error}<form method="post" action="{action}">
<input type="hidden" name="next" value="{next}">
<p><input type="password" name="token" autocomplete="current-password" autofocus aria-label="token"></p>
<p><input type="submit" value="Open"></p></form></body></html>
"""


def cookie_value(token: str) -> str:
    """What the cookie holds: an HMAC of the token (the token itself is never sent back)."""
    return hmac.new(token.encode("utf-8"), b"llm-mcp-browse cookie v1", hashlib.sha256).hexdigest()


def _safe_next(value: str) -> str:
    """Only a path on this site (no scheme, no //host): anything else goes to the start page."""
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_FORM_BYTES or not message.get("more_body"):
            return body[:MAX_FORM_BYTES]


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def require_token(app: App, token: str) -> App:
    """``app`` behind the token (see the module docstring); only lifespan events pass without it."""
    expected_cookie = cookie_value(token).encode("ascii")
    expected = token.encode("utf-8")

    def authorised(scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                if hmac.compare_digest(value[7:].strip(), expected):
                    return True
            elif name == b"cookie":
                morsel = SimpleCookie(value.decode("latin-1")).get(COOKIE)
                if morsel is not None and hmac.compare_digest(morsel.value.encode("ascii", "replace"), expected_cookie):
                    return True
        return False

    async def form(send: Send, next_path: str, error: str = "") -> None:
        page = _FORM.format(action=LOGIN_PATH, next=escape(next_path), error=f'<p class="error">{escape(error)}</p>' if error else "")
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"www-authenticate", b'Bearer realm="llm-mcp-browse"'),
                   (b"cache-control", b"no-store")]
        await _respond(send, 401, page.encode("utf-8"), headers)

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or authorised(scope):
            await app(scope, receive, send)
            return
        if scope["type"] != "http":  # a websocket without the token
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["path"] == LOGIN_PATH and scope["method"] == "POST":
            fields = dict(parse_qsl((await _read_body(receive)).decode("utf-8", "replace")))
            next_path = _safe_next(fields.get("next", "/"))
            if hmac.compare_digest(fields.get("token", "").encode("utf-8"), expected):
                cookie = f"{COOKIE}={cookie_value(token)}; Path=/; HttpOnly; SameSite=Strict"
                headers = [(b"location", quote(next_path, safe="/?=&%#:;,+@!$'()*~").encode("ascii")),
                           (b"set-cookie", cookie.encode("ascii")), (b"cache-control", b"no-store")]
                await _respond(send, 303, b"", headers)
                return
            await form(send, next_path, "That is not the token.")
            return
        # raw_path and query_string are still URL-encoded: the form sends them back as they came.
        path = (scope.get("raw_path") or scope["path"].encode("utf-8")).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        await form(send, path + (f"?{query}" if query else ""))

    return wrapped
