"""The Anthropic and Gemini request bodies built in parts (adapters/turns.py, SentPrefixes, MessageMemo).

A turn converts only the messages it has not sent before; these tests check that what is sent
stays right when the conversation changes under the memos: consecutive turns, a session edited
by another writer, a provider switch with tool calls whose ids Anthropic cannot take (Kimi's
``functions.read:0``, repeated in every turn), a compressed prompt. Through the loopback fakes,
which reject what the real APIs reject (unpaired ``tool_use``/``tool_result``, bad or repeated
ids, empty text blocks, roles out of turn); hypothesis compares the bodies built with the memos
against bodies built from scratch with the whole-history algorithm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import server
from adapters import _convert as cv
from adapters import anthropic, gemini
from adapters.anthropic import AnthropicAdapter
from adapters.base import ChatRequest
from adapters.errors import AdapterError
from adapters.gemini import SKIP_SIGNATURE, GeminiAdapter
from adapters.openai_compat import OpenAICompatAdapter
from adapters.turns import TurnShape
from store.codec import encode_session
from store.schema import Message, ToolCall
from tests.chat_helpers import loopback_app, simple_estimate, unified_turn
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI

CLAUDE, GEMINI = "claude-sonnet-4-5", "gemini-2.5-flash"

# ----------------------------------------------------------------------------- TurnShape.join

_SHAPE = TurnShape("items", lambda item: "result" in item, {"text": "P"})
_PIECES = st.lists(
    st.tuples(st.sampled_from(["user", "model"]), st.lists(st.sampled_from([{"text": "a"}, {"result": 1}, {"text": "b"}]), max_size=3)),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(first=_PIECES, second=_PIECES)
def test_joined_parts_equal_the_parts_merged_at_once(first: list[Any], second: list[Any]) -> None:
    head, more = _SHAPE.merge(first), _SHAPE.merge(second)
    kept = repr((head, more))
    assert _SHAPE.join(head, more) == _SHAPE.merge(first + second)
    assert repr((head, more)) == kept  # neither part was modified (they are kept for later requests)


def test_merge_never_modifies_the_items_it_is_given() -> None:
    memoised = [{"text": "a"}]
    turns = _SHAPE.merge([("model", memoised), ("model", [{"text": "b"}])])
    assert turns == [{"role": "model", "items": [{"text": "a"}, {"text": "b"}]}] and memoised == [{"text": "a"}]
    assert _SHAPE.finish(turns)[0] == {"role": "user", "items": [{"text": "P"}]} and len(turns) == 1


# ----------------------------------------------------------------------------- through real turns


def _adapters(fake: FakeAnthropic | FakeGemini) -> dict[str, Any]:
    if isinstance(fake, FakeAnthropic):
        return {CLAUDE: AnthropicAdapter(base_url=fake.base_url, api_key=fake.api_key)}
    return {GEMINI: GeminiAdapter(base_url=fake.base_url, api_key=fake.api_key)}


def _turns_of(body: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(role, texts) of each turn of an Anthropic or Gemini body."""
    turns = body.get("messages") or body["contents"]
    return [(turn["role"], [item["text"] for item in turn.get("content") or turn["parts"] if "text" in item]) for turn in turns]


@pytest.fixture(params=["anthropic", "gemini"])
def fake(request: pytest.FixtureRequest) -> Any:
    with (FakeAnthropic() if request.param == "anthropic" else FakeGemini()) as started:
        yield started


def _model(fake: Any) -> str:
    return CLAUDE if isinstance(fake, FakeAnthropic) else GEMINI


def test_consecutive_turns_send_the_whole_conversation(tmp_path: Path, fake: Any) -> None:
    app = loopback_app(tmp_path / "root", _adapters(fake))
    model = _model(fake)
    sid = unified_turn(app, "one", model, None)["session_id"]
    unified_turn(app, "two", model, sid)
    unified_turn(app, "three", model, sid)
    bot = "assistant" if isinstance(fake, FakeAnthropic) else "model"
    assert _turns_of(fake.requests[-1].body) == [
        ("user", ["one"]), (bot, ["echo: one"]), ("user", ["two"]), (bot, ["echo: two"]), ("user", ["three"]),
    ]
    assert all(request.rejected is None for request in fake.requests)


