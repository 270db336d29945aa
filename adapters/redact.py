"""The one place that removes secrets (API keys) from text before it reaches an error or a log.

``redact(text, secrets)`` replaces, in this order:

1. every explicit secret passed in, and the value of every environment variable whose name
   looks secret (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``; values of 8+ characters) —
   including an 8-character head or tail of a long secret, because providers echo keys
   partially masked (``sk-abc123...wxyz``);
2. well-known key shapes even when their value is unknown: ``sk-...`` (OpenAI, Anthropic,
   Moonshot, DeepSeek, OpenRouter), ``AIza...`` (Google), ``Bearer <token>``, and
   ``key=``/``api_key=`` query parameters.

Every adapter builds its error messages through :func:`redact`; :class:`RedactingFilter` does
the same for log records (install it on a handler). :func:`scrub_reply` cleans a model's reply
(whole key values only) on every path that stores or returns one: both chat paths of
``server.py`` and the summariser of ``chat/compression.py``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping

from adapters.base import ChatReply

REDACTED = "[REDACTED]"
_SECRET_NAME = re.compile(r"(_API_KEY|_TOKEN|_SECRET|_ACCESS_KEY)$", re.IGNORECASE)
_MIN_SECRET = 8
_FRAGMENT = 8
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bsk-[A-Za-z0-9_*.\-]{6,}"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9_\-.~+/=*]{6,}"), r"\1 " + REDACTED),
    (re.compile(r"(?i)([?&](?:key|api_key|apikey|access_token)=)[^&\s\"']+"), r"\1" + REDACTED),
    (re.compile(r"(?i)((?:x-api-key|x-goog-api-key|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9_\-.*]{8,}"), r"\1" + REDACTED),
)


def env_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of environment variables whose names look secret (``*_API_KEY`` etc.)."""
    env = os.environ if environ is None else environ
    return [value for name, value in env.items() if _SECRET_NAME.search(name) and len(value) >= _MIN_SECRET]


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with every secret (explicit, from the environment, or key-shaped) replaced."""
    if not text:
        return text
    values = {s for s in secrets if s and len(s) >= 4} | set(env_secrets())
    # Longest first so a key is replaced whole before any of its fragments.
    for secret in sorted(values, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for secret in values:
        if len(secret) >= 2 * _FRAGMENT:
            text = text.replace(secret[:_FRAGMENT], REDACTED).replace(secret[-_FRAGMENT:], REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_secrets_deep(value: object, secrets: Iterable[str | None] = ()) -> object:
    """``value`` (str, list, dict, nested) with every whole secret value replaced.

    Only exact values are replaced (explicit ``secrets`` and the secret-looking environment
    variables, see :func:`env_secrets`), never key-shaped patterns: it is meant for model
    replies, whose text may legitimately show code such as ``api_key = ...``. Used on every
    reply before it is stored or returned, so a provider echoing a key cannot persist it.
    """
    values = sorted({s for s in secrets if s and len(s) >= 4} | set(env_secrets()), key=len, reverse=True)
    if not values:
        return value

    def walk(item: object) -> object:
        if isinstance(item, str):
            for secret in values:
                if secret in item:
                    item = item.replace(secret, REDACTED)
            return item
        if isinstance(item, list):
            return [walk(element) for element in item]
        if isinstance(item, dict):
            return {walk(key): walk(element) for key, element in item.items()}
        return item

    return walk(value)


def adapter_key(adapter: object) -> str | None:
    """The API key an adapter sends (to redact it wherever it might appear), if any."""
    inner = getattr(adapter, "adapter", adapter)  # a registry ResolvedModel wraps the adapter
    key = getattr(inner, "api_key", None)
    return key if isinstance(key, str) else None


def scrub_reply(reply: ChatReply, adapter: object = None) -> ChatReply:
    """The reply with every API key value replaced by ``[REDACTED]``.

    Keys are the adapter's own (whatever variable it came from, e.g. a custom endpoint's
    ``api_key_env``) and every secret-looking environment variable. A provider may echo the
    key (in the text, the usage details, reasoning fields); nothing of it may reach a session
    file, the index or a tool result. Returns ``reply`` itself when nothing was replaced.
    """
    data = reply.model_dump()
    cleaned = redact_secrets_deep(data, [adapter_key(adapter)])
    return reply if cleaned == data else ChatReply.model_validate(cleaned)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets from each record's final message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self._secrets)
        record.args = None
        return True
