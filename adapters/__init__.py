"""Provider adapters: one module per wire format, a registry, retries and key redaction.

Callers normally need only :func:`resolve` (model name -> ready adapter), the request/reply
shapes and the errors::

    from adapters import ChatRequest, resolve
    reply = await resolve("claude-sonnet-4-5").complete(ChatRequest(model="claude-sonnet-4-5", messages=[...]))
"""

from __future__ import annotations

from .base import Adapter, ChatReply, ChatRequest, ToolSpec
from .errors import AdapterError, ConfigError, MissingApiKey, ProviderError, UnknownModel
from .registry import ProviderInfo, ResolvedModel, adapter_override, list_models, register_adapter, resolve

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
