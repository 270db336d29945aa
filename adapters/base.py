"""The one interface every provider adapter implements, and the shapes it exchanges.

Like httpx's transports: a single method, ``complete(request) -> reply``. The request carries
the unified conversation (``store.schema.Message`` objects, provider-neutral tool calls);
each adapter converts it to its provider's wire format and the answer back.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from store.schema import Message, ToolCall, Usage


class ToolSpec(BaseModel):
    """A tool the model may call: name, description and a JSON-Schema for its arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ChatRequest(BaseModel):
    """A unified request: ``messages`` never include the system prompt (it is ``system``)."""

    model: str
    messages: list[Message]
    system: str | None = None
    tools: list[ToolSpec] = Field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None
    # How hard a reasoning model thinks; each adapter maps it (adapters/reasoning.py).
    reasoning_effort: Literal["low", "medium", "high"] | None = None


class ChatReply(BaseModel):
    """A unified reply."""

    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None
    latency_ms: float = 0.0
    model: str
    provider: str
    # Provider-specific fields worth keeping (e.g. Kimi's reasoning_content), stored verbatim
    # in the message's extra under the provider's name.
    provider_extra: dict[str, Any] = Field(default_factory=dict)


@runtime_checkable
class Adapter(Protocol):
    """Implemented by every provider module in ``adapters/``."""

    provider: str

    async def complete(self, request: ChatRequest) -> ChatReply:
        """Send ``request`` to the provider and return its reply, or raise an ``AdapterError``."""
        ...