def test_a_session_edited_by_another_writer_sends_the_edited_text(tmp_path: Path, fake: Any) -> None:
    app = loopback_app(tmp_path / "root", _adapters(fake))
    model = _model(fake)
    sid = unified_turn(app, "the original question", model, None)["session_id"]
    unified_turn(app, "two", model, sid)
    edited = app.store.load(sid).model_copy(deep=True)
    edited.messages[0] = edited.messages[0].model_copy(update={"content": "the EDITED question"})
    edited.messages[1] = edited.messages[1].model_copy(update={"content": "   "})  # now nothing to say: no empty block
    app.store.path_for(sid).write_bytes(encode_session(edited))
    unified_turn(app, "three", model, sid)
    texts = _turns_of(fake.requests[-1].body)
    assert texts[0] == ("user", ["the EDITED question", "two"])  # the emptied answer is dropped, its neighbours merge
    assert [t for _, ts in texts[1:] for t in ts] == ["echo: two", "three"]
    assert fake.requests[-1].rejected is None


def _tool_history() -> list[Message]:
    # Kimi numbers its calls per turn: the same id twice in the session, and a character Anthropic refuses.
    def call_turn(path: str) -> list[Message]:
        return [
            Message(role="assistant", content="", model="kimi-k2", tool_calls=[ToolCall(id="functions.read:0", name="read", arguments={"path": path})]),
            Message(role="tool", tool_call_id="functions.read:0", name="read", content=f"{path}: print(1)"),
        ]

    return [Message(role="user", content="read a.py"), *call_turn("a.py"), Message(role="assistant", content="it prints 1 "),
            Message(role="user", content="and b.py?"), *call_turn("b.py"), Message(role="assistant", content="also 1")]


def test_a_provider_switch_sends_each_wire_form_with_paired_safe_tool_ids(tmp_path: Path) -> None:
    with FakeOpenAI() as openai_fake, FakeAnthropic() as anthropic_fake, FakeGemini() as gemini_fake:
        adapters = {
            "gpt-4o": OpenAICompatAdapter(provider="openai", base_url=openai_fake.base_url, api_key=openai_fake.api_key),
            **_adapters(anthropic_fake), **_adapters(gemini_fake),
        }
        app = loopback_app(tmp_path / "root", adapters)
        session = app.store.create(model="gpt-4o")
        app.store.append_messages(session.id, _tool_history())
        for model in (CLAUDE, GEMINI, "gpt-4o", CLAUDE, GEMINI):
            result = unified_turn(app, f"now {model}?", model, session.id)
            assert result["reply"].startswith("echo: now"), result
        for fake in (anthropic_fake, gemini_fake):
            assert len(fake.requests) == 2 and all(request.rejected is None for request in fake.requests)
            first, second = (request.body for request in fake.requests)
            # The later request starts with the earlier one's turns (all but its last, the prompt).
            key = "messages" if fake is anthropic_fake else "contents"
            assert second[key][: len(first[key]) - 1] == first[key][:-1]
        body = anthropic_fake.requests[-1].body
        uses = [block for turn in body["messages"] for block in turn["content"] if block["type"] == "tool_use"]
        results = [block for turn in body["messages"] for block in turn["content"] if block["type"] == "tool_result"]
        ids = [use["id"] for use in uses]
        assert len(ids) == 2 and len(set(ids)) == 2 and all(cv.SAFE_ID.match(i) for i in ids)
        assert [r["tool_use_id"] for r in results] == ids
        assert body["tool_choice"] == {"type": "none"} and [t["name"] for t in body["tools"]] == ["read"]
        calls = [p for turn in gemini_fake.requests[-1].body["contents"] for p in turn["parts"] if "functionCall" in p]
        assert [c["thoughtSignature"] for c in calls] == [SKIP_SIGNATURE] * 2


