"""A first hour without a dead end (issue 28), through the real interface: the SDK's MCP client
talking to ``server.py`` over stdio, the providers loopback fakes. Each failure says what
happened and what to do; nothing fails more than it must."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeGemini, FakeOpenAI
from tests.hardening_helpers import McpClient, mcp_server, subprocess_env, wait_until


def closed_port() -> int:
    with socket.socket() as sock:  # bound, never listening: a connection is refused
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("first-hour")
    with FakeOpenAI() as openai, FakeOpenAI(api_key=None) as lmstudio, FakeGemini() as gemini:
        config = tmp / "providers.toml"
        config.write_text(
            f'[aliases]\nbroken = "no-such-model-anywhere"\nfast = "gpt-4o"\n\n'
            f'[endpoints.lmstudio]\nbase_url = "{lmstudio.base_url}"\napi_key_env = "LMSTUDIO_API_KEY"\n',
            encoding="utf-8",
        )
        # OpenAI is configured; DeepSeek and Anthropic have no key; Gemini's key is wrong; no
        # Ollama runs; LM Studio (keyless, on this machine) is declared as in docs/providers.md.
        env = subprocess_env({
            **openai.env("OPENAI"), "GEMINI_BASE_URL": gemini.base_url, "GEMINI_API_KEY": "a-wrong-key",
            "OLLAMA_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1", "LLM_MCP_CONFIG": str(config),
            "LLM_UNIFIED": "1", "LLM_TIMEOUT_SECONDS": "3", "LLM_REQUEST_TIMEOUT_SECONDS": "1",
        })
        with mcp_server(tmp / "root", env, tmp / "server.log") as client:
            yield {"client": client, "root": tmp / "root", "openai": openai, "lmstudio": lmstudio, "log": tmp / "server.log"}


@pytest.fixture
def client(world: dict[str, Any]) -> McpClient:
    world["openai"].reset()
    return world["client"]


# ------------------------------------------------------------------ 1. ask_models, one key missing


def test_a_missing_key_is_that_models_error_and_the_others_answer(world: dict[str, Any], client: McpClient) -> None:
    answers = client.call("ask_models", prompt="is this stable?", models=["gpt-4o", "deepseek-chat", "claude-sonnet-4-5"])["answers"]
    assert [a["model"] for a in answers] == ["gpt-4o", "deepseek-chat", "claude-sonnet-4-5"]
    gpt, deepseek, claude = answers
    assert gpt["reply"] == "echo: is this stable?" and gpt["error"] is None
    assert deepseek["reply"] is None and deepseek["session_id"] is None and "DEEPSEEK_API_KEY" in deepseek["error"]
    assert claude["reply"] is None and "ANTHROPIC_API_KEY" in claude["error"]
    assert len(world["openai"].accepted) == 1
    assert sorted(p.stem for p in (world["root"] / "sessions").iterdir()) == [gpt["session_id"]]


def test_every_key_missing_refuses_the_call_naming_each_variable(world: dict[str, Any], client: McpClient) -> None:
    error = client.error("ask_models", prompt="q", models=["deepseek-chat", "claude-sonnet-4-5"])
    assert "DEEPSEEK_API_KEY" in error and "ANTHROPIC_API_KEY" in error and "none of the models" in error


def test_other_refusals_still_refuse_the_whole_call_before_anything_is_sent(world: dict[str, Any], client: McpClient) -> None:
    error = client.error("ask_models", prompt="q", models=["gpt-4o", "deepseek-chat", "no-such-model"])
    assert "unknown model 'no-such-model'" in error
    error = client.error("ask_models", prompt="q", models=["gpt-4o", "deepseek-chat"], temperature=9)
    assert "temperature 9" in error
    assert world["openai"].accepted == []


# ------------------------------------------------------------------ 6. argument errors: one shape


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("chat", {"prompt": "x", "model": "gpt-4o", "reasoning_effort": "extreme"},
         "reasoning_effort 'extreme' is not valid: use 'low', 'medium' or 'high'"),
        ("chat", {"model": "gpt-4o"}, "prompt is missing: pass prompt (a string)"),
        ("chat", {"prompt": "x", "model": "gpt-4o", "temperature": "hot"}, "temperature 'hot' is not valid: use a number"),
        ("chat", {"prompt": "x", "model": "gpt-4o", "files": "a.txt"}, "files 'a.txt' is not valid: use a list of strings"),
        ("chat", {"prompt": "x", "model": "gpt-4o", "sesion_id": "abc"}, "unknown argument 'sesion_id'"),
        ("ask_models", {"prompt": "x", "models": "gpt-4o"}, "models 'gpt-4o' is not valid: use a list of strings"),
        ("list_sessions", {"limit": "many"}, "limit 'many' is not valid: use a whole number"),
        ("get_session", {"session_id": 5}, "session_id 5 is not valid: use a string"),
        ("search_sessions", {"query": "x", "limit": 1.5}, "limit 1.5 is not valid: use a whole number"),
        ("model_switch_history", {"session_id": ["a"]}, "session_id ['a'] is not valid: use a string"),
        ("kimi_chat", {}, "prompt is missing"),
        ("list_models", {"verbose": True}, "unknown argument 'verbose'"),
    ],
)
def test_argument_errors_have_one_shape_on_every_tool(client: McpClient, tool: str, arguments: dict[str, Any], expected: str) -> None:
    error = client.error(tool, **arguments)
    assert expected in error
    assert "pydantic" not in error and "validation error" not in error and "\n" not in error


# ------------------------------------------------------------------ 2. search syntax errors


@pytest.mark.parametrize("query", ["AND OR (", '"unbalanced'])
def test_broken_search_syntax_is_a_tool_error_showing_the_literal_query(client: McpClient, query: str) -> None:
    error = client.error("search_sessions", query=query)
    literal = '"' + query.replace('"', '""') + '"'
    assert f"{query!r} is not valid search syntax" in error and error.endswith(literal)
    assert isinstance(client.call("search_sessions", query=literal)["hits"], list)  # the suggested query is accepted


# ------------------------------------------------------------------ 3. quarantine is never silent


def test_a_quarantined_session_says_where_it_went_and_how_to_restore_it(world: dict[str, Any], client: McpClient) -> None:
    sessions = world["root"] / "sessions"
    sessions.mkdir(parents=True, exist_ok=True)
    (sessions / "garbage.json").write_text("{this is not json", encoding="utf-8")
    moved = world["root"] / "quarantine" / "garbage.json"
    wait_until(moved.exists, what="the watcher quarantines the garbage file")
    log = wait_until(lambda: (lambda text: text if "garbage.json" in text and "WARNING" in text else None)(client.log()),
                     what="a WARNING naming the file")
    line = next(line for line in log.splitlines() if "WARNING" in line and "garbage.json" in line)
    assert str(moved) in line and str(sessions / "garbage.json") in line and "JSON" in line.upper()
    for tool, arguments in (("get_session", {"session_id": "garbage"}),
                            ("chat", {"prompt": "continue", "model": "gpt-4o", "session_id": "garbage"})):
        error = client.error(tool, **arguments)
        assert "is in quarantine" in error and str(moved) in error, error
        assert f"move it back to {sessions / 'garbage.json'}" in error
    assert not (sessions / "garbage.json").exists()  # chat did not start an empty session under that id
    assert world["openai"].accepted == []


# ------------------------------------------------------------------ 5. provider failures say what to do


def test_a_local_server_that_is_not_running_is_not_retried_and_says_what_to_start(client: McpClient) -> None:
    error = client.error("chat", prompt="hi", model="ollama/llama3")
    assert "connection refused" in error and "ollama serve" in error and "OLLAMA_BASE_URL" in error
    assert "try again later" not in error and "attempts" not in error


def test_the_whole_retry_sequence_stays_within_llm_timeout_seconds(world: dict[str, Any], client: McpClient) -> None:
    for _ in range(4):  # every attempt outlives LLM_REQUEST_TIMEOUT_SECONDS=1
        world["openai"].enqueue_reply("too late", delay=6)
    started = time.monotonic()
    error = client.error("chat", prompt="slow?", model="gpt-4o")
    elapsed = time.monotonic() - started
    assert elapsed < 3 + 1.5, elapsed  # LLM_TIMEOUT_SECONDS=3, plus the MCP round trip
    assert "LLM_TIMEOUT_SECONDS" in error and "LLM_REQUEST_TIMEOUT_SECONDS" in error


def test_a_rejected_key_names_its_variable(client: McpClient) -> None:
    error = client.error("chat", prompt="hi", model="gemini-2.5-flash")
    assert "API key not valid" in error and "GEMINI_API_KEY" in error


def test_a_keyless_local_endpoint_with_api_key_env_answers_without_a_key(world: dict[str, Any], client: McpClient) -> None:
    world["lmstudio"].reset()
    result = client.call("chat", prompt="hello local", model="lmstudio/qwen2.5-coder-7b")
    assert result["reply"] == "echo: hello local"
    assert "authorization" not in {name.lower() for name in world["lmstudio"].accepted[0].headers}


def test_a_bad_alias_is_named_once_with_where_to_fix_it(client: McpClient) -> None:
    error = client.error("chat", prompt="hi", model="broken")
    assert error.count("broken") == 1 and "no-such-model-anywhere" in error and "[aliases]" in error
    assert "providers.toml" in error


# ------------------------------------------------------------------ 9. one numbering of positions


def test_switch_positions_are_numbered_one_way_everywhere(world: dict[str, Any], client: McpClient) -> None:
    first = client.call("chat", prompt="one", model="gpt-4o")
    session_id = first["session_id"]
    client.call("chat", prompt="two", model="gpt-4o", session_id=session_id)
    client.call("chat", prompt="three", model="lmstudio/qwen2.5-coder-7b", session_id=session_id)
    page = client.call("get_session", session_id=session_id)
    at = page["session"]["model_switches"][0]["at_message"]
    after = next(m for m in page["messages"] if m["index"] == at)
    assert at == 4 and after["role"] == "user" and after["content"] == "three"
    history = wait_until(lambda: client.call("model_switch_history", session_id=session_id)["switches"], what="indexed switch")
    assert history[0]["at_message"] == at
    markdown = client.portal.call(lambda: client.session.read_resource(f"session://{session_id}")).contents[0].text
    assert f"before message [{at}]," in markdown
    assert f"### [{at}] user" in markdown and "### [0] user" in markdown


# ------------------------------------------------------------------ 9. the start-up line


def test_the_server_says_on_stderr_that_it_waits_for_a_client(world: dict[str, Any], client: McpClient) -> None:
    line = next(line for line in client.log().splitlines() if "waiting for a client" in line)
    assert line.startswith("llm-mcp-server ") and "MCP over stdio" in line
    assert line.endswith(f"sessions in {world['root'].absolute()}, waiting for a client")  # no count: start-up never walks the store
