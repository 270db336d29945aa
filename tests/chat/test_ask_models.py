"""``ask_models`` in-process: the MCP tool over the chat core, real session files, the real index,
scripted providers (the wire and the concurrency are shown over stdio in test_ask_models_stdio.py)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError

import server
from adapters.errors import ProviderError
from chat.prompt import FAILED_MARK
from store.branches import FORK_KEY, GROUP_KEY
from tests.mcp_helpers import call
from tests.chat_helpers import ScriptedProvider
from tests.server.test_server_tools import wired  # noqa: F401 (the in-process server over scripted providers)
from chat.errors import InvalidToolArgument
from chat.options import check_model_list


def ask(mcp: Any, **arguments: Any) -> dict[str, Any]:
    return call(mcp, "ask_models", **arguments)


def refused(mcp: Any, **arguments: Any) -> str:
    with pytest.raises(ToolError) as caught:
        anyio.run(lambda: mcp.call_tool("ask_models", arguments))
    return str(caught.value)


def sent(providers: dict[str, ScriptedProvider]) -> int:
    return sum(len(provider.requests) for provider in providers.values())


def test_each_model_answers_in_its_own_session_in_order_and_in_one_group(wired: Any) -> None:
    app, providers, mcp = wired
    result = ask(mcp, prompt="which sort is stable?", models=["claude-test", "gpt-test"], system="be terse")
    answers = result["answers"]
    assert [answer["model"] for answer in answers] == ["claude-test", "gpt-test"]
    assert all(answer["reply"] == "echo: which sort is stable?" and answer["error"] is None for answer in answers)
    assert set(answers[0]) == {"model", "session_id", "reply", "warnings", "usage", "error"}
    assert answers[0]["session_id"] != answers[1]["session_id"]
    for answer in answers:
        session = app.store.load(answer["session_id"])
        assert [m.role for m in session.messages] == ["system", "user", "assistant"]
        assert session.current_model == answer["model"] and session.models_used == [answer["model"]]
        assert session.extra[GROUP_KEY] == result["group_id"] and answer["warnings"] == []
        assert len(providers[answer["model"]].requests) == 1
    listed = {item["id"]: item for item in call(mcp, "list_sessions")["sessions"]}
    assert {listed[a["session_id"]]["group_id"] for a in answers} == {result["group_id"]}
    assert call(mcp, "get_session", **{"session_id": answers[0]["session_id"]})["session"]["extra"][GROUP_KEY] == result["group_id"]
    hits = call(mcp, "search_sessions", **{"query": "stable", "role": "assistant"})["hits"]
    assert {hit["model"] for hit in hits} == {"claude-test", "gpt-test"}  # both answers were indexed


def test_with_session_id_every_model_gets_a_branch_and_the_original_is_unchanged(wired: Any) -> None:
    app, providers, mcp = wired
    first = call(mcp, "chat", **{"prompt": "my function is slow", "model": "gpt-test"})
    source = app.store.path_for(first["session_id"])
    before = source.read_bytes()
    result = ask(mcp, prompt="what would you change?", models=["gpt-test", "claude-test"], session_id=first["session_id"])
    assert source.read_bytes() == before
    by_model = {answer["model"]: answer for answer in result["answers"]}
    assert by_model["gpt-test"]["warnings"] == []
    assert by_model["claude-test"]["warnings"][0].startswith("model switched from gpt-test to claude-test")
    for answer in result["answers"]:
        branch = app.store.load(answer["session_id"])
        assert [message_text for message_text in (m.content for m in branch.messages)] == [
            "my function is slow", "echo: my function is slow", "what would you change?", "echo: what would you change?"
        ]
        assert branch.extra[FORK_KEY]["session_id"] == first["session_id"] and branch.extra[FORK_KEY]["message_count"] == 2
        assert branch.extra[GROUP_KEY] == result["group_id"]
    # The model saw the copied history.
    assert [m.content for m in providers["claude-test"].requests[-1].messages][:2] == ["my function is slow", "echo: my function is slow"]
    listed = {item["id"]: item for item in call(mcp, "list_sessions")["sessions"]}
    assert listed[first["session_id"]]["group_id"] is None and listed[first["session_id"]]["forked_from"] is None
    assert {listed[a["session_id"]]["forked_from"] for a in result["answers"]} == {first["session_id"]}


def test_one_failing_model_is_its_error_and_the_others_still_answer(wired: Any) -> None:
    app, providers, mcp = wired
    providers["claude-test"].queue(ProviderError("anthropic API error 529: overloaded", status=529, retryable=True))
    result = ask(mcp, prompt="review this", models=["gpt-test", "claude-test", "small-test"])
    good, bad, other = result["answers"]
    assert good["reply"] == other["reply"] == "echo: review this" and good["error"] is None
    assert bad["reply"] is None and bad["usage"] is None
    assert bad["error"].startswith("provider error: anthropic API error 529: overloaded — this may succeed if you try again later")
    assert f"call chat with model='claude-test' and session_id={bad['session_id']!r}" in bad["error"]
    (kept,) = app.store.load(bad["session_id"]).messages  # the question is kept, marked as not delivered
    assert kept.content == "review this" and kept.extra[FAILED_MARK]["model"] == "claude-test"
    retried = call(mcp, "chat", **{"prompt": "review this", "model": "claude-test", "session_id": bad["session_id"]})
    assert retried["reply"] == "echo: review this"


def test_a_crash_in_one_model_is_reported_without_its_details(wired: Any) -> None:
    _, providers, mcp = wired
    providers["gpt-test"].queue(RuntimeError("secret internals"))
    bad, good = ask(mcp, prompt="q", models=["gpt-test", "claude-test"])["answers"]
    assert "internal error while calling the model (RuntimeError)" in bad["error"] and "secret" not in bad["error"]
    assert good["error"] is None


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"models": ["gpt-test"]}, "models has 1 name(s): ask_models takes 2 to 8 distinct models"),
        ({"models": [f"m{i}" for i in range(9)]}, "models has 9 name(s)"),
        ({"models": ["gpt-test", "claude-test", "gpt-test"]}, "lists 'gpt-test' more than once"),
        ({"models": ["gpt-test", "no-such-model"]}, "Call list_models"),
        ({"models": ["gpt-test", "bad name"]}, "is not valid: use a name from list_models"),
        ({"models": ["gpt-test", "claude-test"], "temperature": 9}, "temperature 9"),
        ({"models": ["gpt-test", "claude-test"], "prompt": " "}, "prompt is empty"),
        ({"models": ["gpt-test", "claude-test"], "session_id": "../x"}, "invalid session id"),
        ({"models": ["gpt-test", "claude-test"], "session_id": "nowhere"}, "nowhere"),
        ({"models": ["gpt-test", "claude-test"], "reasoning_effort": "max"}, "reasoning_effort"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written_or_sent(wired: Any, arguments: dict[str, Any], error: str) -> None:
    app, providers, mcp = wired
    message = refused(mcp, **{"prompt": "q", **arguments})
    assert error in message
    assert sent(providers) == 0 and list(app.store.iter_session_files()) == []


def test_a_model_without_its_key_is_its_error_and_the_others_answer(wired: Any) -> None:
    app, providers, mcp = wired
    answers = ask(mcp, prompt="q", models=["gpt-test", "gemini-nokey"])["answers"]
    assert answers[0]["reply"] == "echo: q" and answers[0]["error"] is None
    assert answers[1]["model"] == "gemini-nokey" and answers[1]["session_id"] is None
    assert "GEMINI_API_KEY" in answers[1]["error"] and "restart the server" in answers[1]["error"]
    assert [path.stem for path in app.store.iter_session_files()] == [answers[0]["session_id"]]


def test_check_model_list_refuses_what_the_mcp_schema_cannot() -> None:
    with pytest.raises(InvalidToolArgument, match="must be a list of model names"):
        check_model_list("gpt-test")
    with pytest.raises(InvalidToolArgument, match="must be a list of model names"):
        check_model_list(["gpt-test", 3])
