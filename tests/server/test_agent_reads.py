"""What the agent reads (issue 27), through the SDK's real MCP clients.

A ``server.py`` subprocess over stdio, its providers the loopback fakes: the text and the
structured form of each tool, the size budget with its resource link, ``list_models`` from
genai-prices' data and a loopback ``GET /models``, the unknown-model warning, aliases recorded
as the model called, the three prompts, ``serverInfo.version``. The ``LLM_MCP_RESULTS`` forms are
checked with the SDK's in-process ``Client`` (same protocol, no subprocess).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import genai_prices
import pytest
from mcp import Client
from mcp.types import ResourceLink, TextContent

import server
from chat.results import compact_json
from tests.chat_helpers import make_indexed_app
from tests.fakes import FakeOpenAI
from tests.hardening_helpers import McpClient, mcp_server, subprocess_env

BUDGET = 40_000
#: Markdown as a model writes it: newlines, quotes, backslashes, code, non-ASCII.
MARKDOWN = 'Here is the "fix":\n\n```python\nprint("a\\tb")\n```\n\n- café — naïve\n- done'


def _long_answer(size: int) -> str:
    line = 'A line with "quotes", a back\\slash and ünïcode.\n'
    return (line * (size // len(line) + 1))[:size]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("reads")
    with FakeOpenAI() as openai, FakeOpenAI(api_key=None) as local:
        local.models = [{"id": "qwen-local", "context_length": 32_768}, {"id": "tiny", "object": "model"}]
        config = tmp / "llm.toml"
        config.write_text(
            '[aliases]\nfast = "gpt-4o-mini"\nbroken = "nothing-serves-this"\n\n'
            f'[endpoints.local]\nbase_url = "{local.base_url}"\nmodels = ["declared-only"]\n',
            encoding="utf-8",
        )
        env = subprocess_env({**openai.env("OPENAI"), "OLLAMA_BASE_URL": local.base_url, "LLM_MCP_CONFIG": str(config),
                              "KIMI_SESSIONS_DIR": str(tmp / "legacy")})
        with mcp_server(tmp / "root", env, tmp / "server-stderr.log") as client:
            yield {"client": client, "openai": openai, "local": local, "root": tmp / "root"}


def _raw(client: McpClient, name: str, **arguments: Any) -> Any:
    result = client.raw(name, **arguments)
    assert not result.is_error, result.content
    return result


def _text(result: Any) -> str:
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    assert len(texts) == 1, result.content
    return texts[0]


def _read_resource(client: McpClient, uri: str) -> str:
    read = client.portal.call(client.session.read_resource, uri)
    return "".join(content.text for content in read.contents)


def test_chat_reads_as_the_model_wrote_it(world: dict[str, Any]) -> None:
    client: McpClient = world["client"]
    world["openai"].enqueue_reply(MARKDOWN, usage=(1200, 34))
    result = _raw(client, "chat", prompt="fix it", model="gpt-4o")
    structured = result.structured_content
    assert list(structured)[:5] == ["reply", "session_id", "model", "warnings", "usage"]
    header, blank, *body = _text(result).split("\n")
    assert blank == "" and "\n".join(body) == MARKDOWN  # the reply verbatim: no JSON escapes
    assert header.startswith(f"[session {structured['session_id']} · new · gpt-4o") and "1200 in / 34 out tokens" in header
    assert "$" in header  # gpt-4o has a price in genai-prices' data
    assert structured["reply"] == MARKDOWN and "reply_truncated" not in structured
    tools = {tool.name: tool for tool in client.portal.call(client.session.list_tools).tools}
    for name, tool in tools.items():
        assert tool.output_schema and tool.output_schema.get("type") == "object", name
    assert {"reply", "session_id", "model"} <= set(tools["chat"].output_schema["required"])


def test_a_long_answer_is_cut_in_both_forms_and_read_back_whole(world: dict[str, Any]) -> None:
    client: McpClient = world["client"]
    answer = _long_answer(120_000)
    world["openai"].enqueue_reply(answer)
    result = _raw(client, "chat", prompt="write a lot", model="gpt-4o")
    text, structured = _text(result), result.structured_content
    assert len(text) <= BUDGET and len(compact_json(structured)) <= BUDGET
    cut = structured["reply_truncated"]
    assert cut["total_chars"] == 120_000 and cut["shown_chars"] == len(structured["reply"]) > 10_000
    assert answer.startswith(structured["reply"]) and structured["reply"] in text
    assert "120,000 characters" in text and cut["uri"] in text
    (link,) = [block for block in result.content if isinstance(block, ResourceLink)]
    assert str(link.uri) == cut["uri"] == f"session://{structured['session_id']}/messages/{cut['uri'].rsplit('/', 1)[1]}"
    assert _read_resource(client, cut["uri"]) == answer  # the whole answer was stored
    # get_session's default page fits the budget too (20,000 characters per message by default).
    for _ in range(3):
        world["openai"].enqueue_reply(answer)
        client.call("chat", prompt="more", model="gpt-4o", session_id=structured["session_id"])
    page = _raw(client, "get_session", session_id=structured["session_id"])
    page_text, page_data = _text(page), page.structured_content
    assert len(page_text) <= BUDGET and len(compact_json(page_data)) <= BUDGET
    assert page_data["truncated"]["total"] == 8 and page_data["returned"] == len(page_data["messages"]) < 8
    assert page_data["messages"][-1]["index"] == 7 and page_data["more_before"]  # the newest kept
    assert page_text.startswith(f"# {page_data['session'].get('title') or '(untitled)'}\nsession ") and "### 7 · assistant (gpt-4o)" in page_text
    # One message alone over the budget: its head, and a link to the whole.
    single = _raw(client, "get_session", session_id=structured["session_id"], offset=1, limit=1, max_chars_per_message=200_000)
    assert len(_text(single)) <= BUDGET and len(compact_json(single.structured_content)) <= BUDGET
    (shown,) = single.structured_content["messages"]
    assert shown["index"] == 1 and "120,000 characters in total" in shown["content"]
    (link,) = [block for block in single.content if isinstance(block, ResourceLink)]
    assert _read_resource(client, str(link.uri)) == answer


def test_ask_models_one_section_per_model_and_the_budget_shared(world: dict[str, Any]) -> None:
    client: McpClient = world["client"]
    world["openai"].enqueue_reply(_long_answer(120_000))
    world["openai"].enqueue_reply("short and sweet")
    result = _raw(client, "ask_models", prompt="compare", models=["gpt-4o", "gpt-4o-mini"])
    text, structured = _text(result), result.structured_content
    assert len(text) <= BUDGET and len(compact_json(structured)) <= BUDGET
    long, short = sorted(structured["answers"], key=lambda a: len(a["reply"]), reverse=True)
    assert short["reply"] == "short and sweet" and "reply_truncated" not in short
    assert long["reply_truncated"]["total_chars"] == 120_000
    assert text.count("\n## ") + text.startswith("## ") == 2 and "\n\nshort and sweet" in text
    (link,) = [block for block in result.content if isinstance(block, ResourceLink)]
    assert len(_read_resource(client, str(link.uri))) == 120_000


def test_listings_one_line_each(world: dict[str, Any]) -> None:
    client: McpClient = world["client"]
    world["openai"].enqueue_reply("Narwhals are toothed whales.")
    sid = client.call("chat", prompt="Tell me about narwhals\nin detail", model="gpt-4o")["session_id"]
    listing = _raw(client, "list_sessions", limit=5)
    first = listing.structured_content["sessions"][0]
    assert first["session_id"] == first["id"] == sid and list(first)[:2] == ["session_id", "id"]
    lines = _text(listing).splitlines()
    assert lines[1].startswith(f"{sid} · ") and lines[1].endswith(first.get("title") or "(untitled)")
    assert len(lines) == 1 + len(listing.structured_content["sessions"]) + ("more:" in lines[-1])
    hits = _raw(client, "search_sessions", query="narwhal")
    hit_lines = _text(hits).splitlines()[1:]
    assert len(hit_lines) == len(hits.structured_content["hits"]) >= 2
    assert all(line.startswith(f"{sid} #") for line in hit_lines) and "narwhals" in hit_lines[0].lower()


def test_list_models_from_the_price_data_and_the_endpoints(world: dict[str, Any]) -> None:
    client: McpClient = world["client"]
    result = _raw(client, "list_models")
    text, structured = _text(result), result.structured_content
    assert len(text) <= BUDGET and len(compact_json(structured)) <= BUDGET
    models = {item["model"]: item for item in structured["models"]}
    data = genai_prices.data_snapshot.get_snapshot().find_provider_model("gpt-4o", None, "openai", None)[1]
    expected = data.get_prices(__import__("datetime").datetime.now(__import__("datetime").timezone.utc))
    assert models["gpt-4o"]["context_window"] == data.context_window == 128_000
    assert models["gpt-4o"]["input_usd_per_mtok"] == float(expected.input_mtok)
    assert models["gpt-4o"]["output_usd_per_mtok"] == float(expected.output_mtok) and models["gpt-4o"]["key_set"]
    # The endpoints' own lists (GET /models on the loopback fake), cached: asked once.
    assert models["local/qwen-local"]["context_window"] == 32_768 and "local/declared-only" in models
    assert "context_window" not in models["ollama/tiny"]  # unknown: left out, not guessed
    providers = {item["provider"]: item for item in structured["providers"]}
    assert providers["anthropic"] == {**providers["anthropic"], "key_set": False, "models_listed": 0}
    assert providers["openai"]["aliases"] == {"fast": "gpt-4o-mini"}  # the broken alias is not offered
    assert "gpt-4o · 128,000 ctx · $" in text and "needs ANTHROPIC_API_KEY" in text
    client.call("list_models")
    gets = [r for r in world["local"].requests if r.method == "GET"]
    assert len(gets) == 1  # one endpoint served both local/ and ollama/: one fetch, cached for the server's life
    anthropic = client.call("list_models", provider="anthropic")
    assert anthropic["models"] and all(m["provider"] == "anthropic" and not m["key_set"] for m in anthropic["models"])
    sonnets = client.call("list_models", provider="anthropic", query="SONNET")["models"]
    assert sonnets and all("sonnet" in m["model"] for m in sonnets) and len(sonnets) < len(anthropic["models"])
    assert client.error("list_models", provider="no-such-provider").endswith("unknown provider 'no-such-provider': use one of local, moonshot, openai, anthropic, gemini, deepseek, openrouter, ollama")


def test_an_unknown_model_works_with_a_warning(world: dict[str, Any]) -> None:
    client: McpClient = world["client"]
    result = client.call("chat", prompt="hi", model="gpt-99-turbo-ultra")
    (warning,) = result["warnings"]
    assert "'gpt-99-turbo-ultra' is not in the model data" in warning and "128,000 tokens" in warning
    assert "cost_usd is null" in warning and result["usage"]["cost_usd"] is None
    world["openai"].enqueue_reply("known")
    assert client.call("chat", prompt="hi", model="gpt-4o")["warnings"] == []


def test_an_alias_is_recorded_as_the_model_called(world: dict[str, Any]) -> None:
    client: McpClient = world["client"]
    world["openai"].enqueue_reply("quick answer about okapis", usage=(100, 20))
    result = client.call("chat", prompt="okapi facts", model="fast")
    assert result["model"] == "gpt-4o-mini" and result["usage"]["cost_usd"] is not None
    assert world["openai"].last_body["model"] == "gpt-4o-mini"
    doc = json.loads((world["root"] / "sessions" / f"{result['session_id']}.json").read_text(encoding="utf-8"))
    answer = doc["messages"][-1]
    assert doc["current_model"] == "gpt-4o-mini" and doc["models_used"] == ["gpt-4o-mini"]
    assert answer["model"] == "gpt-4o-mini" and answer["extra"]["alias"] == "fast"
    again = client.call("chat", prompt="more okapi", model="fast", session_id=result["session_id"])
    assert again["warnings"] == []  # the same model: no switch
    hits = client.call("search_sessions", query="okapis", model="gpt-4o-mini")["hits"]
    assert [hit["session_id"] for hit in hits] == [result["session_id"]]
    asked = client.call("ask_models", prompt="okapi stripes?", models=["fast", "gpt-4o"])["answers"]
    assert [a["model"] for a in asked] == ["gpt-4o-mini", "gpt-4o"] and asked[0]["warnings"] == []
    branch = json.loads((world["root"] / "sessions" / f"{asked[0]['session_id']}.json").read_text(encoding="utf-8"))
    assert branch["models_used"] == ["gpt-4o-mini"] and branch["messages"][-1]["extra"]["alias"] == "fast"
    assert branch["model_switches"] == []
    message = client.error("chat", prompt="hi", model="broken")
    assert message.count("broken") == 1 and "nothing-serves-this" in message and "config file" in message


def test_prompts_and_version(world: dict[str, Any]) -> None:
    client: McpClient = world["client"]
    prompts = {p.name: p for p in client.portal.call(client.session.list_prompts).prompts}
    assert set(prompts) == {"second-opinion", "consensus", "continue-session"}
    for prompt in prompts.values():
        assert prompt.description and prompt.arguments
        assert all(argument.description for argument in prompt.arguments), prompt.name
    assert [a.name for a in prompts["consensus"].arguments if a.required] == ["question", "models"]
    got = client.portal.call(client.session.get_prompt, "consensus", {"question": "tabs or spaces?", "models": "gpt-4o, claude-sonnet-4-5"})
    text = got.messages[0].content.text
    assert 'models=["gpt-4o", "claude-sonnet-4-5"]' in text and "ask_models" in text and "tabs or spaces?" in text
    second = client.portal.call(client.session.get_prompt, "second-opinion", {"subject": "the staged diff", "model": "gemini-2.5-pro"})
    assert 'model="gemini-2.5-pro"' in second.messages[0].content.text
    resume = client.portal.call(client.session.get_prompt, "continue-session", {"session": "narwhal talk"})
    assert "search_sessions" in resume.messages[0].content.text and "get_session" in resume.messages[0].content.text
    info = client.portal.call(client.session.initialize).server_info
    assert info.name == "llm-mcp-server" and info.version and info.version[0].isdigit()


# ------------------------------------------------------------------------------ LLM_MCP_RESULTS


def _in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> tuple[Any, Any]:
    monkeypatch.setenv("LLM_MCP_RESULTS", mode)
    app, providers = make_indexed_app(tmp_path)
    providers["gpt-test"].queue(MARKDOWN)
    mcp = server.build_server(app)

    async def scenario() -> tuple[Any, Any]:
        async with Client(mcp) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            return await client.call_tool("chat", {"prompt": "hi", "model": "gpt-test"}), tools

    try:
        return anyio.run(scenario)
    finally:
        for close in app.extra["closers"]:
            close()


def test_text_mode_sends_markdown_only_and_promises_no_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result, tools = _in_process(tmp_path, monkeypatch, "text")
    assert result.structured_content is None and _text(result).endswith("\n\n" + MARKDOWN)
    assert all(tool.output_schema is None for tool in tools.values())


def test_structured_mode_text_is_the_compact_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result, tools = _in_process(tmp_path, monkeypatch, "structured")
    assert json.loads(_text(result)) == result.structured_content and _text(result) == compact_json(result.structured_content)
    assert result.structured_content["reply"] == MARKDOWN and tools["chat"].output_schema


def test_a_bad_setting_stops_the_server_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LLM_MCP_MAX_RESULT_CHARS", "lots")
    assert server.main(["--root", str(tmp_path / "root")]) == 2
    assert "LLM_MCP_MAX_RESULT_CHARS='lots' is not a number" in capsys.readouterr().err
    monkeypatch.setenv("LLM_MCP_MAX_RESULT_CHARS", "40000")
    monkeypatch.setenv("LLM_MCP_RESULTS", "markdown")
    assert server.main(["--root", str(tmp_path / "root")]) == 2
    assert "LLM_MCP_RESULTS='markdown' is not valid: use both, text or structured" in capsys.readouterr().err
