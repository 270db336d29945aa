"""Facts about models from maintained data: context window and price per million tokens.

Two sources, no hand-written table:

- the price data bundled with ``genai-prices`` (the same snapshot ``chat.pricing`` prices answers
  with), for the providers it covers (:data:`DATA_PROVIDERS`);
- ``GET {base_url}/models`` of an OpenAI-compatible endpoint (Ollama, llama.cpp, vLLM, the
  endpoints of the config file), fetched once per server life with a short timeout
  (:func:`endpoint_models`); a window is taken from the keys such servers use
  (``context_length``, ``context_window``, ``max_model_len``, ``meta.n_ctx_train``).

``adapters.context_windows`` sizes prompts from :func:`data_context_window` first; its own table
only covers what the data lacks.
"""

from __future__ import annotations

import functools
import logging
import threading
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)

#: Our provider name -> genai-prices' provider id.
DATA_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "moonshot": "moonshotai",
    "deepseek": "deepseek",
    "openrouter": "openrouter",
}
MODELS_TIMEOUT_SECONDS = 2.0


class ModelFacts(BaseModel):
    """One model as ``list_models`` shows it (``None``: not known)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    provider: str
    context_window: int | None = None
    input_usd_per_mtok: float | None = None
    output_usd_per_mtok: float | None = None
    key_set: bool = True


def _snapshot() -> Any:
    from genai_prices.data_snapshot import get_snapshot

    return get_snapshot()


@functools.cache
def _data_provider(data_id: str) -> Any:
    return next((provider for provider in _snapshot().providers if provider.id == data_id), None)


def _price(value: Any) -> float | None:
    return float(value) if isinstance(value, (Decimal, int, float)) else None


def _facts(model_name: str, provider: str, info: Any) -> ModelFacts:
    try:
        prices = info.get_prices(datetime.now(timezone.utc))
    except Exception:  # a conditional price the data cannot resolve without a request: no price shown
        prices = None
    return ModelFacts(
        model=model_name,
        provider=provider,
        context_window=info.context_window,
        input_usd_per_mtok=_price(getattr(prices, "input_mtok", None)),
        output_usd_per_mtok=_price(getattr(prices, "output_mtok", None)),
    )


@functools.lru_cache(maxsize=4096)
def lookup(provider: str, upstream: str) -> ModelFacts | None:
    """What the data says of ``upstream`` (the name sent to ``provider``), or None when it does not know it.

    Remembered per name (every turn asks for its model's window: the data's matching costs up to
    a few milliseconds for OpenRouter's 900 models). The result is shared: do not change it.
    """
    data_id = DATA_PROVIDERS.get(provider)
    data = _data_provider(data_id) if data_id else None
    if data is None or not upstream:
        return None
    info = data.find_model(upstream)
    return _facts(upstream, provider, info) if info is not None else None


def known_models(provider: str, accepts: Any, prefix: str = "") -> list[ModelFacts]:
    """The models the data lists for ``provider`` that ``accepts(name)`` routes to it, not deprecated.

    ``prefix`` is put before each name (``openrouter/``); names are the data's model ids.
    """
    data_id = DATA_PROVIDERS.get(provider)
    data = _data_provider(data_id) if data_id else None
    if data is None:
        return []
    found = []
    for info in data.models:
        name = prefix + info.id
        if info.deprecated or not accepts(name):
            continue
        found.append(_facts(name, provider, info))
    return found


# ------------------------------------------------------------------------------ GET /models

#: base URL -> the (model id, context window) pairs its ``GET /models`` listed; None: no list
_endpoint_cache: dict[str, list[tuple[str, int | None]] | None] = {}
_endpoint_lock = threading.Lock()


def _window_of(entry: dict[str, Any]) -> int | None:
    for key in ("context_length", "context_window", "max_model_len"):
        if isinstance(entry.get(key), int):
            return entry[key]
    meta = entry.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("n_ctx_train"), int):
        return meta["n_ctx_train"]
    return None


def _fetch(base_url: str, api_key: str | None) -> list[tuple[str, int | None]] | None:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(f"{base_url.rstrip('/')}/models", headers=headers, timeout=MODELS_TIMEOUT_SECONDS)
        response.raise_for_status()
        entries = response.json().get("data")
        return [(entry["id"], _window_of(entry)) for entry in entries if isinstance(entry, dict) and isinstance(entry.get("id"), str)]
    except (httpx.HTTPError, ValueError, AttributeError, TypeError) as exc:
        log.info("no model list from %s/models: %s", base_url, type(exc).__name__)
        return None


def endpoint_models(provider: str, base_url: str, api_key: str | None) -> list[ModelFacts] | None:
    """The models ``GET {base_url}/models`` lists (names prefixed ``provider/``), fetched once per
    server life; None when the endpoint cannot be reached or has no such list (then not retried)."""
    with _endpoint_lock:
        known = base_url in _endpoint_cache
        listed = _endpoint_cache.get(base_url)
    if not known:
        listed = _fetch(base_url, api_key)
        with _endpoint_lock:
            _endpoint_cache[base_url] = listed
    if listed is None:
        return None
    return [ModelFacts(model=f"{provider}/{name}", provider=provider, context_window=window) for name, window in listed]


def cached_endpoint_window(provider: str, base_url: str, model: str) -> int | None:
    """A window from an endpoint's model list if it was already fetched (never fetches)."""
    with _endpoint_lock:
        listed = _endpoint_cache.get(base_url)
    name = model.split("/", 1)[1] if model.startswith(provider + "/") else model
    return next((window for listed_name, window in listed or [] if listed_name == name), None)


def forget_endpoint_models() -> None:
    """Forget every fetched model list (tests; a server fetches once per life)."""
    with _endpoint_lock:
        _endpoint_cache.clear()


def data_context_window(model: str) -> int | None:
    """The context window the maintained data gives for ``model`` (a name as callers write it:
    ``gpt-4o``, ``openrouter/anthropic/claude-sonnet-4``), or None when it gives none."""
    from .providers import BUILTIN_PROVIDERS

    for spec in BUILTIN_PROVIDERS:
        upstream = spec.match(model)
        if not upstream:
            continue
        facts = lookup(spec.name, upstream)
        if facts is not None and facts.context_window:
            return facts.context_window
        if spec.name == "openrouter":  # sized as the vendor's own model when OpenRouter's entry has no window
            return data_context_window(upstream.split("/", 1)[-1]) if "/" in upstream else None
        return cached_endpoint_window(spec.name, spec.base_url(), model)
    return None
