"""The per-message memos of a chat turn (adapters/message_memo.py) and the body encoding.

A turn converts and counts only the messages it has not seen; these tests check that what is
sent stays right when the conversation changes under the memo: a session edited by another
writer, a provider switch (the wire form depends on the provider), a compressed prompt. Each
asserts on the body the loopback fake received.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import server
from adapters._convert import normalize_history
from adapters.base import ChatRequest
from adapters.context_windows import estimate_tokens, message_tokens
from adapters.message_memo import MessageMemo
from adapters.openai_compat import OpenAICompatAdapter
from adapters.stream_assembly import OpenAIStream, StreamEventError
from chat.prompt import build_prompt, conversation_turns, effective_system, latest_summary, repair_tool_pairs, system_text
from adapters.wire_json import encode_body
from store import SessionStore
from store.codec import encode_session
from store.schema import FAILED_MARK, Message, Session, Summary, ToolCall
from tests.chat_helpers import loopback_app, simple_estimate, unified_turn
from tests.fakes import FakeOpenAI
from tests.chat_helpers import chat_unified

# ----------------------------------------------------------------------------- MessageMemo


def test_memo_computes_once_per_message_object_and_variant() -> None:
    memo: MessageMemo[str] = MessageMemo()
    calls: list[str] = []

    def compute(message: Message) -> str:
        calls.append(str(message.content))
        return f"<{message.content}>"

    first = Message(role="user", content="a")
    assert memo.get(first, "openai", compute) == "<a>"
    assert memo.get(first, "openai", compute) == "<a>"
    assert memo.get(first, "deepseek", compute) == "<a>"  # another variant: computed again
    twin = first.model_copy()  # equal, but another object (e.g. a re-read file): computed again
    assert twin == first and memo.get(twin, "openai", compute) == "<a>"
    assert calls == ["a", "a", "a"]


def test_memo_entry_goes_with_its_message() -> None:
    memo: MessageMemo[int] = MessageMemo()
    message = Message(role="user", content="short-lived")
    memo.get(message, None, message_tokens)
    assert len(memo) == 1
    del message
    gc.collect()
    assert len(memo) == 0
    memo.get(Message(role="user", content="x"), None, message_tokens)
    memo.clear()
    assert len(memo) == 0


def test_memoised_estimate_equals_the_per_message_sum() -> None:
    messages = [
        Message(role="user", content="hello 世界"),
        Message(role="assistant", content=None, tool_calls=[ToolCall(id="c1", name="read", arguments={"path": "a.py"})]),
        Message(role="tool", tool_call_id="c1", content=[{"type": "text", "text": "print(1)"}, {"type": "image_url", "image_url": {"url": "x"}}]),
    ]
    expected = sum(message_tokens(message) for message in messages)
    assert estimate_tokens(messages) == expected == estimate_tokens(messages)  # the second from the memo
    assert estimate_tokens(messages, "be brief") == expected + estimate_tokens([], "be brief")


def test_normalize_history_passes_unchanged_messages_through() -> None:
    call = ToolCall(id="c1", name="read", arguments={})
    history = [
        Message(role="user", content="q"),
        Message(role="assistant", content=None, tool_calls=[call]),
        Message(role="tool", tool_call_id="c1", name="read", content="r"),
        Message(role="assistant", content="done"),
    ]
    normalized = normalize_history(history)
    assert all(out is given for out, given in zip(normalized, history, strict=True))
    # What needs a change is copied (the input is never modified).
    nameless = [history[0], history[1], Message(role="tool", tool_call_id="c1", content="r")]
    fixed = normalize_history(nameless)
    assert fixed[2] is not nameless[2] and fixed[2].name == "read" and nameless[2].name is None
    twice = Message(role="assistant", content=None, tool_calls=[call, call])
    renamed = normalize_history([twice])
    assert renamed[0] is not twice and [c.id for c in renamed[0].tool_calls or []] == ["c1", "c1_1"]
    assert [c.id for c in twice.tool_calls or []] == ["c1", "c1"]


# ----------------------------------------------------------------------------- encode_body


def test_encode_body_gives_the_bytes_httpx_would_send() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "é 索引 \"q\"\n", "n": 1.5, "ok": True, "none": None}]}
    sent = httpx.Request("POST", "http://x", json=body).content
    assert encode_body(body) == sent
    # What orjson refuses is encoded by the standard library, as httpx does.
    huge = {"n": 2**70, 1: "int key"}
    assert encode_body(huge) == httpx.Request("POST", "http://x", json=huge).content
    assert json.loads(encode_body({"x": float("nan")})) == {"x": None}


# ----------------------------------------------------------------------------- through a real turn


def _app(root: Path, adapters: dict[str, OpenAICompatAdapter], window: int = 100_000, estimate: Any = estimate_tokens) -> server.App:
    return loopback_app(root, adapters, window, estimate)


def _turn(app: server.App, prompt: str, model: str, session_id: str | None) -> dict[str, Any]:
    return unified_turn(app, prompt, model, session_id)


def _sent(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return fake.requests[-1].body["messages"]


def test_consecutive_turns_send_the_whole_conversation(tmp_path: Path) -> None:
    with FakeOpenAI() as fake:
        app = _app(tmp_path / "root", {"gpt-4o": OpenAICompatAdapter(provider="openai", base_url=fake.base_url, api_key=fake.api_key)})
        sid = _turn(app, "one", "gpt-4o", None)["session_id"]
        _turn(app, "two", "gpt-4o", sid)
        _turn(app, "three", "gpt-4o", sid)
        assert _sent(fake) == [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "echo: one"},
            {"role": "user", "content": "two"},
            {"role": "assistant", "content": "echo: two"},
            {"role": "user", "content": "three"},
        ]


def test_a_session_edited_by_another_writer_sends_the_edited_text(tmp_path: Path) -> None:
    with FakeOpenAI() as fake:
        app = _app(tmp_path / "root", {"gpt-4o": OpenAICompatAdapter(provider="openai", base_url=fake.base_url, api_key=fake.api_key)})
        sid = _turn(app, "the original question", "gpt-4o", None)["session_id"]
        _turn(app, "two", "gpt-4o", sid)
        # Another writer (an editor, another process) rewrites the file: same message ids, new text.
        path = app.store.path_for(sid)
        edited = SessionStore(tmp_path / "root").load(sid)
        edited.messages[0] = edited.messages[0].model_copy(update={"content": "the EDITED question"})
        path.write_bytes(encode_session(edited))
        _turn(app, "three", "gpt-4o", sid)
        sent = _sent(fake)
        assert sent[0] == {"role": "user", "content": "the EDITED question"}
        assert [m["content"] for m in sent[1:]] == ["echo: the original question", "two", "echo: two", "three"]


def test_a_provider_switch_sends_each_providers_wire_form(tmp_path: Path) -> None:
    # DeepSeek wants the reasoning_content of tool-call turns sent back ("" when none was
    # recorded); OpenAI must not get it. The same stored message object is sent to both.
    with FakeOpenAI() as fake:
        adapters = {
            "gpt-4o": OpenAICompatAdapter(provider="openai", base_url=fake.base_url, api_key=fake.api_key),
            "deepseek-chat": OpenAICompatAdapter(provider="deepseek", base_url=fake.base_url, api_key=fake.api_key),
        }
        app = _app(tmp_path / "root", adapters)
        session = app.store.create(model="gpt-4o")
        app.store.append_messages(session.id, [
            Message(role="user", content="read a.py"),
            Message(role="assistant", content=None, model="gpt-4o", tool_calls=[ToolCall(id="c1", name="read", arguments={"path": "a.py"})]),
            Message(role="tool", tool_call_id="c1", name="read", content="print(1)"),
            Message(role="assistant", content="it prints 1", model="gpt-4o"),
        ])
        _turn(app, "and now?", "gpt-4o", session.id)
        assert "reasoning_content" not in _sent(fake)[1]
        _turn(app, "and with deepseek?", "deepseek-chat", session.id)
        assert _sent(fake)[1] == {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "read", "arguments": '{"path": "a.py"}'}}],
            "reasoning_content": "",
        }
        _turn(app, "back to openai", "gpt-4o", session.id)
        assert "reasoning_content" not in _sent(fake)[1]
        assert [m["role"] for m in _sent(fake)] == ["user", "assistant", "tool", "assistant"] + ["user", "assistant"] * 2 + ["user"]


def test_a_compressed_prompt_replaces_the_memoised_messages(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("LLM_SUMMARY_MODEL", raising=False)
    with FakeOpenAI() as fake:
        adapter = OpenAICompatAdapter(provider="openai", base_url=fake.base_url, api_key=fake.api_key)
        app = _app(tmp_path / "root", {"gpt-4o-mini": adapter}, window=210, estimate=simple_estimate)
        sid = None
        for number in range(4):
            fake.enqueue_reply(f"answer {number}")
            prompt = f"turn {number}: " + "lorem ipsum " * 8
            sid = anyio.run(lambda: chat_unified(app, prompt, "gpt-4o-mini", sid, "You are terse."))["session_id"]
        assert [m["content"] for m in _sent(fake)][:2] == ["You are terse.", "turn 0: " + "lorem ipsum " * 8]
        fake.enqueue_reply("SUMMARY: four lorem turns.")
        fake.enqueue_reply("final answer")
        _turn(app, "what did we cover?", "gpt-4o-mini", sid)
        sent = _sent(fake)
        assert sent[0]["role"] == "system" and "SUMMARY: four lorem turns." in sent[0]["content"]
        assert all("turn 0" not in str(message["content"]) for message in sent)  # summarised away
        assert sent[-1] == {"role": "user", "content": "what did we cover?"}


# ----------------------------------------------------------------------------- build_prompt's resumed folds

_ROLES = st.sampled_from(["user", "assistant", "tool", "system"])
_IDS = st.sampled_from(["c1", "c2", "c3"])


@st.composite
def _messages(draw: st.DrawFn) -> Message:
    role = draw(_ROLES)
    calls = None
    if role == "assistant" and draw(st.booleans()):
        calls = [ToolCall(id=draw(_IDS), name="read", arguments={}) for _ in range(draw(st.integers(1, 2)))]
    extra = {FAILED_MARK: {"error": "x"}} if role == "user" and draw(st.integers(0, 5)) == 0 else {}
    return Message(role=role, content=draw(st.sampled_from(["a", "b", "", "索引"])), tool_calls=calls,
                   tool_call_id=draw(_IDS) if role == "tool" else None, name="read" if role == "tool" else None, extra=extra)


def _shape(messages: list[Message]) -> list[tuple[Any, ...]]:
    return [(m.role, m.content, m.tool_call_id, m.name, [(c.id, c.name) for c in m.tool_calls or []]) for m in messages]


def _reference(session: Session, pending: list[Message]) -> tuple[list[tuple[Any, ...]], str | None]:
    summary = latest_summary(session)
    start = summary.covers[1] + 1 if summary else 0
    turns = [message for _, message in conversation_turns(session, start)] + [m for m in pending if m.role != "system"]
    return _shape(repair_tool_pairs(turns)), system_text(effective_system(session.messages), summary)


@settings(max_examples=150, deadline=None)
@given(
    first=st.lists(_messages(), max_size=12),
    added=st.lists(_messages(), max_size=6),
    edit=st.integers(-1, 11),
    summary_at=st.integers(-1, 8),
)
def test_resumed_prompt_equals_the_prompt_built_from_scratch(
    first: list[Message], added: list[Message], edit: int, summary_at: int
) -> None:
    pending = [Message(role="user", content="new")]
    before = Session(id="s-fold", messages=first)
    assert (_shape(build_prompt(before, pending, estimate=estimate_tokens).messages),
            build_prompt(before, pending, estimate=estimate_tokens).system) == _reference(before, pending)
    # The next turn: the same objects plus new ones; maybe one earlier message re-read (another
    # object, other text) and maybe a summary that moves the start.
    grown = [*first, *added]
    if 0 <= edit < len(grown):
        grown[edit] = grown[edit].model_copy(update={"content": "EDITED"})
    summaries = [Summary(covers=(0, summary_at), text="sum", model="m")] if 0 <= summary_at < len(grown) else []
    after = Session(id="s-fold", messages=grown, summaries=summaries)
    prompt = build_prompt(after, pending, estimate=estimate_tokens)
    assert (_shape(prompt.messages), prompt.system) == _reference(after, pending)
    assert prompt.estimated_tokens == estimate_tokens(prompt.messages, prompt.system)


# ----------------------------------------------------------------------------- build_body's resumed conversions

_CALL_IDS = st.sampled_from(["c1", "c2", ""])  # "" and repeats: renamed ids, counted across the history


@st.composite
def _history_messages(draw: st.DrawFn) -> Message:
    role = draw(st.sampled_from(["user", "assistant", "assistant", "tool"]))
    calls = None
    if role == "assistant" and draw(st.booleans()):
        calls = [ToolCall(id=draw(_CALL_IDS), name="read", arguments={"n": 1}) for _ in range(draw(st.integers(1, 2)))]
    return Message(role=role, content=draw(st.sampled_from(["a", "", None])) if role == "assistant" else "q",
                   tool_calls=calls, tool_call_id=draw(_CALL_IDS) if role == "tool" else None)


def _from_scratch(adapter: OpenAICompatAdapter, history: list[Message]) -> list[dict[str, Any]]:
    out = []
    for message in normalize_history(history):
        converted = adapter._message(message)
        if not (converted["role"] == "assistant" and not converted["content"] and "tool_calls" not in converted):
            out.append(converted)
    return out


@settings(max_examples=200, deadline=None)
@given(first=st.lists(_history_messages(), max_size=10), added=st.lists(_history_messages(), max_size=5),
       edit=st.integers(-1, 9), provider=st.sampled_from(["openai", "deepseek"]))
def test_resumed_body_equals_the_body_built_from_scratch(
    first: list[Message], added: list[Message], edit: int, provider: str
) -> None:
    adapter = OpenAICompatAdapter(provider=provider, base_url="http://127.0.0.1:9", api_key="k")
    for history in (first, first[:-1], [*first, *added]):
        assert adapter.build_body(ChatRequest(model="m", messages=history))["messages"] == _from_scratch(adapter, history)
    edited = [*first, *added]
    if 0 <= edit < len(edited):
        edited[edit] = edited[edit].model_copy(update={"content": "EDITED", "tool_calls": None})
    assert adapter.build_body(ChatRequest(model="m", messages=edited))["messages"] == _from_scratch(adapter, edited)


# ----------------------------------------------------------------------------- stream events

def test_stream_events_decode_fast_and_keep_what_only_python_json_reads() -> None:
    stream = OpenAIStream("openai")
    stream.feed("message", '{"choices": [{"delta": {"content": "hé"}}]}')
    # Beyond orjson (a 70-bit integer, NaN): decoded by the standard library as before.
    stream.feed("message", '{"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1180591620717411303424, "x": NaN}}')
    answer = stream.answer()
    assert answer["choices"][0]["message"]["content"] == "hé"
    assert answer["usage"]["prompt_tokens"] == 2**70 and answer["usage"]["x"] != answer["usage"]["x"]
    with pytest.raises(StreamEventError, match="not JSON"):
        stream.feed("message", "{broken")
