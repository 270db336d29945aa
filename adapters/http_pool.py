"""One pooled HTTP client per provider endpoint, kept for the life of the server.

Opening an ``httpx.AsyncClient`` per call costs an SSL context (the CA bundle is parsed: ~20 ms)
and a new TCP connection (against a real provider also a TLS handshake) on every turn. While
:func:`pooled_clients` is open (the server opens it for as long as it runs), :func:`client_for`
hands out one client per endpoint origin (scheme, host, port), created on first use and reused
by every later call, so connections are kept alive between turns; leaving :func:`pooled_clients`
closes them. Outside it (tests, one-off scripts) :func:`client_for` opens a fresh client for the
call and closes it afterwards, as before.

A client belongs to the event loop it was created on: a call from another loop (a thread running
its own ``anyio.run``) gets a fresh client instead of the pooled one. Timeouts are passed per
request by the caller (:func:`adapters.retry.post_json`), so the pool sets none of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx

#: How long an idle connection is kept for the next turn (httpx's default is 5 s; turns are slower).
KEEPALIVE_SECONDS = 30.0


class ClientPool:
    """The clients of one event loop, one per origin; see the module text."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._clients: dict[str, httpx.AsyncClient] = {}

    def get(self, url: str) -> httpx.AsyncClient:
        origin = endpoint_origin(url)
        client = self._clients.get(origin)
        if client is None or client.is_closed:
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_SECONDS)
            client = self._clients[origin] = httpx.AsyncClient(limits=limits)
        return client

    def __len__(self) -> int:
        return len(self._clients)

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


_active: ClientPool | None = None


def endpoint_origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (the key of its pooled client)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def active_pool() -> ClientPool | None:
    """The pool of the running event loop, if :func:`pooled_clients` is open on it."""
    pool = _active
    if pool is None:
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not on asyncio (e.g. trio): no pooling
        return None
    return pool if pool.loop is loop else None


@asynccontextmanager
async def pooled_clients() -> AsyncIterator[ClientPool]:
    """Keep one client per endpoint while open; close them all on exit. Not re-entrant."""
    global _active
    if _active is not None:
        raise RuntimeError("pooled_clients() is already open in this process")
    pool = _active = ClientPool(asyncio.get_running_loop())
    try:
        yield pool
    finally:
        _active = None
        await pool.aclose()


@asynccontextmanager
async def client_for(url: str, transport: httpx.AsyncBaseTransport | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The client to send a request to ``url`` with: the pooled one (left open) or a fresh one (closed on exit).

    A ``transport`` (tests) always gets a fresh client of its own.
    """
    pool = active_pool() if transport is None else None
    if pool is not None:
        yield pool.get(url)
        return
    async with httpx.AsyncClient(transport=transport) as client:
        yield client
