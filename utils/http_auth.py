"""Bearer-token protection of the HTTP transport (``LLM_MCP_TOKEN``).

One shared secret, compared in constant time, plugged into the SDK's own auth hooks: a
``TokenVerifier`` and ``AuthSettings`` without ``resource_server_url``, so the SDK wraps
``/mcp`` in its ``RequireAuthMiddleware`` (401 with ``WWW-Authenticate: Bearer``) and serves
no OAuth metadata a client would then try to follow. The token itself is never logged: it
is not passed to any log call here, and its variable name ends in ``_TOKEN``, which the
logging filter of ``adapters/redact.py`` redacts from every record.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings

TOKEN_ENV = "LLM_MCP_TOKEN"
CLIENT_ID = "llm-mcp-token"


class AuthConfigError(ValueError):
    """The HTTP server must not start as configured; the message says what to set."""


class StaticTokenVerifier:
    """Accept exactly one bearer token (constant-time comparison, no expiry)."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode("utf-8")

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode("utf-8"), self._expected):
            # The AccessToken is kept in the request scope; it must not carry the secret.
            return AccessToken(token="[REDACTED]", client_id=CLIENT_ID, scopes=[])
        return None


@dataclass(frozen=True)
class HttpAuth:
    """What ``MCPServer`` takes to require the token: ``MCPServer(token_verifier=..., auth=...)``."""

    token_verifier: StaticTokenVerifier
    settings: AuthSettings


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``, ``[::1]``)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def http_auth(host: str, port: int, *, no_auth: bool, environ: Mapping[str, str] | None = None) -> HttpAuth | None:
    """The auth to serve HTTP with, ``None`` for none; raise ``AuthConfigError`` if it must not start.

    ``LLM_MCP_TOKEN`` set (and ``--no-auth`` not given) → the token is required on ``/mcp``.
    Unset → no auth on a loopback ``host``; on any other host the server refuses to start
    unless ``no_auth`` (the operator says a reverse proxy authenticates). A token that is set
    but blank is refused rather than taken as "no auth".
    """
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV)
    if token is not None and not token.strip():
        raise AuthConfigError(
            f"{TOKEN_ENV} is set but empty: set it to a long random secret "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))') or unset it"
        )
    if no_auth:
        return None
    if token is None:
        if is_loopback(host):
            return None
        raise AuthConfigError(
            f"refusing to serve on {host}, which is not a loopback address, without authentication: "
            f"set {TOKEN_ENV} to a secret that clients send as 'Authorization: Bearer <token>', "
            "or pass --no-auth if a reverse proxy in front of this server authenticates"
        )
    # issuer_url is required by AuthSettings but only used for OAuth metadata, which is not
    # served (no auth provider, no resource_server_url).
    settings = AuthSettings(issuer_url=f"http://127.0.0.1:{port}", resource_server_url=None)
    return HttpAuth(StaticTokenVerifier(token), settings)


_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
ALLOWED_HOSTS_ENV = "LLM_MCP_ALLOWED_HOSTS"


def http_security(host: str) -> TransportSecuritySettings:
    """DNS-rebinding protection for every --host (the SDK turns it on only for loopback hosts).

    Accepted Host headers: the loopback names, ``--host`` itself unless it is a wildcard
    address, and whatever ``$LLM_MCP_ALLOWED_HOSTS`` lists (``name`` or ``name:port``).
    """
    names = list(_LOOPBACK_HOSTS)
    if host not in ("0.0.0.0", "::", ""):
        names.append(f"[{host}]" if ":" in host else host)
    names += [item.strip() for item in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if item.strip()]
    allowed_hosts: list[str] = []
    allowed_origins: list[str] = []
    for name in names:
        has_port = re.search(r":\d+$", name) is not None
        patterns = [name] if has_port else [name, f"{name}:*"]
        allowed_hosts += patterns
        allowed_origins += [f"{scheme}://{pattern}" for pattern in patterns for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(dict.fromkeys(allowed_hosts)),
        allowed_origins=list(dict.fromkeys(allowed_origins)),
    )
