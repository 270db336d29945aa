"""Prompt building and compression (``chat/prompt.py``, ``chat/compression.py``) in-process.

The estimator here is a deliberately simple one (4 characters a token, 4 tokens a message) so
that the budgets in the tests can be reasoned about exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from adapters.base import ChatReply, ChatRequest
from chat.compression import (
    CUT_MARK,
    SUMMARISER_SYSTEM,
    Compression,
    SUMMARY_MAX_TOKENS,
    choose_split,
    fit_prompt,
    resummariser_input,
    summarise,
    summariser_input,
)
from adapters.errors import ProviderError
from chat.prompt import (
    FAILED_MARK,
    NO_RESULT_TEXT,
    build_prompt,
    effective_system,
    latest_summary,
    output_reserve,
    repair_tool_pairs,
    summary_block,
    transcript,
)
from chat.errors import InvalidToolArgument, PromptTooLarge
from chat.options import MAX_PROMPT_CHARS, TurnOptions, check_prompt
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


def test_turn_arguments_are_accepted_and_refused() -> None:
    assert check_prompt("hi") == "hi"
    assert TurnOptions.checked(temperature=0.5, max_tokens=100).max_tokens == 100
    for bad in ("", "   ", None):
        with pytest.raises(InvalidToolArgument, match="prompt is empty"):
            check_prompt(bad)
    with pytest.raises(InvalidToolArgument, match="over the limit"):
        check_prompt("x" * (MAX_PROMPT_CHARS + 1))
    with pytest.raises(InvalidToolArgument, match="temperature 3"):
        TurnOptions.checked(temperature=3)
    with pytest.raises(InvalidToolArgument, match="max_tokens 0"):
        TurnOptions.checked(max_tokens=0)


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
    assert summary.extra == {"method": "summarised", "summariser_calls": 1, "usage": {"input_tokens": 7, "output_tokens": 3}}
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


# ------------------------------------------------------------------------------ convergence


def _long_session(turns: int = 8, size: int = 36) -> Session:
    text = "y" * size
    return session_with([("system", "be brief")] + [("user", f"q{i} {text}") if i % 2 == 0 else ("assistant", f"a{i} {text}") for i in range(turns)])


def _fit(session: Session, adapter: RecordingSummariser, *, window: int = 120, reserve: int = 20, pending: str = "latest question") -> Compression:
    return anyio.run(
        lambda: fit_prompt(
            session, [Message(role="user", content=pending)], model="m", window=window, reserve=reserve, estimate=estimate,
            summariser=lambda: (adapter, "sum-model", 4000),
        )
    )


def test_a_summary_over_its_budget_is_summarised_again_with_the_room_it_has() -> None:
    adapter = RecordingSummariser(["L" * 2000, "SHORT"])
    result = _fit(_long_session(), adapter)
    summary = result.summary
    assert summary is not None and summary.text == "SHORT" and result.prompt.estimated_tokens <= 100
    assert summary.extra == {"method": "resummarised", "summariser_calls": 2, "usage": {"input_tokens": 14, "output_tokens": 6}}
    again = adapter.requests[1]
    assert again.system == SUMMARISER_SYSTEM and "L" * 2000 in again.messages[0].content  # type: ignore[operator]
    room = 100 - build_prompt(_long_session().model_copy(update={"summaries": [summary.model_copy(update={"text": ""})]}),
                              [Message(role="user", content="latest question")], estimate=estimate).estimated_tokens
    assert again.max_tokens == room and resummariser_input("L" * 2000, room) == again.messages[0].content


@pytest.mark.parametrize("second", ["M" * 1500, "   "])
def test_a_summary_still_too_long_is_cut_deterministically(second: str) -> None:
    results = [_fit(_long_session(), RecordingSummariser(["L" * 2000, second])) for _ in range(2)]
    summary = results[0].summary
    assert summary is not None and summary.text.endswith(CUT_MARK) and summary.extra["method"] == "cut"
    assert results[0].prompt.estimated_tokens <= 100
    assert summary.text == results[1].summary.text  # type: ignore[union-attr]
    source = second.strip() or "L" * 2000
    assert summary.extra["cut"] == {"kept_chars": len(summary.text) - len(CUT_MARK), "of_chars": len(source)}
    assert summary.text == source[: summary.extra["cut"]["kept_chars"]] + CUT_MARK
    longer = summary.model_copy(update={"text": source[: summary.extra["cut"]["kept_chars"] + 4] + CUT_MARK})
    session = _long_session()
    over = build_prompt(session.model_copy(update={"summaries": [longer]}), [Message(role="user", content="latest question")], estimate=estimate)
    assert over.estimated_tokens > 100  # the longest head that fits was kept


def test_recent_turns_that_leave_no_room_are_folded_into_the_summary() -> None:
    # A long system prompt: the recent turns kept verbatim leave no room for any summary.
    session = _long_session()
    session.messages[0] = Message(role="system", content="s" * 220)
    adapter = RecordingSummariser(["first", "L" * 900, "L" * 900])
    result = _fit(session, adapter)
    summary = result.summary
    assert summary is not None and summary.covers == (0, len(session.messages) - 1)
    assert summary.extra["folded_recent_turns"] is True and summary.extra["method"] == "cut"
    assert summary.extra["summariser_calls"] == 3
    assert [m.content for m in result.prompt.messages] == ["latest question"] and result.prompt.estimated_tokens <= 100


def test_whenever_the_new_message_fits_the_prompt_fits() -> None:
    methods: set[str] = set()
    for window in range(70, 200, 7):
        for pending in ("short", "p" * 150):
            alone = estimate([Message(role="user", content=pending), Message(role="system", content="be brief")])
            adapter = RecordingSummariser(["L" * 3000] * 4)  # ignores max_tokens, every time
            if alone > window - 20:
                with pytest.raises(PromptTooLarge):
                    _fit(_long_session(12), adapter, window=window, pending=pending)
                assert adapter.requests == []  # refused before any summariser call
                continue
            result = _fit(_long_session(12), adapter, window=window, pending=pending)
            assert result.prompt.estimated_tokens <= window - 20, (window, pending)
            methods.add(result.summary.extra["method"] if result.summary else "none")
    assert methods == {"none", "cut"}  # the summariser never obeyed: every compressed prompt was cut to fit


def test_a_summary_with_no_room_at_all_is_cut_to_nothing_and_the_prompt_still_fits() -> None:
    adapter = RecordingSummariser(["L" * 3000, "L" * 3000])
    result = _fit(_long_session(12), adapter, window=70, pending="p" * 150)
    summary = result.summary
    assert summary is not None and summary.text == "" and summary.covers == (0, 12)
    assert summary.extra["method"] == "cut" and summary.extra["cut"] == {"kept_chars": 0, "of_chars": 3000}
    assert result.prompt.system == "be brief" and [m.content for m in result.prompt.messages] == ["p" * 150]
    assert result.prompt.estimated_tokens <= 50