def test_a_compressed_prompt_replaces_the_memoised_turns(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_SUMMARY_MODEL", raising=False)
    model = _model(fake)
    app = loopback_app(tmp_path / "root", _adapters(fake), window=210, estimate=simple_estimate)
    sid = None
    for number in range(4):
        fake.enqueue_reply(f"answer {number}")
        sid = unified_turn(app, f"turn {number}: " + "lorem ipsum " * 8, model, sid, "You are terse.")["session_id"]
    assert _turns_of(fake.requests[-1].body)[0] == ("user", ["turn 0: " + "lorem ipsum " * 8])
    fake.enqueue_reply("SUMMARY: four lorem turns.")
    fake.enqueue_reply("final answer")
    assert unified_turn(app, "what did we cover?", model, sid)["reply"] == "final answer"
    body = fake.requests[-1].body
    system = body.get("system") or body["systemInstruction"]["parts"][0]["text"]
    assert "SUMMARY: four lorem turns." in system and "You are terse." in system
    assert all("turn 0" not in text for _, texts in _turns_of(body) for text in texts)  # summarised away
    assert _turns_of(body)[-1] == ("user", ["what did we cover?"])


# ----------------------------------------------------------------------------- memoised == from scratch

_CALL_IDS = st.sampled_from(["c1", "functions.read:0", ""])  # unsafe, repeated and missing ids


@st.composite
def _history_messages(draw: st.DrawFn) -> Message:
    role = draw(st.sampled_from(["user", "assistant", "assistant", "tool", "system"]))
    calls = None
    if role == "assistant" and draw(st.booleans()):
        calls = [
            ToolCall(id=draw(_CALL_IDS), name=draw(st.sampled_from(["read", "grep.x"])), arguments={"n": 1},
                     extra=draw(st.sampled_from([{}, {"gemini": {"thoughtSignature": "sig"}}])))
            for _ in range(draw(st.integers(1, 2)))
        ]
    content = draw(st.sampled_from(["a", "", " ", None, "b "])) if role == "assistant" else draw(st.sampled_from(["q", " "]))
    return Message(role=role, content=content, tool_calls=calls, tool_call_id=draw(_CALL_IDS) if role == "tool" else None)


def _anthropic_from_scratch(history: list[Message]) -> dict[str, Any]:
    system, rest = cv.split_system(history, None)
    normalized = cv.normalize_history(rest)
    used: set[str] = set()
    ids: dict[str, str] = {}
    pieces = []
    for message in normalized:
        if message.role == "assistant" and message.tool_calls:
            ids = anthropic._unique_ids([call.id for call in message.tool_calls], used)
        pieces.append(("assistant" if message.role == "assistant" else "user", AnthropicAdapter._blocks(message, ids)))
    turns = cv.alternating_turns(pieces, items_key="content", is_result=lambda b: b["type"] == "tool_result",
                                 placeholder={"type": "text", "text": cv.CONTINUE_PLACEHOLDER})
    if turns[-1]["role"] == "assistant" and turns[-1]["content"][-1]["type"] == "text":
        turns[-1]["content"][-1]["text"] = turns[-1]["content"][-1]["text"].rstrip()
    return {"system": system, "messages": turns, "tools": cv.history_only_tools([], normalized)}


def _gemini_from_scratch(history: list[Message]) -> dict[str, Any]:
    system, rest = cv.split_system(history, None)
    normalized = cv.normalize_history(rest)

    def parts(message: Message) -> list[dict[str, Any]]:  # without the per-message signature, put back per turn below
        out = [dict(part) for part in GeminiAdapter._parts(message)]
        for part in out:
            if part.get("thoughtSignature") == SKIP_SIGNATURE:
                del part["thoughtSignature"]
        return out

    contents = cv.alternating_turns((("model" if m.role == "assistant" else "user", parts(m)) for m in normalized),
                                    items_key="parts", is_result=lambda p: "functionResponse" in p, placeholder={"text": cv.CONTINUE_PLACEHOLDER})
    for content in contents:
        first_call = next((p for p in content["parts"] if "functionCall" in p), None) if content["role"] == "model" else None
        if first_call is not None and "thoughtSignature" not in first_call:
            first_call["thoughtSignature"] = SKIP_SIGNATURE
    return {"system": system, "messages": contents, "tools": cv.history_only_tools([], normalized)}


def _sent(adapter: AnthropicAdapter | GeminiAdapter, history: list[Message]) -> dict[str, Any] | str:
    try:
        body = adapter.build_body(ChatRequest(model="m", messages=history))
    except AdapterError as error:
        return str(error)
    if isinstance(adapter, AnthropicAdapter):
        return {"system": body.get("system", ""), "messages": body["messages"], "tools": [t["name"] for t in body.get("tools", [])]}
    declared = body.get("tools", [{"functionDeclarations": []}])[0]["functionDeclarations"]
    system = body.get("systemInstruction", {"parts": [{"text": ""}]})["parts"][0]["text"]
    return {"system": system, "messages": body["contents"], "tools": [d["name"] for d in declared]}


def _expected(adapter: AnthropicAdapter | GeminiAdapter, history: list[Message]) -> dict[str, Any] | str:
    try:
        return (_anthropic_from_scratch if isinstance(adapter, AnthropicAdapter) else _gemini_from_scratch)(history)
    except AdapterError as error:
        return str(error)


@settings(max_examples=300, deadline=None)
@given(first=st.lists(_history_messages(), max_size=10), added=st.lists(_history_messages(), max_size=5),
       edit=st.integers(-1, 9), renamed=st.sampled_from(["c1", "functions.read:0", ""]), wire=st.sampled_from(["anthropic", "gemini"]))
def test_resumed_body_equals_the_body_built_from_scratch(
    first: list[Message], added: list[Message], edit: int, renamed: str, wire: str
) -> None:
    adapter = (AnthropicAdapter if wire == "anthropic" else GeminiAdapter)(base_url="http://127.0.0.1:9", api_key="k")
    for history in (first, first[:-1], [*first, *added], [*first, *added]):
        assert _sent(adapter, history) == _expected(adapter, history)
    # One earlier message re-read (another object): new text, or its tool calls' ids renamed.
    edited = [*first, *added]
    if 0 <= edit < len(edited):
        message = edited[edit]
        calls = [call.model_copy(update={"id": renamed}) for call in message.tool_calls or []] or None
        edited[edit] = message.model_copy(update={"content": "EDITED", "tool_calls": calls, "tool_call_id": message.tool_call_id and renamed})
    assert _sent(adapter, edited) == _expected(adapter, edited)
    assert _sent(adapter, [*edited, *added]) == _expected(adapter, [*edited, *added])


@pytest.mark.parametrize("wire", [AnthropicAdapter, GeminiAdapter])
def test_the_memos_do_not_keep_messages_alive(wire: type[AnthropicAdapter] | type[GeminiAdapter]) -> None:
    import gc
    import weakref

    adapter = wire(base_url="http://127.0.0.1:9", api_key="k")
    history = [Message(role="user", content="q"), Message(role="assistant", content="a"), Message(role="user", content="u")]
    adapter.build_body(ChatRequest(model="m", messages=history))
    watched = weakref.ref(history[0])
    del history
    gc.collect()
    assert watched() is not None  # its request is among the saved prefixes
    for slot in range(anthropic._SENT.slots):  # newer requests push it out; the per-message memo holds it weakly
        fresh = [Message(role="user", content=f"other {slot}"), Message(role="assistant", content="a"), Message(role="user", content="u")]
        adapter.build_body(ChatRequest(model="m", messages=fresh))
    gc.collect()
    assert watched() is None
