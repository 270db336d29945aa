"""Provider adapters: one module per wire format, a registry, retries and key redaction.

Callers normally need only :func:`resolve` (model name -> ready adapter), the request/reply
shapes and the errors::

    from adapters import ChatRequest, resolve
    reply = await resolve("claude-sonnet-4-5").complete(ChatRequest(model="claude-sonnet-4-5", messages=[...]))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Adapter, ChatReply, ChatRequest, ToolSpec
    from .errors import AdapterError, ConfigError, MissingApiKey, ProviderError, UnknownModel
    from .registry import ProviderInfo, ResolvedModel, adapter_override, list_models, register_adapter, resolve

# Imported on first use (PEP 562): importing ``adapters.base`` (the shapes) must not load every
# provider module, httpx and the price tables; the server's first request needs none of them.
_HOMES = {
    **dict.fromkeys(("Adapter", "ChatReply", "ChatRequest", "ToolSpec"), "adapters.base"),
    **dict.fromkeys(("AdapterError", "ConfigError", "MissingApiKey", "ProviderError", "UnknownModel"), "adapters.errors"),
    **dict.fromkeys(
        ("ProviderInfo", "ResolvedModel", "adapter_override", "list_models", "register_adapter", "resolve"), "adapters.registry"
    ),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'adapters' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = [
    "Adapter",
    "AdapterError",
    "ChatReply",
    "ChatRequest",
    "ConfigError",
    "MissingApiKey",
    "ProviderError",
    "ProviderInfo",
    "ResolvedModel",
    "ToolSpec",
    "UnknownModel",
    "adapter_override",
    "list_models",
    "register_adapter",
    "resolve",
]
