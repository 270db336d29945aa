"""The built-in providers of DESIGN.md's table: the model names each serves, its wire format,
its key and base-URL variables. Data only, so the registry, the model data and the error hints
all read it without importing one another."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

WireFormat = Literal["openai", "anthropic", "gemini"]
@dataclass(frozen=True)
class ProviderSpec:
    """One provider: how model names map to it and where its settings live."""

    name: str
    patterns: tuple[str, ...]
    wire_format: WireFormat
    key_variable: str | None
    key_required: bool
    base_url_variable: str | None
    default_base_url: str
    #: model name -> upstream model name, or None when this provider does not serve it
    match: Callable[[str], str | None]
    #: ask for streamed answers (``stream = false`` in the config file for an endpoint that cannot)
    stream: bool = True

    def base_url(self) -> str:
        value = os.environ.get(self.base_url_variable, "").strip() if self.base_url_variable else ""
        return (value or self.default_base_url).rstrip("/")

    def api_key(self) -> str | None:
        value = os.environ.get(self.key_variable, "").strip() if self.key_variable else ""
        return value or None


def _prefixes(*prefixes: str) -> Callable[[str], str | None]:
    return lambda model: model if model.startswith(prefixes) else None


def routed(head: str) -> Callable[[str], str | None]:
    def match(model: str) -> str | None:
        prefix = head + "/"
        rest = model[len(prefix):] if model.startswith(prefix) else ""
        return rest if rest.strip("/") else None

    return match


#: The providers of DESIGN.md's table, in lookup order.
BUILTIN_PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec("moonshot", ("kimi-*", "moonshot-*"), "openai", "MOONSHOT_API_KEY", True,
                 "MOONSHOT_BASE_URL", "https://api.moonshot.ai/v1", _prefixes("kimi-", "moonshot-")),
    ProviderSpec("openai", ("gpt-*", "o1*", "o3*", "o4*"), "openai", "OPENAI_API_KEY", True,
                 "OPENAI_BASE_URL", "https://api.openai.com/v1", _prefixes("gpt-", "o1", "o3", "o4")),
    ProviderSpec("anthropic", ("claude-*",), "anthropic", "ANTHROPIC_API_KEY", True,
                 "ANTHROPIC_BASE_URL", "https://api.anthropic.com", _prefixes("claude-")),
    ProviderSpec("gemini", ("gemini-*",), "gemini", "GEMINI_API_KEY", True,
                 "GEMINI_BASE_URL", "https://generativelanguage.googleapis.com", _prefixes("gemini-")),
    ProviderSpec("deepseek", ("deepseek-*",), "openai", "DEEPSEEK_API_KEY", True,
                 "DEEPSEEK_BASE_URL", "https://api.deepseek.com/v1", _prefixes("deepseek-")),
    ProviderSpec("openrouter", ("openrouter/<vendor>/<model>",), "openai", "OPENROUTER_API_KEY", True,
                 "OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1", routed("openrouter")),
    ProviderSpec("ollama", ("ollama/<model>",), "openai", "OLLAMA_API_KEY", False,
                 "OLLAMA_BASE_URL", "http://127.0.0.1:11434/v1", routed("ollama")),
)
