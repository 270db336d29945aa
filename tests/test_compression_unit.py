"""Prompt building and compression (``adapters/prompt.py``, ``adapters/compression.py``) in-process.

The estimator here is a deliberately simple one (4 characters a token, 4 tokens a message) so
that the budgets in the tests can be reasoned about exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from adapters.base import ChatReply, ChatRequest
from adapters.compression import (
    SUMMARISER_SYSTEM,
    SUMMARY_MAX_TOKENS,
    choose_split,
    fit_prompt,
    summarise,
    summariser_input,
)
from adapters.errors import ProviderError
from adapters.prompt import (
    FAILED_MARK,
    NO_RESULT_TEXT,
    InvalidToolArgument,
    MAX_PROMPT_CHARS,
    PromptTooLarge,
    build_prompt,
    effective_system,
    latest_summary,
    output_reserve,
    repair_tool_pairs,
    summary_block,
    transcript,
    validate_chat_args,
)
from store.schema import Message, Session, Summary, ToolCall, Usage


def estimate(messages: Sequence[Message]) -> int:
    total = 0
    for message in messages:
        text = message.content if isinstance(message.content, str) else str(message.content or "")
        total += 4 + len(text) // 4
    return total


class RecordingSummariser:
    """An adapter answering each request with a fixed text, recording the requests."""

    provider = "recording"

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> ChatReply:
        self.requests.append(request)
        return ChatReply(text=self.replies.pop(0), model=request.model, provider=self.provider, usage=Usage(input_tokens=7, output_tokens=3))


def session_with(texts: Sequence[tuple[str, str]], **kwargs: object) -> Session:
    return Session(id="s1", messages=[Message(role=role, content=text) for role, text in texts], **kwargs)  # type: ignore[arg-type]


def test_validate_chat_args_accepts_and_refuses() -> None:
    assert validate_chat_args("hi", 0.5, 100) == "hi"
    for bad in ("", "   ", None):
        with pytest.raises(InvalidToolArgument, match="prompt is empty"):
            validate_chat_args(bad, None, None)
    with pytest.raises(InvalidToolArgument, match="over the limit"):
        validate_chat_args("x" * (MAX_PROMPT_CHARS + 1), None, None)
    with pytest.raises(InvalidToolArgument, match="temperature 3"):
        validate_chat_args("hi", 3, None)
    with pytest.raises(InvalidToolArgument, match="max_tokens 0"):
        validate_chat_args("hi", None, 0)


def test_build_prompt_uses_latest_system_and_skips_failed_turns() -> None:
    session = session_with([("system", "old"), ("user", "q1"), ("assistant", "a1"), ("system", "new"), ("user", "lost")])
    session.messages[-1].extra[FAILED_MARK] = {"error": "boom"}
    prompt = build_prompt(session, [Message(role="user", content="q2")], estimate=estimate)
    assert prompt.system == "new"
    assert [(m.role, m.content) for m in prompt.messages] == [("user", "q1"), ("assistant", "a1"), ("user", "q2")]
    assert prompt.estimated_tokens == estimate([*prompt.messages, Message(role="system", content="new")])
    override = build_prompt(session, [Message(role="user", content="q2")], estimate=estimate, system_override="mine")
    assert override.system == "mine"
    assert effective_system([]) is None


def test_build_prompt_puts_summary_after_system_and_drops_covered_turns() -> None:
    session = session_with([("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2")])
    session.summaries.append(Summary(covers=(0, 1), text="they said hi", model="m-sum"))
    prompt = build_prompt(session, [Message(role="user", content="q3")], estimate=estimate, system_override="sys")
    assert prompt.system == "sys\n\nSummary of the earlier conversation (messages 1-2, written by m-sum):\nthey said hi"
    assert [m.content for m in prompt.messages] == ["q2", "a2", "q3"]
    assert prompt.summary is session.summaries[0]


def test_latest_summary_is_the_one_covering_most() -> None:
    session = session_with([("user", "x")] * 6)
    assert latest_summary(session) is None
    session.summaries = [Summary(covers=(0, 3), text="b", model="m"), Summary(covers=(0, 1), text="a", model="m")]
    assert latest_summary(session).text == "b"  # type: ignore[union-attr]


def test_repair_tool_pairs_fills_missing_results_and_demotes_orphans() -> None:
    call = ToolCall(id="c1", name="get_weather", arguments={"city": "Paris"})
    messages = [
        Message(role="user", content="weather?"),
        Message(role="assistant", content=None, tool_calls=[call]),
        Message(role="user", content="never mind"),
        Message(role="tool", tool_call_id="zz", name="grep", content="3 hits"),
        Message(role="assistant", content="", tool_calls=[ToolCall(id="c2", name="ls", arguments={})]),
        Message(role="tool", tool_call_id="c2", name="ls", content="a.py"),
    ]
    repaired = repair_tool_pairs(messages)
    assert [(m.role, m.tool_call_id, m.content) for m in repaired] == [
        ("user", None, "weather?"),
        ("assistant", None, None),
        ("tool", "c1", NO_RESULT_TEXT),
        ("user", None, "never mind"),
        ("user", None, "[result of grep]\n3 hits"),
        ("assistant", None, ""),
        ("tool", "c2", "a.py"),
    ]
    dangling = repair_tool_pairs([Message(role="assistant", tool_calls=[call])])
    assert dangling[-1].tool_call_id == "c1" and dangling[-1].name == "get_weather"


def test_transcript_numbers_messages_and_shows_tool_calls() -> None:
    items = [
        (0, Message(role="user", content="hello " * 5)),
        (1, Message(role="assistant", model="gpt-4o", content=None, tool_calls=[ToolCall(id="c", name="f", arguments={"b": 1, "a": "é"})])),
        (2, Message(role="tool", name="f", tool_call_id="c", content="done")),
    ]
    assert transcript(items, max_chars_per_message=10) == (
        "[1] user: hello hell [...truncated]\n"
        "[2] assistant (gpt-4o):\n"
        '    called tool f with {"a": "é", "b": 1}\n'
        "[3] tool result (f): done"
    )


def test_output_reserve() -> None:
    assert output_reserve(100, 8000) == 100
    assert output_reserve(None, 8000) == 2000
    assert output_reserve(None, 1_000_000) == 4096


def test_choose_split_keeps_recent_turns_within_half_budget() -> None:
    text = "x" * 36  # 4 + 9 = 13 tokens a message
    session = session_with([("user", text), ("assistant", text)] * 5)
    pending = [Message(role="user", content=text)]
    # budget 100 -> keep at most 50: pending 13 + two messages (26) = 39, + third = 52 > 50
    assert choose_split(session, pending, budget=100, estimate=estimate) == 8
    # Nothing fits: summarise every stored turn.
    assert choose_split(session, pending, budget=10, estimate=estimate) == 10
    assert choose_split(Session(id="e"), pending, budget=10, estimate=estimate) is None
    # Only a cut before a user message is allowed.
    assistant_heavy = session_with([("user", "q"), ("assistant", text), ("assistant", text)])
    assert choose_split(assistant_heavy, pending, budget=200, estimate=estimate) == 3


def test_fit_prompt_without_compression_does_not_call_summariser() -> None:
    session = session_with([("user", "q1"), ("assistant", "a1")])

    def summariser() -> object:
        raise AssertionError("not needed")

    result = anyio.run(
        lambda: fit_prompt(
            session, [Message(role="user", content="q2")], model="m", window=1000, reserve=100,
            estimate=estimate, summariser=summariser,  # type: ignore[arg-type]
        )
    )
    assert result.summary is None
    assert [m.content for m in result.prompt.messages] == ["q1", "a1", "q2"]


def test_fit_prompt_summarises_oldest_turns_and_folds_previous_summary() -> None:
    text = "y" * 36
    session = session_with([("system", "be brief")] + [("user", f"q{i} {text}") if i % 2 == 0 else ("assistant", f"a{i} {text}") for i in range(8)])
    session.summaries.append(Summary(covers=(0, 2), text="earlier stuff", model="sum-model"))
    adapter = RecordingSummariser(["NEW SUMMARY"])
    pending = [Message(role="user", content="latest question")]
    result = anyio.run(
        lambda: fit_prompt(
            session, pending, model="m", window=120, reserve=20, estimate=estimate,
            summariser=lambda: (adapter, "sum-model", 4000),
        )
    )
    summary = result.summary
    assert summary is not None and summary.covers == (0, 6) and summary.text == "NEW SUMMARY"
    assert summary.model == "sum-model"
    assert summary.extra == {"summariser_calls": 1, "usage": {"input_tokens": 7, "output_tokens": 3}}
    # The summariser saw the previous summary and exactly the turns after it, up to the cut.
    (request,) = adapter.requests
    assert request.system == SUMMARISER_SYSTEM and request.max_tokens == SUMMARY_MAX_TOKENS
    expected_items = [(i, session.messages[i]) for i in range(3, 7)]
    assert request.messages[0].content == summariser_input("earlier stuff", transcript(expected_items, (int((4000 - SUMMARY_MAX_TOKENS) * 0.6)) * 3))
    assert result.prompt.system == "be brief\n\n" + summary_block(summary)
    assert [m.content for m in result.prompt.messages] == [f"q6 {text}", f"a7 {text}", "latest question"]
    assert session.summaries[-1].text == "earlier stuff"  # the caller stores the new one


def test_summarise_in_chunks_when_transcript_exceeds_summariser_window() -> None:
    items = [(i, Message(role="user", content="z" * 4000)) for i in range(3)]
    adapter = RecordingSummariser(["one", "two", "three"])
    summary = anyio.run(lambda: summarise(adapter, "s", None, items, window=SUMMARY_MAX_TOKENS + 2000, estimate=estimate))
    assert summary.text == "three" and summary.covers == (0, 2)
    assert len(adapter.requests) == 3
    assert "Summary so far:\none" in adapter.requests[1].messages[0].content  # type: ignore[operator]
    assert summary.extra["summariser_calls"] == 3


def test_empty_summary_is_a_provider_error() -> None:
    adapter = RecordingSummariser(["  "])
    with pytest.raises(ProviderError, match="empty summary"):
        anyio.run(lambda: summarise(adapter, "s", None, [(0, Message(role="user", content="a"))], window=5000, estimate=estimate))


def test_prompt_too_large_even_after_compression() -> None:
    session = session_with([("user", "q"), ("assistant", "a")])
    adapter = RecordingSummariser(["s"])
    huge = [Message(role="user", content="w" * 4000)]
    with pytest.raises(PromptTooLarge, match="context window of 100"):
        anyio.run(lambda: fit_prompt(session, huge, model="m", window=100, reserve=10, estimate=estimate, summariser=lambda: (adapter, "m", 5000)))
    with pytest.raises(PromptTooLarge, match="larger context window"):
        anyio.run(lambda: fit_prompt(Session(id="e"), huge, model="m", window=100, reserve=10, estimate=estimate, summariser=lambda: (adapter, "m", 5000)))
