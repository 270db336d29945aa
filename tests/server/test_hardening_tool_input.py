"""Hardening: bad tool input over a real stdio MCP connection.

Huge prompts, negative/absurd ``max_tokens``, out-of-range temperatures, unknown models and
session ids, wrong types and bad paging give clear tool errors (never "internal error"), and
the connection stays up: a later call succeeds, and the provider was never called for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeOpenAI
from tests.hardening_helpers import McpClient, mcp_server, subprocess_env

MAX_PROMPT = 1_000_000

# (tool, arguments, a phrase the error must contain)
BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("chat", {"prompt": "x" * (MAX_PROMPT + 1), "model": "gpt-4o"}, "over the limit"),
    ("chat", {"prompt": "", "model": "gpt-4o"}, "prompt is empty"),
    ("chat", {"prompt": "   \n", "model": "gpt-4o"}, "prompt is empty"),
    ("chat", {"prompt": "hi", "model": "gpt-4o", "max_tokens": -5}, "max_tokens -5 is out of range"),
    ("chat", {"prompt": "hi", "model": "gpt-4o", "max_tokens": 0}, "max_tokens 0 is out of range"),
    ("chat", {"prompt": "hi", "model": "gpt-4o", "max_tokens": 10**12}, "is out of range"),
    ("chat", {"prompt": "hi", "model": "gpt-4o", "max_tokens": 2**70}, "is out of range"),
    ("chat", {"prompt": "hi", "model": "gpt-4o", "max_tokens": "lots"}, "max_tokens"),
    ("chat", {"prompt": "hi", "model": "gpt-4o", "temperature": -1}, "temperature -1"),
    ("chat", {"prompt": "hi", "model": "gpt-4o", "temperature": 2.5}, "temperature 2.5 is out of range"),
    ("chat", {"prompt": "hi", "model": "gpt-4o", "temperature": 1e308}, "out of range"),
    ("chat", {"prompt": "hi", "model": "gpt-4o", "temperature": "hot"}, "temperature"),
    ("chat", {"prompt": "hi", "model": "no-such-model-xyz"}, "list_models"),
    ("chat", {"prompt": "hi", "model": ""}, "model is empty"),
    ("chat", {"prompt": "hi", "model": "gpt 4o\n"}, "is not valid"),
    ("chat", {"prompt": "hi", "model": "m" * 5000}, "is not valid"),
    ("chat", {"prompt": "hi", "model": "deepseek-chat"}, "DEEPSEEK_API_KEY"),
    ("chat", {"prompt": "hi", "model": "gpt-4o", "system": "s" * (MAX_PROMPT + 1)}, "system prompt is too long"),
    ("chat", {"prompt": 12345, "model": "gpt-4o"}, "prompt"),
    ("chat", {"model": "gpt-4o"}, "prompt"),
    ("kimi_chat", {"prompt": ""}, "prompt is empty"),
    ("get_session", {"session_id": "never-existed"}, "no session with id 'never-existed'"),
    ("get_session", {"session_id": "never-existed", "limit": 0}, "limit 0 is out of range"),
    ("get_session", {"session_id": "x", "offset": -1}, "offset -1 is negative"),
    ("get_session", {"session_id": "x", "limit": 10**9}, "out of range"),
    ("get_session", {"session_id": "x", "max_chars_per_message": 0}, "max_chars_per_message"),
    ("search_sessions", {"query": ""}, "query is empty"),
    ("search_sessions", {"query": "hi", "limit": -3}, "out of range"),
    ("search_sessions", {"query": "hi", "role": "admin"}, "role 'admin' is not valid"),
    ("search_sessions", {"query": "hi", "since": "yesterday-ish"}, "is not an ISO-8601"),
    ("search_sessions", {"query": "hi", "since": "2026-02-01", "until": "2026-01-01"}, "since is later than until"),
    ("search_sessions", {"query": "q" * 200_000}, "query"),
    ("list_sessions", {"limit": 100_000}, "out of range"),
    ("list_sessions", {"offset": -2}, "negative"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("input")
    with FakeOpenAI() as openai:
        env = subprocess_env(openai.env("OPENAI") | {"KIMI_SESSIONS_DIR": str(tmp / "legacy")})
        with mcp_server(tmp / "root", env, tmp / "server.log") as client:
            yield {"client": client, "openai": openai, "tmp": tmp}


def test_bad_input_gives_clear_tool_errors_and_the_connection_stays_up(served: dict[str, Any]) -> None:
    client: McpClient = served["client"]
    openai: FakeOpenAI = served["openai"]
    problems = []
    for name, arguments, phrase in BAD_CALLS:
        result = client.raw(name, **arguments)
        text = " ".join(getattr(block, "text", "") for block in result.content)
        if not result.is_error or phrase.lower() not in text.lower() or "internal error" in text:
            problems.append((name, {k: (v if len(str(v)) < 50 else f"<{len(str(v))} chars>") for k, v in arguments.items()}, text[:300]))
    assert problems == []
    assert openai.requests == []  # nothing bad ever reached the provider
    assert client.call("chat", prompt="still here?", model="gpt-4o")["reply"] == "echo: still here?"
    assert "Traceback" not in client.log()


def test_an_unknown_tool_and_a_prompt_over_the_context_window(served: dict[str, Any]) -> None:
    client: McpClient = served["client"]
    result = client.raw("no_such_tool", x=1)
    assert result.is_error and "no_such_tool" in result.content[0].text
    # Under the hard limit but over gpt-4o's context window: stored, then a clear error.
    big = "word " * 180_000
    text = client.error("chat", prompt=big, model="gpt-4o", session_id="too-big")
    assert "context window" in text and "saved in session 'too-big'" in text, text[:500]
    page = client.call("get_session", session_id="too-big", max_chars_per_message=100)
    assert page["messages"][0]["content"].endswith("characters in total]")
    assert client.call("chat", prompt="small again", model="gpt-4o")["reply"] == "echo: small again"


def test_many_bad_calls_in_a_row_do_not_wear_the_connection_down(served: dict[str, Any]) -> None:
    client: McpClient = served["client"]
    for i in range(60):
        assert client.raw("chat", prompt="hi", model="gpt-4o", max_tokens=-i - 1).is_error
    assert client.call("list_models")["models"]
    assert client.call("chat", prompt="and now", model="gpt-4o")["reply"] == "echo: and now"
