"""Pooled provider connections: one kept-alive TCP connection for many turns, counted by the loopback fakes.

In-process through the real adapters (retries, Retry-After and timeouts on a pooled client), and
end to end: ``server.py`` over stdio, many ``chat`` turns, ONE connection accepted by the fake.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters import ChatRequest, resolve
from adapters.http_pool import ClientPool, active_pool, client_for, endpoint_origin, pooled_clients
from store.schema import Message
from tests.fakes import FakeAnthropic, FakeOpenAI, echo_text, fake_anthropic, fake_openai  # noqa: F401
from tests.hardening_helpers import mcp_server
from tests.server.test_mcp_stdio import base_env


def request(model: str, text: str) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message(role="user", content=text)])


async def turns(model: str, count: int) -> list[str]:
    adapter = resolve(model)
    return [(await adapter.complete(request(model, f"turn {n}"))).text for n in range(count)]


def test_many_calls_in_the_pool_use_one_connection_and_closing_closes_it(fake_openai: FakeOpenAI) -> None:
    async def scenario() -> tuple[list[str], httpx.AsyncClient]:
        async with pooled_clients() as pool:
            texts = await turns("gpt-4o", 6)
            assert len(pool) == 1 and active_pool() is pool
            client = pool.get(fake_openai.base_url + "/chat/completions")
        assert active_pool() is None
        return texts, client

    texts, client = asyncio.run(scenario())
    assert texts == [echo_text(f"turn {n}") for n in range(6)]
    assert len(fake_openai.accepted) == 6 and fake_openai.connections == 1
    assert client.is_closed


def test_outside_the_pool_every_call_opens_its_own_connection(fake_openai: FakeOpenAI) -> None:
    asyncio.run(turns("gpt-4o", 3))
    assert fake_openai.connections == 3


def test_retry_after_and_timeouts_behave_as_before_on_a_pooled_client(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_REQUEST_TIMEOUT_SECONDS", "1.5")
    fake_openai.enqueue({"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "0.2"})
    fake_openai.enqueue({"choices": []}, delay=4.0)  # outlives the per-attempt timeout: retried

    async def scenario() -> list[str]:
        async with pooled_clients():
            return await turns("gpt-4o", 2)

    assert asyncio.run(scenario()) == [echo_text("turn 0"), echo_text("turn 1")]
    statuses = [r.status for r in fake_openai.requests]
    assert statuses == [429, 200, 200, 200]  # the slow one was answered 200 after the client gave up
    first, second = fake_openai.requests[:2]
    assert second.received_at - first.received_at >= 0.18
    # The 429 kept its connection; the timed-out attempt's connection was dropped and replaced.
    assert fake_openai.connections == 2


def test_one_client_per_endpoint(fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic) -> None:
    async def scenario() -> int:
        async with pooled_clients() as pool:
            await turns("gpt-4o", 2)
            await turns("claude-sonnet-4-5", 2)
            return len(pool)

    assert asyncio.run(scenario()) == 2
    assert (fake_openai.connections, fake_anthropic.connections) == (1, 1)


def test_another_event_loop_or_a_transport_gets_a_fresh_client() -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"ok": True})

    async def elsewhere() -> None:
        async with client_for("http://127.0.0.1:9/x") as client:
            seen["other_loop"] = client

    async def scenario() -> None:
        async with pooled_clients() as pool:
            thread = threading.Thread(target=lambda: asyncio.run(elsewhere()))
            thread.start()
            thread.join()
            async with client_for("http://127.0.0.1:9/x", httpx.MockTransport(handler)) as client:
                seen["transport"] = client
                assert (await client.get("http://127.0.0.1:9/x")).json() == {"ok": True}
            async with client_for("http://127.0.0.1:9/y") as client:
                seen["pooled"] = client
            assert pool.get("http://127.0.0.1:9/z") is seen["pooled"]
            with pytest.raises(RuntimeError, match="already open"):
                async with pooled_clients():
                    pass  # pragma: no cover - never entered

    asyncio.run(scenario())
    assert seen["other_loop"].is_closed and seen["transport"].is_closed
    assert seen["pooled"].is_closed and seen["pooled"] is not seen["other_loop"]


def test_a_closed_pooled_client_is_replaced() -> None:
    async def scenario() -> None:
        pool = ClientPool(asyncio.get_running_loop())
        first = pool.get("https://api.example.com/v1/chat")
        await first.aclose()
        assert pool.get("https://API.example.com/other") is not first
        await pool.aclose()

    asyncio.run(scenario())
    assert endpoint_origin("https://API.example.com:8443/v1") == "https://api.example.com:8443"


def test_the_stdio_server_keeps_one_connection_for_many_turns(tmp_path: Path) -> None:
    with FakeOpenAI() as openai:
        env = {**base_env(tmp_path), **openai.env("OPENAI")}
        with mcp_server(tmp_path / "root", env, tmp_path / "server-stderr.log") as client:
            session_id = None
            for n in range(8):
                result = client.call("chat", prompt=f"turn {n}", model="gpt-4o", session_id=session_id)
                session_id = result["session_id"]
                assert result["reply"] == echo_text(f"turn {n}")
        assert len(openai.accepted) == 8
        assert openai.connections == 1
