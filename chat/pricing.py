"""What a reply cost in US dollars, from the price data of ``genai-prices`` (pydantic).

The prices are the snapshot bundled with the installed ``genai-prices`` package: nothing is
fetched at run time (upgrading the package updates them; see docs/cost-and-usage.md). A
reply's usage is handed back to genai-prices in its provider's own wire shape, so
genai-prices' extractor decides how each provider counts tokens (Anthropic's cache reads and
writes on top of ``input_tokens``, Gemini's thinking tokens billed as output, OpenAI's cached
prompt tokens...). The cost is ``None`` whenever it cannot be known: a provider or model
without a price (local Ollama models, custom endpoints, new model names), or a reply without
token counts. It is never estimated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import genai_prices

from adapters.model_data import DATA_PROVIDERS
from store.schema import Usage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WireUsage:
    """Where a provider's response carries its usage, and genai-prices' name for that shape."""

    root: str
    input_key: str
    output_key: str
    api_flavor: str


OPENAI_USAGE = WireUsage("usage", "prompt_tokens", "completion_tokens", "chat")
ANTHROPIC_USAGE = WireUsage("usage", "input_tokens", "output_tokens", "default")
GEMINI_USAGE = WireUsage("usageMetadata", "promptTokenCount", "candidatesTokenCount", "default")

#: Our provider name -> (genai-prices provider id, the wire shape of its usage). Providers not
#: listed (ollama, custom endpoints, in-process adapters) have no price: their cost is None.
#: The genai-prices provider ids are ``adapters.model_data.DATA_PROVIDERS`` (one table for
#: prices, windows and list_models).
PRICED_PROVIDERS: dict[str, tuple[str, WireUsage]] = {
    name: (DATA_PROVIDERS[name], shape)
    for name, shape in {
        "openai": OPENAI_USAGE,
        "moonshot": OPENAI_USAGE,
        "deepseek": OPENAI_USAGE,
        "openrouter": OPENAI_USAGE,
        "anthropic": ANTHROPIC_USAGE,
        "gemini": GEMINI_USAGE,
    }.items()
}


def load_prices() -> None:
    """Load the price table now (a server calls this at start-up, before freezing the GC).

    Otherwise the first priced answer pays for it (importing genai-prices and building its
    ~17,000 price objects takes a good fraction of a second), and those objects would stay
    in the collector's generations instead of the frozen start-up set.
    """
    genai_prices.data_snapshot.get_snapshot()


def price_data_version() -> str:
    """The installed genai-prices version, whose bundled snapshot the prices come from."""
    return genai_prices.__version__


def wire_usage(usage: Usage, shape: WireUsage) -> dict[str, Any]:
    """``usage`` rebuilt as the response body the provider sent (``{root: {...}}``).

    The adapters keep the provider's two token counts under our names and every other usage
    field verbatim in ``extra`` (see ``adapters._convert.usage_from``), so this is lossless.
    """
    raw: dict[str, Any] = dict(usage.extra)
    if usage.input_tokens is not None:
        raw[shape.input_key] = usage.input_tokens
    if usage.output_tokens is not None:
        raw[shape.output_key] = usage.output_tokens
    return {shape.root: raw}


def cost_usd(provider: str | None, model: str | None, usage: Usage | None, at: datetime) -> float | None:
    """The price of one reply in USD at time ``at``, or ``None`` when it is not known.

    ``provider`` is the adapter's provider name (``ChatReply.provider``), ``model`` the model
    name sent upstream (``ChatReply.model``), ``usage`` the reply's usage as stored.
    """
    if usage is None or provider is None or not model or provider not in PRICED_PROVIDERS:
        return None
    price_provider, shape = PRICED_PROVIDERS[provider]
    try:
        extracted = genai_prices.extract_usage(
            wire_usage(usage, shape), provider_id=price_provider, api_flavor=shape.api_flavor
        )
        price = genai_prices.calc_price(
            extracted.usage, model, provider_id=price_provider, genai_request_timestamp=at
        )
    except (LookupError, ValueError, TypeError, ArithmeticError) as exc:
        # No price for this model (or no usable token counts): unknown, never a guess.
        log.debug("no price for %s model %r: %s", provider, model, exc)
        return None
    return float(price.total_price)

