"""How many tokens each model can take, and a cheap estimate of how many a conversation uses.

``context_window(model)``: the longest matching prefix in the config file's
``[context_windows]`` table, else the endpoint's ``context_window`` (custom endpoints), else
what the endpoint's ``GET /models`` said (when ``list_models`` fetched it), else the maintained
data (genai-prices, :mod:`adapters.model_data`), else the longest matching prefix of
:data:`CONTEXT_WINDOWS` (only what the data lacks: a test fails when an entry duplicates the
data), else :data:`DEFAULT_CONTEXT_WINDOW`.
Routing prefixes are looked through: ``openrouter/anthropic/claude-x`` is sized as
``claude-x``; ``ollama/<m>`` gets :data:`OLLAMA_CONTEXT_WINDOW` (Ollama's default window is
small whatever the model supports).

An alias from the config file is sized as the model it stands for.

``estimate_tokens(messages)``: a deliberately cheap heuristic, no tokenizer —
ASCII characters / 4 (English text and code average ~4 characters a token) plus 1 token per
non-ASCII character (CJK text is ~1 token a character; over-counting accented Latin is the
safe direction for a budget), rounded up per message, plus 4 tokens of overhead per message,
plus the tool calls' names and JSON arguments counted the same way, plus 800 tokens per image
part, plus the ``tokens`` recorded in an attached file's reference part. It errs high on purpose: a prompt that "fits" must really fit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

from store.schema import Message

from .config import ConfigError, load_config
from .message_memo import MessageMemo
from .model_data import cached_endpoint_window, data_context_window

DEFAULT_CONTEXT_WINDOW = 8192
OLLAMA_CONTEXT_WINDOW = 8192
MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 800

#: model-name prefix -> context window in tokens (longest matching prefix wins), consulted only
#: for names the maintained data (genai-prices) gives no window for: families and local models.
#: tests/adapters/test_model_data.py fails when an entry names a model the data already sizes.
CONTEXT_WINDOWS: dict[str, int] = {
    # Moonshot / Kimi
    "kimi-k2-0905": 262_144,
    "kimi-k2": 131_072,
    "kimi-latest": 131_072,
    "kimi-": 131_072,
    "moonshot-": 131_072,
    # OpenAI
    "gpt-": 128_000,
    "o4": 200_000,
    # Anthropic
    "claude-": 200_000,
    # Google
    "gemini-": 1_048_576,
    # DeepSeek
    "deepseek-": 128_000,
    # Common open models behind OpenAI-compatible endpoints
    "llama3.1": 131_072,
    "llama3": 8_192,
    "qwen": 32_768,
    "mistral": 32_768,
}


def _longest_prefix(model: str, table: dict[str, int]) -> int | None:
    best: str | None = None
    for prefix in table:
        if model.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return table[best] if best is not None else None


def context_window(model: str) -> int:
    """The context window (tokens) of ``model``; never raises (a broken config file is ignored here)."""
    try:
        config = load_config()
    except ConfigError:
        config = None
    if config is not None:
        target = config.aliases.get(model)
        if target and target != model and target not in config.aliases:
            model = target
        found = _longest_prefix(model, config.context_windows)
        if found:
            return found
        head, _, rest = model.partition("/")
        endpoint = config.endpoints.get(head) if rest else None
        if endpoint is not None and endpoint.context_window:
            return endpoint.context_window
        if endpoint is not None:
            listed = cached_endpoint_window(head, endpoint.base_url, model)
            if listed:
                return listed
    from_data = data_context_window(model)
    if from_data:
        return from_data
    head, _, rest = model.partition("/")
    if head == "ollama" and rest:
        return OLLAMA_CONTEXT_WINDOW
    if head == "openrouter" and rest:
        model = rest.split("/", 1)[-1]
    elif rest:
        model = rest
    return _longest_prefix(model, CONTEXT_WINDOWS) or DEFAULT_CONTEXT_WINDOW


def estimate_text_tokens(text: str) -> int:
    """Tokens in ``text`` by the module's heuristic (ASCII/4 + 1 per non-ASCII character, rounded up)."""
    if not text:
        return 0
    ascii_count = len(text.encode("ascii", "ignore"))
    return math.ceil(ascii_count / 4 + (len(text) - ascii_count))


def estimate_tokens(messages: Iterable[Message], system: str | None = None) -> int:
    """Estimated prompt tokens of ``messages`` (and an optional system prompt); see the module docstring.

    Each message's count is memoised on the message object (:mod:`adapters.message_memo`), so a
    turn counts only the messages it has not counted before.
    """
    total = estimate_text_tokens(system) + MESSAGE_OVERHEAD if system else 0
    return total + sum(map(counted_tokens, messages))


def message_tokens(message: Message) -> int:
    """Estimated tokens of one message, its overhead included (see the module docstring)."""
    total = MESSAGE_OVERHEAD
    content = message.content
    if isinstance(content, str):
        total += estimate_text_tokens(content)
    elif isinstance(content, list):
        for part in content:  # the schema guarantees dict parts
            if isinstance(part.get("text"), str):
                total += estimate_text_tokens(part["text"])
            elif part.get("type") == "file" and isinstance(part.get("tokens"), int):
                total += part["tokens"]  # an attached file: its estimate was stored with the reference
            elif part.get("type") in ("image_url", "image"):
                total += IMAGE_TOKENS
            else:
                total += estimate_text_tokens(json.dumps(part, ensure_ascii=False))
    for call in message.tool_calls or []:
        arguments = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments, ensure_ascii=False)
        total += MESSAGE_OVERHEAD + estimate_text_tokens(call.name) + estimate_text_tokens(arguments)
    return total


def counted_tokens(message: Message) -> int:
    """:func:`message_tokens`, memoised per message object."""
    return _TOKENS.get(message, None, message_tokens)


_TOKENS: MessageMemo[int] = MessageMemo()
# estimate_tokens is a sum over the messages: chat.prompt.build_prompt counts incrementally.
estimate_tokens.per_message = counted_tokens  # type: ignore[attr-defined]
