"""Compression end to end through a real adapter and the loopback OpenAI fake: the exact
requests on the wire (the summariser's and the compressed chat prompt) and the stored Summary.
"""

from __future__ import annotations

from pathlib import Path

import anyio

import server
from chat.compression import SUMMARISER_SYSTEM, SUMMARY_MAX_TOKENS, summariser_input
from adapters.openai_compat import OpenAICompatAdapter
from chat.prompt import transcript
from store import Message, SessionStore
from tests.chat_helpers import RecordingIndex, simple_estimate
from tests.fakes import FakeOpenAI
from tests.chat_helpers import chat_unified
from chat.prompt import output_reserve


def test_compressed_prompt_on_the_wire_and_summary_stored(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("LLM_SUMMARY_MODEL", raising=False)
    with FakeOpenAI() as fake:
        adapter = OpenAICompatAdapter(provider="openai", base_url=fake.base_url, api_key=fake.api_key)
        indexed: list[list[Path]] = []
        app = server.App(
            store=SessionStore(tmp_path / "root"),
            legacy_root=tmp_path / "legacy",
            resolve_adapter=lambda model: adapter,
            context_window=lambda model: 210,
            estimate_tokens=simple_estimate,
            index=RecordingIndex(indexed),
        )
        turns = [f"turn {i}: " + "lorem ipsum " * 8 for i in range(4)]
        sid = None
        for text in turns:
            fake.enqueue_reply(f"answer to {text[:6]}")
            sid = anyio.run(lambda: chat_unified(app, text, "gpt-4o-mini", sid, "You are terse."))["session_id"]
        assert sid is not None
        before = app.store.load(sid)
        assert before.summaries == [] and len(before.messages) == 9  # system + 4 exchanges
        fake.enqueue_reply("SUMMARY: four lorem turns, answered.")
        fake.enqueue_reply("final answer")
        result = anyio.run(lambda: chat_unified(app, "what did we cover?", "gpt-4o-mini", sid))
        assert result["reply"] == "final answer"
        assert "messages 1-7 were summarised by gpt-4o-mini" in result["warnings"][0]

        summariser_body, chat_body = (request.body for request in fake.requests[-2:])
        stored = app.store.load(sid)
        covered = [(i, stored.messages[i]) for i in range(1, 7)]
        # The summariser's window (210) is smaller than its answer reserve: chunks get the 256-token floor.
        chunk_chars = max(int((210 - SUMMARY_MAX_TOKENS) * 0.6), 256)
        assert summariser_body["messages"] == [
            {"role": "system", "content": SUMMARISER_SYSTEM},
            {"role": "user", "content": summariser_input(None, transcript(covered, chunk_chars * 3))},
        ]
        assert summariser_body["model"] == "gpt-4o-mini"
        assert chat_body["messages"] == [
            {
                "role": "system",
                "content": "You are terse.\n\nSummary of the earlier conversation (messages 1-7, written by gpt-4o-mini):\n"
                "SUMMARY: four lorem turns, answered.",
            },
            {"role": "user", "content": turns[3]},
            {"role": "assistant", "content": "answer to turn 3"},
            {"role": "user", "content": "what did we cover?"},
        ]
        (summary,) = stored.summaries
        assert summary.covers == (0, 6) and summary.model == "gpt-4o-mini"
        assert summary.text == "SUMMARY: four lorem turns, answered."
        assert len(stored.messages) == 11  # nothing removed from disk
        assert stored.messages[-1].content == "final answer" and stored.messages[-1].provider == "openai"


def test_a_summariser_that_ignores_max_tokens_still_converges(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The fake echoes the whole summariser input back (far over max_tokens, like a proxy that
    ignores it): the summary is summarised again with its exact room, then cut to fit."""
    from chat.compression import CUT_MARK, resummariser_input

    monkeypatch.delenv("LLM_SUMMARY_MODEL", raising=False)
    window = 260
    with FakeOpenAI() as fake:
        adapter = OpenAICompatAdapter(provider="openai", base_url=fake.base_url, api_key=fake.api_key)
        app = server.App(
            store=SessionStore(tmp_path / "root"),
            legacy_root=tmp_path / "legacy",
            resolve_adapter=lambda model: adapter,
            context_window=lambda model: window,
            estimate_tokens=simple_estimate,
        )
        sid = None
        for i in range(5):
            sid = anyio.run(lambda: chat_unified(app, f"turn {i}: " + "lorem ipsum " * 12, "gpt-4o-mini", sid))["session_id"]
        assert sid is not None
        result = anyio.run(lambda: chat_unified(app, "what did we cover?", "gpt-4o-mini", sid))
        assert result["reply"] == "echo: what did we cover?"
        assert "summarised by gpt-4o-mini, then cut to fit for this prompt" in result["warnings"][0]
        stored = app.store.load(sid)
        summary = stored.summaries[-1]
        assert summary.extra["method"] == "cut" and summary.text.endswith(CUT_MARK)
        assert summary.extra["summariser_calls"] >= 2
        bodies = [request.body for request in fake.requests]
        resummarised = [b for b in bodies if b["messages"][0]["content"] == SUMMARISER_SYSTEM and "This summary is too long" in b["messages"][1]["content"]]
        assert resummarised and resummarised[-1]["max_completion_tokens"] < SUMMARY_MAX_TOKENS  # asked for the room it had...
        room = resummarised[-1]["max_completion_tokens"]
        assert resummarised[-1]["messages"][1]["content"].startswith(resummariser_input("", room).split("Summary:")[0])
        # ...and every chat prompt sent fits the window minus the answer reserve.
        reserve = output_reserve(None, window)
        for body in bodies:
            if body["messages"][0]["content"] != SUMMARISER_SYSTEM:
                sent = [Message(role=m["role"], content=m["content"]) for m in body["messages"]]
                assert simple_estimate(sent) <= window - reserve
        assert any(summary.text in (m["content"] or "") for b in bodies for m in b["messages"][:1])
