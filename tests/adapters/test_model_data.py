"""Context windows and prices from maintained data (genai-prices, GET /models); the hand table only fills gaps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters import model_data
from adapters.context_windows import CONTEXT_WINDOWS, DEFAULT_CONTEXT_WINDOW, context_window
from adapters.model_data import data_context_window, endpoint_models, lookup
from tests.fakes import FakeOpenAI


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    model_data.forget_endpoint_models()
    yield
    model_data.forget_endpoint_models()


@pytest.mark.parametrize("name", sorted(CONTEXT_WINDOWS))
def test_no_hand_written_window_duplicates_the_data(name: str) -> None:
    # The data is asked first: an entry for a name it sizes is dead weight that would go stale.
    assert data_context_window(name) is None, f"{name!r} is sized by genai-prices' data: drop it from CONTEXT_WINDOWS"


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-4-5", "deepseek-chat", "kimi-k2-thinking"])
def test_prompt_fitting_uses_the_data(model: str) -> None:
    window = data_context_window(model)
    assert window and context_window(model) == window


def test_lookup_gives_prices_per_million_tokens() -> None:
    facts = lookup("openai", "gpt-4o-mini")
    assert facts is not None and facts.context_window == 128_000
    assert facts.input_usd_per_mtok == 0.15 and facts.output_usd_per_mtok == 0.6
    assert lookup("openai", "gpt-99-turbo-ultra") is None and lookup("ollama", "llama3") is None


def test_an_endpoint_list_is_fetched_once_and_sizes_its_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAI(api_key="k") as local:
        local.models = [{"id": "big-local", "max_model_len": 65_536}, {"id": "llama.cpp", "meta": {"n_ctx_train": 4096}}]
        config = tmp_path / "c.toml"
        config.write_text(f'[endpoints.mine]\nbase_url = "{local.base_url}"\napi_key_env = "MINE_KEY"\n', encoding="utf-8")
        monkeypatch.setenv("LLM_MCP_CONFIG", str(config))
        assert context_window("mine/big-local") == DEFAULT_CONTEXT_WINDOW  # not fetched yet: never fetched here
        listed = endpoint_models("mine", local.base_url, "k")
        assert [(m.model, m.context_window) for m in listed or []] == [("mine/big-local", 65_536), ("mine/llama.cpp", 4096)]
        assert endpoint_models("mine", local.base_url, "k") == listed
        assert len(local.requests) == 1 and local.requests[0].headers["authorization"] == "Bearer k"
        assert context_window("mine/big-local") == 65_536
    # An endpoint without a list (404 here: the fake has no models) is asked once, then left alone.
    with FakeOpenAI() as bare:
        assert endpoint_models("x", bare.base_url, None) is None
        assert endpoint_models("x", bare.base_url, None) is None and len(bare.requests) == 1
