"""End to end: the SDK's real MCP clients talking to ``server.py`` run as a subprocess.

The providers are the loopback fakes (real HTTP on 127.0.0.1), reached through the usual
``*_BASE_URL`` / ``*_API_KEY`` variables, so every request the adapters send is checked the
way the real APIs check it. One server process serves all the tests of a scenario.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import SHARED_FIXTURES
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI
from tests.hardening_helpers import INITIALIZE, MCP_HEADERS, http_server, mcp_server
from tests.hardening_helpers import McpClient as Client

LEGACY_FIXTURES = SHARED_FIXTURES / "legacy_kimi_sessions"
TOOL_SESSION = "tool-calls_20250705_1400"
KEY = "test-key"


def base_env(tmp: Path) -> dict[str, str]:
    env = {"KIMI_SESSIONS_DIR": str(tmp / "legacy"), "PYTHONUNBUFFERED": "1", "LLM_LOG_LEVEL": "INFO"}
    # Let coverage measure the subprocess (the SDK passes only a safe subset of the environment).
    env.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")})
    return env


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Fakes for every wire format and one unified-mode server pointed at them."""
    tmp = tmp_path_factory.mktemp("mcp")
    (tmp / "legacy").mkdir()
    shutil.copyfile(LEGACY_FIXTURES / f"{TOOL_SESSION}.json", tmp / "legacy" / f"{TOOL_SESSION}.json")
    with FakeOpenAI() as openai, FakeOpenAI() as moonshot, FakeAnthropic() as anthropic, FakeGemini() as gemini:
        env = base_env(tmp)
        env.update(openai.env("OPENAI"))
        env.update(moonshot.env("MOONSHOT"))
        env.update(anthropic.env("ANTHROPIC"))
        env.update(gemini.env("GEMINI"))
        env["LLM_UNIFIED"] = "1"
        with mcp_server(tmp / "root", env, tmp / "server-stderr.log") as client:
            yield {"client": client, "tmp": tmp, "openai": openai, "moonshot": moonshot, "anthropic": anthropic, "gemini": gemini}
        # The server has exited: its log must never show a key.
        log = (tmp / "server-stderr.log").read_text()
        assert KEY not in log


def test_chat_continue_switch_and_search(world: dict[str, Any]) -> None:
    client: Client = world["client"]
    openai: FakeOpenAI = world["openai"]
    first = client.call("chat", prompt="Which zebracorn library is fastest?", model="gpt-4o", system="Answer briefly.")
    sid = first["session_id"]
    assert first["reply"] == "echo: Which zebracorn library is fastest?" and first["warnings"] == []
    second = client.call("chat", prompt="And the safest?", model="gpt-4o", session_id=sid)
    assert second["session_id"] == sid
    body = openai.last_body
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["messages"][0]["content"] == "Answer briefly." and body["model"] == "gpt-4o"
    switched = client.call("chat", prompt="Do you agree, Claude?", model="claude-sonnet-4-5", session_id=sid)
    (warning,) = switched["warnings"]
    assert "from gpt-4o to claude-sonnet-4-5" in warning
    anthropic_body = world["anthropic"].last_body
    assert anthropic_body["system"] == "Answer briefly." and len(anthropic_body["messages"]) == 5
    hits = client.call("search_sessions", query="zebracorn")["hits"]
    assert sid in {hit["session_id"] for hit in hits}
    assert client.call("search_sessions", query="zebracorn", model="gpt-4o", role="assistant")["hits"][0]["session_id"] == sid
    (switch,) = client.call("model_switch_history", session_id=sid)["switches"]
    assert (switch["from_model"], switch["to_model"], switch["at_message"]) == ("gpt-4o", "claude-sonnet-4-5", 5)
    page = client.call("get_session", session_id=sid, limit=3)
    assert page["total_messages"] == 7 and page["session"]["current_model"] == "claude-sonnet-4-5"
    assert page["messages"][-1]["provider"] == "anthropic" and page["messages"][-1]["model"] == "claude-sonnet-4-5"
    assert sid in {s["id"] for s in client.call("list_sessions")["sessions"]}


def test_tool_calls_move_from_kimi_to_anthropic_to_gemini(world: dict[str, Any]) -> None:
    client: Client = world["client"]
    legacy_file = world["tmp"] / "legacy" / f"{TOOL_SESSION}.json"
    raw = legacy_file.read_bytes()
    kimi = client.call("kimi_chat", prompt="And in Rome?", session_id=TOOL_SESSION)
    assert kimi["session_id"] == TOOL_SESSION and kimi["model"] == "kimi-k2-0711-preview"
    assert legacy_file.read_bytes() == raw  # migrated on the fly, legacy file untouched
    kimi_body = world["moonshot"].last_body
    call = kimi_body["messages"][1]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather" and json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert kimi_body["messages"][2]["role"] == "tool" and kimi_body["messages"][2]["tool_call_id"] == call["id"]
    claude = client.call("chat", prompt="Summarise the weather talk.", model="claude-sonnet-4-5", session_id=TOOL_SESSION)
    assert "from kimi-k2-0711-preview to claude-sonnet-4-5" in claude["warnings"][0]
    messages = world["anthropic"].last_body["messages"]
    tool_use = next(block for block in messages[1]["content"] if block["type"] == "tool_use")
    assert tool_use["name"] == "get_weather" and tool_use["input"] == {"city": "Paris"}
    assert messages[2]["role"] == "user" and messages[2]["content"][0]["type"] == "tool_result"
    assert messages[2]["content"][0]["tool_use_id"] == tool_use["id"]
    gemini = client.call("chat", prompt="Gemini, anything to add?", model="gemini-2.0-flash", session_id=TOOL_SESSION)
    assert "from claude-sonnet-4-5 to gemini-2.0-flash" in gemini["warnings"][0]
    contents = world["gemini"].last_body["contents"]
    assert contents[1]["role"] == "model" and contents[1]["parts"][0]["functionCall"] == {"name": "get_weather", "args": {"city": "Paris"}}
    response = contents[2]["parts"][0]["functionResponse"]
    assert contents[2]["role"] == "user" and response["name"] == "get_weather" and isinstance(response["response"], dict)
    history = client.call("model_switch_history", session_id=TOOL_SESSION)
    assert [(s["from_model"], s["to_model"]) for s in history["switches"]] == [  # newest first
        ("claude-sonnet-4-5", "gemini-2.0-flash"),
        ("kimi-k2-0711-preview", "claude-sonnet-4-5"),
    ]
    assert (history["total"], history["index_pending"]) == (2, 0)
    older = client.call("model_switch_history", session_id=TOOL_SESSION, limit=1, offset=1)
    assert [s["to_model"] for s in older["switches"]] == ["claude-sonnet-4-5"] and older["total"] == 2


