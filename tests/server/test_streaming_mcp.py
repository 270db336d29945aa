"""Streaming end to end: ``server.py`` under the SDK's real stdio client, providers as slow loopback fakes.

- a ``chat`` with a progress callback hears ``notifications/progress`` while waiting for the
  first token and while the answer streams, rising, with the model and the characters;
- a stream the fake cuts halfway: the tool error says so, the session keeps the question
  (failed) and the partial answer (incomplete, with the reason), and neither is sent again;
- the client cancels mid-stream: the provider connection is closed promptly, the question and
  the partial answer are saved the same way.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat.prompt import FAILED_MARK, INCOMPLETE_MARK
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI
from tests.hardening_helpers import McpClient, mcp_server, run_script, subprocess_env, wait_until

MODEL = "claude-sonnet-4-5"
ANSWER = "A considered answer, streamed slowly so that progress can be watched arriving. " * 3


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("streaming")
    with FakeAnthropic() as anthropic, FakeOpenAI() as openai, FakeGemini() as gemini:
        env = subprocess_env({**anthropic.env("ANTHROPIC"), **openai.env("OPENAI"), **gemini.env("GEMINI")})
        with mcp_server(tmp / "root", env, tmp / "server.log") as client:
            yield {"client": client, "root": tmp / "root", "anthropic": anthropic, "openai": openai, "gemini": gemini}


def session_file(root: Path, session_id: str) -> dict[str, Any]:
    return json.loads((root / "sessions" / f"{session_id}.json").read_text(encoding="utf-8"))


def call_with_progress(client: McpClient, arguments: dict[str, Any], tool: str = "chat") -> tuple[Any, list[tuple[float, float, str]]]:
    heard: list[tuple[float, float, str]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        heard.append((time.monotonic(), progress, message or ""))

    result = client.portal.call(
        lambda: client.session.call_tool(tool, arguments, read_timeout_seconds=60, progress_callback=on_progress)
    )
    return result, heard


def test_chat_sends_rising_progress_while_waiting_and_while_the_answer_streams(world: dict[str, Any]) -> None:
    fake: FakeAnthropic = world["anthropic"]
    # 1.5 s before the first byte, then a piece of text every 0.1 s (~3 s of streaming).
    fake.enqueue_reply(ANSWER, delay=1.5, event_delay=0.1)
    result, heard = call_with_progress(world["client"], {"prompt": "take your time", "model": MODEL})
    assert not result.is_error, result.content
    assert result.structured_content["reply"] == ANSWER
    progress = [value for _, value, _ in heard]
    assert progress == sorted(progress) and len(set(progress)) == len(progress)  # only ever rising
    messages = [message for _, _, message in heard]
    assert any(message.startswith(f"{MODEL}: waiting for the first token") for message in messages)
    counted = [message for message in messages if message.endswith(" characters")]
    assert counted and all(message.startswith(f"{MODEL}: ") for message in counted)
    assert len(counted) >= 5  # the answer took ~3 s: several reports while it arrived
    assert max(int(message.split(": ")[1].split()[0].replace(",", "")) for message in counted) <= len(ANSWER)
    assert len(heard) <= 4 * (heard[-1][0] - heard[0][0]) + 3  # about 4 a second at most, seen by the client


def test_ask_models_sends_one_rising_progress_naming_every_model(world: dict[str, Any]) -> None:
    world["anthropic"].enqueue_reply(ANSWER, event_delay=0.1)
    world["openai"].enqueue_reply("short and quick", delay=1.2, event_delay=0.05)
    result, heard = call_with_progress(world["client"], {"prompt": "both of you", "models": [MODEL, "gpt-4o"]}, "ask_models")
    assert not result.is_error, result.content
    assert [answer["reply"] for answer in result.structured_content["answers"]] == [ANSWER, "short and quick"]
    progress = [value for _, value, _ in heard]
    assert progress == sorted(progress) and len(set(progress)) == len(progress)
    messages = [message for _, _, message in heard]
    assert all(message.startswith(f"{MODEL}: ") and "; gpt-4o: " in message for message in messages)
    assert any("gpt-4o: waiting for the first token" in message for message in messages)
    assert any(message.endswith("gpt-4o: 15 characters") for message in messages)


def test_chat_without_a_progress_token_gets_no_progress_and_the_same_reply(world: dict[str, Any]) -> None:
    world["anthropic"].enqueue_reply("quiet answer", event_delay=0.05)
    assert world["client"].call("chat", prompt="no token", model=MODEL)["reply"] == "quiet answer"


@pytest.mark.parametrize("model, fake_name", [(MODEL, "anthropic"), ("gpt-4o", "openai"), ("gemini-2.5-flash", "gemini")])
def test_a_stream_cut_halfway_keeps_the_partial_answer_marked_incomplete(world: dict[str, Any], model: str, fake_name: str) -> None:
    fake: Any = world[fake_name]
    client: McpClient = world["client"]
    session_id = f"cut-{fake_name}"
    fake.enqueue_reply("The first answer.")
    assert client.call("chat", prompt="first question", model=model, session_id=session_id)["reply"] == "The first answer."
    pieces = fake.pieces(ANSWER)
    before = {"openai": 1, "anthropic": 3, "gemini": 0}[fake_name]
    fake.enqueue_reply(ANSWER, cut_after=before + len(pieces) // 2)
    partial = "".join(pieces[: len(pieces) // 2])
    error = client.error("chat", prompt="second question", model=model, session_id=session_id)
    assert "stopped mid-stream" in error and "connection lost" in error
    assert f"saved in session {session_id!r} with the partial answer ({len(partial):,} characters, marked incomplete)" in error
    messages = session_file(world["root"], session_id)["messages"]
    question, answer = messages[-2:]
    assert question["content"] == "second question" and question["extra"][FAILED_MARK]["model"] == model
    assert answer["role"] == "assistant" and answer["content"] == partial and answer["model"] == model
    assert "connection lost" in answer["extra"][INCOMPLETE_MARK]["reason"]
    assert answer["extra"][INCOMPLETE_MARK]["characters"] == len(partial)
    with sqlite3.connect(world["root"] / "index.sqlite") as db:  # one turn answered, one incomplete
        statuses = [row[0] for row in db.execute(
            "SELECT turn_status FROM messages WHERE session_id = ? ORDER BY position", (session_id,))]
    assert statuses == [None, "answered", None, "incomplete"]
    stats = run_script("sessions.py", "stats", "--root", str(world["root"]), "--by", "session", "--json")
    group = next(group for group in json.loads(stats.stdout)["groups"] if group["key"] == session_id)
    assert (group["turns"], group["answered"], group["incomplete"], group["failed"]) == (2, 1, 1, 0)
    markdown = world["client"].portal.call(lambda: client.session.read_resource(f"session://{session_id}"))
    assert "> incomplete answer: connection lost" in markdown.contents[0].text
    # The retry sends the first exchange and the new question only: no failed question, no half answer.
    fake.enqueue_reply("The second answer.")
    assert client.call("chat", prompt="second question again", model=model, session_id=session_id)["reply"] == "The second answer."
    sent = json.dumps(fake.last_body)
    assert "The first answer." in sent and "second question again" in sent
    assert partial[:40] not in sent and '"second question"' not in sent


def test_cancelling_the_call_stops_the_provider_and_keeps_the_partial_answer(world: dict[str, Any]) -> None:
    fake: FakeAnthropic = world["anthropic"]
    client: McpClient = world["client"]
    already = len(fake.requests)
    fake.enqueue_reply(ANSWER * 3, event_delay=0.2)  # ~20 s if left to finish
    pending = client.start("chat", prompt="a long one", model=MODEL, session_id="cancelled-call")
    request = wait_until(lambda: len(fake.requests) > already and fake.requests[-1].events_sent >= 8 and fake.requests[-1],
                         what="part of the answer streamed")
    cancelled_at = time.monotonic()
    pending.cancel()  # the SDK sends notifications/cancelled for the request
    wait_until(lambda: request.client_gone, timeout=10, what="the server closed the provider connection")
    assert request.events_sent < len(fake.pieces(ANSWER * 3))  # stopped well before the end
    saved = wait_until(lambda: (path := world["root"] / "sessions" / "cancelled-call.json").exists()
                       and len(session_file(world["root"], "cancelled-call")["messages"]) == 2,
                       timeout=10, what="the cancelled exchange saved")
    assert saved and time.monotonic() - cancelled_at < 10
    question, answer = session_file(world["root"], "cancelled-call")["messages"]
    assert question["content"] == "a long one" and question["extra"][FAILED_MARK]["error"] == "cancelled by the client"
    assert answer["extra"][INCOMPLETE_MARK]["reason"] == "cancelled by the client"
    assert answer["content"] and (ANSWER * 3).startswith(answer["content"])
    # The server is still fine for the next call.
    fake.enqueue_reply("after the cancel")
    assert client.call("chat", prompt="still there?", model=MODEL, session_id="cancelled-call")["reply"] == "after the cancel"


def test_cancelling_before_the_first_token_keeps_the_question_only(world: dict[str, Any]) -> None:
    fake: FakeOpenAI = world["openai"]
    client: McpClient = world["client"]
    already = len(fake.requests)
    fake.enqueue_reply("too late", delay=3.0)  # the answer would start after 3 s
    pending = client.start("chat", prompt="never answered", model="gpt-4o", session_id="cancelled-early")
    wait_until(lambda: len(fake.requests) > already, what="the request reached the provider")
    pending.cancel()
    path = world["root"] / "sessions" / "cancelled-early.json"
    wait_until(lambda: path.exists() and session_file(world["root"], "cancelled-early")["messages"], timeout=10,
               what="the cancelled question saved")
    (question,) = session_file(world["root"], "cancelled-early")["messages"]
    assert question["content"] == "never answered"
    assert question["extra"][FAILED_MARK]["error"] == "cancelled by the client"
    assert "incomplete_answer" not in question["extra"][FAILED_MARK]
