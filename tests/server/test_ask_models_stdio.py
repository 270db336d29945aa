"""``ask_models`` and ``reasoning_effort`` end to end: the SDK's real MCP client talking to
``server.py`` over stdio, every provider a loopback fake that checks requests as the real API
does. Concurrency is shown by the fakes' own records: every request arrived before any was
answered (no wall-clock threshold)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI
from tests.fakes.anthropic_fake import THINKING_TEXT
from tests.hardening_helpers import McpClient, mcp_server, subprocess_env

MODELS = ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("ask")
    with FakeOpenAI() as openai, FakeAnthropic() as anthropic, FakeGemini() as gemini:
        (tmp / "project").mkdir()
        (tmp / "project" / "sort.py").write_text("def sort(xs):\n    return sorted(xs)  # stable\n", encoding="utf-8")
        env = subprocess_env({**openai.env("OPENAI"), **anthropic.env("ANTHROPIC"), **gemini.env("GEMINI"), "LLM_UNIFIED": "1",
                              "LLM_MCP_FILE_ROOTS": str(tmp / "project")})
        with mcp_server(tmp / "root", env, tmp / "server.log") as client:
            yield {"client": client, "root": tmp / "root", "fakes": (openai, anthropic, gemini), "project": tmp / "project"}


@pytest.fixture
def client(world: dict[str, Any]) -> McpClient:
    for fake in world["fakes"]:
        fake.reset()
    return world["client"]


def session_file(world: dict[str, Any], session_id: str) -> Path:
    return world["root"] / "sessions" / f"{session_id}.json"


def session_names(world: dict[str, Any]) -> list[str]:
    folder = world["root"] / "sessions"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_the_models_are_asked_concurrently(world: dict[str, Any], client: McpClient) -> None:
    fakes = world["fakes"]
    for fake in fakes:  # each answer takes a while, so sequential calls could not overlap
        fake.enqueue_reply(f"answer from {fake.name}", delay=1.5)
    answers = client.call("ask_models", prompt="is this thread-safe?", models=MODELS)["answers"]
    assert [a["reply"] for a in answers] == ["answer from openai", "answer from anthropic", "answer from gemini"]
    requests = [fake.accepted[0] for fake in fakes]
    assert max(r.received_at for r in requests) < min(r.answered_at for r in requests if r.answered_at is not None)


def test_one_provider_failing_is_that_models_error(world: dict[str, Any], client: McpClient) -> None:
    _, _, gemini = world["fakes"]
    gemini.enqueue({"error": {"code": 400, "message": "User location is not supported", "status": "FAILED_PRECONDITION"}}, status=400)
    gpt, claude, gem = client.call("ask_models", prompt="second opinion?", models=MODELS)["answers"]
    assert gpt["reply"] == claude["reply"] == "echo: second opinion?"
    assert gem["reply"] is None and "User location is not supported" in gem["error"]
    stored = json.loads(session_file(world, gem["session_id"]).read_text())
    assert [m["content"] for m in stored["messages"]] == ["second opinion?"]


def test_branches_of_an_existing_session_leave_it_unchanged(world: dict[str, Any], client: McpClient) -> None:
    first = client.call("chat", prompt="here is my plan", model="gpt-4o")
    original = session_file(world, first["session_id"]).read_bytes()
    result = client.call("ask_models", prompt="is the plan sound?", models=MODELS[1:], session_id=first["session_id"])
    assert session_file(world, first["session_id"]).read_bytes() == original
    anthropic_body = world["fakes"][1].last_body
    assert [m["role"] for m in anthropic_body["messages"]] == ["user", "assistant", "user"]
    for answer in result["answers"]:
        page = client.call("get_session", session_id=answer["session_id"])
        assert page["session"]["extra"]["forked_from"]["session_id"] == first["session_id"]
        assert page["session"]["extra"]["group_id"] == result["group_id"]
        assert page["total_messages"] == 4
    listed = {item["id"]: item for item in client.call("list_sessions")["sessions"]}
    assert {listed[a["session_id"]]["group_id"] for a in result["answers"]} == {result["group_id"]}


def test_reasoning_effort_through_chat_and_ask_models(world: dict[str, Any], client: McpClient) -> None:
    openai, anthropic, gemini = world["fakes"]
    result = client.call("chat", prompt="prove it", model="claude-sonnet-4-5", reasoning_effort="high")
    assert anthropic.last_body["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert THINKING_TEXT not in result["reply"]
    stored = json.loads(session_file(world, result["session_id"]).read_text())
    assert stored["messages"][-1]["extra"]["anthropic"]["thinking"] == THINKING_TEXT
    answers = client.call("ask_models", prompt="prove it", models=["gpt-4o", "gemini-2.5-flash"], reasoning_effort="low")["answers"]
    assert "reasoning_effort was not applied: gpt-4o" in answers[0]["warnings"][0] and "reasoning_effort" not in openai.last_body
    assert gemini.last_body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}


def test_an_attached_file_reaches_every_model(world: dict[str, Any], client: McpClient) -> None:
    openai, anthropic, gemini = world["fakes"]
    for fake in world["fakes"]:
        fake.enqueue_reply("ok")
    path = str(world["project"] / "sort.py")
    answers = client.call("ask_models", prompt="is it stable?", models=MODELS, files=[path])["answers"]
    assert [a["error"] for a in answers] == [None, None, None]
    assert "return sorted(xs)" in json.dumps(openai.last_body["messages"][-1])
    assert "return sorted(xs)" in json.dumps(anthropic.last_body["messages"][-1])
    assert "return sorted(xs)" in json.dumps(gemini.last_body["contents"][-1])
    before = session_names(world)
    outside = client.error("ask_models", prompt="q", models=MODELS[:2], files=[str(world["root"].parent / "server.log")])
    assert "outside the file roots" in outside and "server.log" in outside
    assert len(openai.requests) == len(anthropic.requests) == 1 and session_names(world) == before


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"models": ["gpt-4o", "nonexistent-model"]}, "unknown model"),
        ({"models": ["gpt-4o", "claude-sonnet-4-5"], "reasoning_effort": "max"}, "reasoning_effort"),
        ({"models": ["gpt-4o", "claude-sonnet-4-5"], "reasoning_effort": "high", "max_tokens": 1200}, "needs max_tokens of at least 2048"),
        ({"models": ["gpt-4o"]}, "2 to 8 distinct models"),
    ],
)
def test_refusals_send_and_write_nothing(world: dict[str, Any], client: McpClient, arguments: dict[str, Any], error: str) -> None:
    before = session_names(world)
    assert error in client.error("ask_models", prompt="q", **arguments)
    assert all(fake.requests == [] for fake in world["fakes"])
    assert session_names(world) == before