def test_tool_descriptions_reach_the_client_without_docstring_indentation(world: dict[str, Any]) -> None:
    client: Client = world["client"]
    tools = {tool.name: tool for tool in client.portal.call(client.session.list_tools).tools}
    assert len(tools) == 10 and {"ask_models", "update_session", "delete_session"} <= set(tools)
    for name, tool in tools.items():
        description = tool.description or ""
        assert description == description.strip() and len(description) > 80, name
        assert not any(line.startswith(" ") for line in description.splitlines()), (name, description)
    # The text itself is kept, paragraph break included.
    assert tools["chat"].description.startswith("Send a message to any LLM and get its reply")
    assert "\n\nUse it to ask another model" in tools["chat"].description
    assert "Returns\n{session_id, model, reply, warnings, usage}." in tools["chat"].description


def test_errors_are_tool_errors_and_the_connection_stays_up(world: dict[str, Any]) -> None:
    client: Client = world["client"]
    assert "list_models" in client.error("chat", prompt="hi", model="no-such-model-xyz")
    assert "DEEPSEEK_API_KEY" in client.error("chat", prompt="hi", model="deepseek-chat")
    assert "invalid session id" in client.error("chat", prompt="hi", model="gpt-4o", session_id="../../etc/passwd")
    assert "invalid session id" in client.error("get_session", session_id="a/b")
    world["openai"].enqueue({"error": {"message": "overloaded"}}, status=400)
    failed = client.error("chat", prompt="kept despite the failure", model="gpt-4o", session_id="failing")
    assert "saved in session 'failing'" in failed
    assert client.call("get_session", session_id="failing")["messages"][0]["content"] == "kept despite the failure"
    models = {info["provider"]: info for info in client.call("list_models")["providers"]}
    assert models["openai"]["key_set"] and models["anthropic"]["key_set"] and not models["deepseek"]["key_set"]
    assert models["deepseek"]["key_variable"] == "DEEPSEEK_API_KEY"
    assert KEY not in json.dumps(models)
    assert client.call("chat", prompt="still alive?", model="gpt-4o")["reply"] == "echo: still alive?"


def test_kimi_chat_with_the_flag_off_writes_the_legacy_folder(tmp_path: Path) -> None:
    with FakeOpenAI() as moonshot:
        env = base_env(tmp_path) | moonshot.env("MOONSHOT") | {"LLM_UNIFIED": "0"}
        with mcp_server(tmp_path / "root", env, tmp_path / "server-stderr.log") as client:
            first = client.call("kimi_chat", prompt="legacy hello")
            again = client.call("kimi_chat", prompt="legacy again", session_id=first["session_id"])
            assert again["reply"] == "echo: legacy again"
            assert [m["role"] for m in moonshot.last_body["messages"]] == ["user", "assistant", "user"]
    doc = json.loads((tmp_path / "legacy" / f"{first['session_id']}.json").read_text(encoding="utf-8"))
    assert doc["model"] == "kimi-k2-0711-preview"
    assert [m["content"] for m in doc["messages"]] == ["legacy hello", "echo: legacy hello", "legacy again", "echo: legacy again"]
    assert not any((tmp_path / "root" / "sessions").glob("*.json"))


def test_http_transport_serves_mcp_at_slash_mcp(tmp_path: Path) -> None:
    with FakeOpenAI() as openai:
        env = {**os.environ, **base_env(tmp_path), **openai.env("OPENAI")}
        # 127.0.0.2 (loopback, but not a name the SDK protects by itself) proves that
        # server.py turns DNS-rebinding protection on for any --host.
        with http_server(tmp_path, env, host="127.0.0.2") as (url, _):

            async def scenario() -> dict[str, Any]:
                async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
                    await session.initialize()
                    result = await session.call_tool("chat", {"prompt": "over http", "model": "gpt-4o"})
                    return result.structured_content

            assert anyio.run(scenario)["reply"] == "echo: over http"
            # DNS-rebinding protection is on: a valid initialize with a foreign Host is refused
            # (421 Misdirected Request), the same request with our own Host is served.
            refused = httpx.post(url, headers={**MCP_HEADERS, "Host": "evil.example"}, json=INITIALIZE)
            assert refused.status_code == 421, refused.text
            served = httpx.post(url, headers=MCP_HEADERS, json=INITIALIZE)
            assert served.status_code == 200, served.text
