"""Cost per turn: the real adapters against the loopback fakes, priced by genai-prices.

Each expected price is genai-prices' own calculation on the exact usage body the fake sent
(``extract_usage`` + ``calc_price`` at the stored message's time), so the test fails if the
server loses a usage field (cache reads, thinking tokens) or prices the wrong model/provider.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import genai_prices
import pytest

import server
from chat.pricing import PRICED_PROVIDERS, cost_usd, price_data_version
from store import Message, Session, Usage, total_cost
from tests.mcp_helpers import call
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI
from tests.chat_helpers import chat_unified

OPENAI_BODY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "four"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 12_000,
        "completion_tokens": 800,
        "total_tokens": 12_800,
        "prompt_tokens_details": {"cached_tokens": 8_000},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}
ANTHROPIC_BODY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "four"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 1_500,
        "output_tokens": 600,
        "cache_read_input_tokens": 20_000,
        "cache_creation_input_tokens": 3_000,
    },
}
GEMINI_BODY = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "four"}]}, "finishReason": "STOP", "index": 0}],
    "usageMetadata": {
        "promptTokenCount": 5_000,
        "candidatesTokenCount": 400,
        "thoughtsTokenCount": 2_000,
        "totalTokenCount": 7_400,
    },
    "modelVersion": "gemini-2.5-flash",
}


@pytest.fixture()
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name in ("LLM_MCP_CONFIG", "LLM_SUMMARY_MODEL", "OLLAMA_BASE_URL", "OLLAMA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    # Ollama gets a fake of its own: sharing the OpenAI one, concurrent ask_models calls race
    # for its scripted replies and gpt-4o may be answered by the default echo instead.
    with FakeOpenAI() as openai, FakeAnthropic() as anthropic, FakeGemini() as gemini, FakeOpenAI() as ollama:
        for fake, prefix in ((openai, "OPENAI"), (anthropic, "ANTHROPIC"), (gemini, "GEMINI"), (ollama, "OLLAMA")):
            for key, value in fake.env(prefix).items():
                monkeypatch.setenv(key, value)
        yield {"openai": openai, "anthropic": anthropic, "gemini": gemini, "ollama": ollama}


def expected_cost(body: dict[str, Any], provider_id: str, model: str, message: Message, flavor: str) -> float:
    extracted = genai_prices.extract_usage(body, provider_id=provider_id, api_flavor=flavor)
    price = genai_prices.calc_price(extracted.usage, model, provider_id=provider_id, genai_request_timestamp=message.created_at)
    return float(price.total_price)


CASES = [
    ("openai", "gpt-4o", OPENAI_BODY, "openai", "chat"),
    ("anthropic", "claude-sonnet-4-5", ANTHROPIC_BODY, "anthropic", "default"),
    ("gemini", "gemini-2.5-flash", GEMINI_BODY, "google", "default"),
]


@pytest.mark.parametrize(("fake_name", "model", "body", "provider_id", "flavor"), CASES, ids=[case[0] for case in CASES])
def test_cost_of_a_turn_matches_genai_prices(
    tmp_path: Path, fakes: dict[str, Any], fake_name: str, model: str, body: dict[str, Any], provider_id: str, flavor: str
) -> None:
    fakes[fake_name].enqueue(body)
    app = server.default_app(tmp_path / "root", tmp_path / "legacy")
    tools = server.build_server(app)
    result = call(tools, "chat", **{"prompt": "2+2?", "model": model})
    answer = app.store.load(result["session_id"]).messages[-1]
    expected = expected_cost(body, provider_id, model, answer, flavor)
    assert expected > 0
    assert answer.usage is not None and answer.usage.cost_usd == expected
    assert result["usage"]["cost_usd"] == expected
    # The session's total, in both listings, and the index row.
    listed = call(tools, "list_sessions")["sessions"][0]
    assert (listed["cost_usd"], listed["unpriced_answers"]) == (expected, 0)
    page = call(tools, "get_session", **{"session_id": result["session_id"]})
    assert (page["cost_usd"], page["unpriced_answers"]) == (expected, 0)
    with sqlite3.connect(tmp_path / "root" / "index.sqlite") as conn:
        rows = conn.execute("SELECT role, cost_usd, turn_status, turn_model, turn_provider FROM messages ORDER BY position").fetchall()
    assert rows == [("user", None, None, None, None), ("assistant", expected, "answered", model, fake_name)]


def test_cache_and_thinking_tokens_change_the_price() -> None:
    """The usage fields the adapters keep in ``extra`` are priced: dropping them changes the cost."""
    at = Message(role="assistant").created_at
    full = Usage(input_tokens=1_500, output_tokens=600, extra={"cache_read_input_tokens": 20_000})
    bare = Usage(input_tokens=1_500, output_tokens=600)
    assert cost_usd("anthropic", "claude-sonnet-4-5", full, at) != cost_usd("anthropic", "claude-sonnet-4-5", bare, at)
    thinking = Usage(input_tokens=5_000, output_tokens=400, extra={"thoughtsTokenCount": 2_000})
    plain = Usage(input_tokens=5_000, output_tokens=400)
    assert cost_usd("gemini", "gemini-2.5-flash", thinking, at) > cost_usd("gemini", "gemini-2.5-flash", plain, at)  # type: ignore[operator]


def test_gpt_4o_by_hand() -> None:
    """An independent check of one price: gpt-4o is $2.50 in / $10 out per million tokens."""
    at = Message(role="assistant").created_at
    model = genai_prices.data_snapshot.get_snapshot().find_provider_model("gpt-4o", None, "openai", None)[1]
    price = model.prices if not isinstance(model.prices, list) else model.prices[-1].prices
    assert (price.input_mtok, price.output_mtok) == (2.5, 10)  # the snapshot this test was written against
    assert cost_usd("openai", "gpt-4o", Usage(input_tokens=1_000_000, output_tokens=100_000), at) == pytest.approx(3.5)


def test_unknown_price_is_null_never_a_guess(tmp_path: Path, fakes: dict[str, Any]) -> None:
    app = server.default_app(tmp_path / "root", tmp_path / "legacy")
    tools = server.build_server(app)
    fakes["openai"].enqueue_reply("hi", usage=(100, 10))
    unknown = call(tools, "chat", **{"prompt": "hello", "model": "gpt-unreleased-model"})
    assert unknown["usage"] == {"input_tokens": 100, "output_tokens": 10, "cost_usd": None}
    fakes["ollama"].enqueue_reply("local", usage=(100, 10))
    local = call(tools, "chat", **{"prompt": "hello", "model": "ollama/llama3.2", "session_id": unknown["session_id"]})
    assert local["usage"] == {"input_tokens": 100, "output_tokens": 10, "cost_usd": None}
    page = call(tools, "get_session", **{"session_id": unknown["session_id"]})
    assert (page["cost_usd"], page["unpriced_answers"]) == (None, 2)
    with sqlite3.connect(tmp_path / "root" / "index.sqlite") as conn:
        assert conn.execute("SELECT cost_usd FROM messages WHERE role = 'assistant'").fetchall() == [(None,), (None,)]


def test_a_reply_without_usage_has_no_cost(tmp_path: Path, fakes: dict[str, Any]) -> None:
    body = {**OPENAI_BODY}
    del body["usage"]
    fakes["openai"].enqueue(body)
    app = server.default_app(tmp_path / "root", tmp_path / "legacy")
    result = anyio.run(lambda: chat_unified(app, "2+2?", "gpt-4o"))
    assert result["usage"] == {"input_tokens": None, "output_tokens": None, "cost_usd": None}
    assert app.store.load(result["session_id"]).messages[-1].usage is None


@pytest.mark.parametrize(
    ("provider", "model", "usage"),
    [
        ("ollama", "llama3.2", Usage(input_tokens=10, output_tokens=5)),  # no price for local models
        ("my-endpoint", "gpt-4o", Usage(input_tokens=10, output_tokens=5)),  # custom endpoint: who knows its price
        ("openai", "gpt-4o", None),
        ("openai", "gpt-4o", Usage(output_tokens=5)),  # genai-prices needs the input count
        ("openai", "", Usage(input_tokens=10, output_tokens=5)),
        (None, "gpt-4o", Usage(input_tokens=10, output_tokens=5)),
    ],
)
def test_cost_is_none_when_it_cannot_be_known(provider: str | None, model: str, usage: Usage | None) -> None:
    assert cost_usd(provider, model, usage, Message(role="assistant").created_at) is None


def test_every_priced_provider_is_known_to_genai_prices() -> None:
    snapshot = genai_prices.data_snapshot.get_snapshot()
    for price_provider, shape in PRICED_PROVIDERS.values():
        provider = snapshot.find_provider(None, price_provider, None)
        assert shape.api_flavor in [extractor.api_flavor for extractor in provider.extractors or []]
    assert price_data_version() == genai_prices.__version__


def test_session_total_is_exact_and_counts_unpriced_answers() -> None:
    def answer(cost: float | None) -> Message:
        return Message(role="assistant", usage=Usage(cost_usd=cost) if cost is not None else None)

    session = Session(id="s", messages=[Message(role="user"), answer(0.1), answer(0.2), answer(None)])
    assert total_cost(session.messages) == (0.3, 1)  # 0.1 + 0.2 in floats would be 0.30000000000000004
    assert total_cost([Message(role="user"), answer(None)]) == (None, 1)
    assert total_cost([]) == (None, 0)


def test_each_ask_models_answer_carries_its_cost(tmp_path: Path, fakes: dict[str, Any]) -> None:
    fakes["openai"].enqueue(OPENAI_BODY)
    fakes["anthropic"].enqueue(ANTHROPIC_BODY)
    app = server.default_app(tmp_path / "root", tmp_path / "legacy")
    tools = server.build_server(app)
    answers = call(tools, "ask_models", **{"prompt": "2+2?", "models": ["gpt-4o", "claude-sonnet-4-5", "ollama/llama3.2"]})["answers"]
    for answer, (body, provider_id, flavor) in zip(answers, [(OPENAI_BODY, "openai", "chat"), (ANTHROPIC_BODY, "anthropic", "default")]):
        stored = app.store.load(answer["session_id"]).messages[-1]
        assert answer["error"] is None
        assert answer["usage"]["cost_usd"] == expected_cost(body, provider_id, answer["model"], stored, flavor) > 0
    assert answers[2]["usage"]["cost_usd"] is None  # a local model has no price



def test_load_prices_builds_the_bundled_table() -> None:
    from chat.pricing import load_prices
    from genai_prices import data_snapshot

    load_prices()
    assert data_snapshot._bundled_snapshot.cache_info().currsize == 1
    assert data_snapshot.get_snapshot().find_provider(None, "anthropic", None).id == "anthropic"
