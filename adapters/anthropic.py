"""Anthropic Messages API (``POST {base_url}/v1/messages``, ``x-api-key``, ``anthropic-version: 2023-06-01``).

Request rules this adapter keeps (what the real API checks):

- the system prompt (``system`` plus any ``system``-role messages) goes in the top-level
  ``system`` field; ``messages`` hold only ``user``/``assistant`` turns, starting with
  ``user`` (a placeholder user turn is added when the history starts with the assistant),
  strictly alternating (consecutive same-role messages are merged into one turn);
- ``max_tokens`` is always sent (the caller's, else :func:`default_max_tokens`);
  ``temperature`` is clamped to Anthropic's 0..1;
- empty or whitespace-only text is never sent as a block;
- assistant tool calls become ``tool_use`` blocks with an ``input`` *object*; their results
  become ``tool_result`` blocks placed first in the very next user turn (the history is
  normalised first, see :func:`adapters._convert.normalize_history`);
- tool ids from other providers (Kimi's ``functions.name:0``) are mapped to
  ``^[a-zA-Z0-9_-]+$`` by :func:`adapters._convert.safe_id`, identically in both blocks, and
  made unique within the request (Kimi reuses ``functions.name:0`` in every turn);
  tool names likewise by :func:`adapters._convert.safe_name` (mapped back in the reply);
- tools named in the history are defined in ``tools`` even when the caller offers none, and
  then ``tool_choice`` is ``{"type": "none"}`` so the model cannot call them.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from store.schema import Message, ToolCall, Usage

from ._convert import (
    arguments_object,
    content_text,
    image_url_of,
    normalize_history,
    safe_id,
    safe_name,
    split_data_url,
    split_system,
    tool_names_in,
)
from .base import ChatReply, ChatRequest
from .errors import AdapterError, ProviderError
from .redact import redact
from .retry import RetryPolicy, post_json

ANTHROPIC_VERSION = "2023-06-01"
CONTINUE_PLACEHOLDER = "(continuing the conversation)"
HISTORY_TOOL_DESCRIPTION = "A tool used earlier in this conversation (not available now)."


def default_max_tokens(model: str) -> int:
    """``max_tokens`` when the caller gives none: 4096 for the Claude 3 (Haiku/Sonnet/Opus) models, 8192 after."""
    if model.startswith("claude-3-") and not model.startswith(("claude-3-5", "claude-3-7")):
        return 4096
    return 8192


def _unique_ids(originals: list[str], used: set[str]) -> dict[str, str]:
    """Map one assistant turn's tool ids to safe ids not used earlier in the request.

    Kimi numbers its calls per turn (``functions.f:0`` in every turn) and Anthropic rejects a
    request in which two ``tool_use`` blocks share an id, so a repeat gets a ``_<n>`` suffix;
    the turn's ``tool_result`` blocks use the same mapping (they come right after it).
    """
    mapping: dict[str, str] = {}
    for original in originals:
        base = safe_id(original)
        mapped, n = base, 1
        while mapped in used:
            n += 1
            mapped = f"{base}_{n}"
        used.add(mapped)
        mapping[original] = mapped
    return mapping


class AnthropicAdapter:
    """An :class:`~adapters.base.Adapter` for the Anthropic Messages API."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        provider: str = "anthropic",
        key_variable: str | None = "ANTHROPIC_API_KEY",
        upstream_model: str | None = None,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.key_variable = key_variable
        self.upstream_model = upstream_model
        self.policy = policy
        self.transport = transport

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1/messages"

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key or "", "anthropic-version": ANTHROPIC_VERSION, "Content-Type": "application/json"}

    # ----------------------------------------------------------------- request
    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body sent for ``request`` (pure; no I/O)."""
        model = self.upstream_model or request.model
        system, history = split_system(request.messages, request.system)
        history = normalize_history(history)
        turns: list[dict[str, Any]] = []
        used_ids: set[str] = set()
        current_ids: dict[str, str] = {}  # original id -> sent id, for the latest assistant tool calls
        for message in history:
            role = "assistant" if message.role == "assistant" else "user"
            if message.role == "assistant" and message.tool_calls:
                current_ids = _unique_ids([call.id for call in message.tool_calls], used_ids)
            blocks = self._blocks(message, current_ids)
            if not blocks:
                continue
            if turns and turns[-1]["role"] == role:
                turns[-1]["content"].extend(blocks)
            else:
                turns.append({"role": role, "content": blocks})
        if not turns:
            raise AdapterError("the conversation has no message to send")
        for turn in turns:
            if turn["role"] == "user":  # tool_result blocks must come first in their turn
                blocks = turn["content"]
                turn["content"] = [b for b in blocks if b["type"] == "tool_result"] + [
                    b for b in blocks if b["type"] != "tool_result"
                ]
        if turns[0]["role"] != "user":
            turns.insert(0, {"role": "user", "content": [{"type": "text", "text": CONTINUE_PLACEHOLDER}]})
        last = turns[-1]
        if last["role"] == "assistant" and last["content"][-1]["type"] == "text":
            # A final assistant turn is a prefill, which must not end with whitespace.
            last["content"][-1]["text"] = last["content"][-1]["text"].rstrip()

        body: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_tokens or default_max_tokens(model),
            "messages": turns,
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = min(max(request.temperature, 0.0), 1.0)
        tools = [
            {"name": safe_name(tool.name), "description": tool.description, "input_schema": tool.parameters}
            for tool in request.tools
        ]
        offered = {tool["name"] for tool in tools}
        for name in tool_names_in(history):
            if safe_name(name) not in offered:
                offered.add(safe_name(name))
                tools.append(
                    {"name": safe_name(name), "description": HISTORY_TOOL_DESCRIPTION, "input_schema": {"type": "object"}}
                )
        for tool in tools:
            if not tool["description"]:
                del tool["description"]
        if tools:
            body["tools"] = tools
            if not request.tools:
                body["tool_choice"] = {"type": "none"}
        return body

    @staticmethod
    def _blocks(message: Message, ids: dict[str, str]) -> list[dict[str, Any]]:
        if message.role == "tool":
            call_id = message.tool_call_id or ""
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": ids.get(call_id) or safe_id(call_id)}
            text = content_text(message.content)
            if text.strip():
                block["content"] = text
            if message.extra.get("is_error"):
                block["is_error"] = True
            return [block]
        blocks: list[dict[str, Any]] = []
        content = message.content
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else (content or [])
        for part in parts:  # the schema guarantees dict parts
            url = image_url_of(part)
            if url and message.role == "user":
                data = split_data_url(url)
                source = (
                    {"type": "base64", "media_type": data[0], "data": data[1]} if data else {"type": "url", "url": url}
                )
                blocks.append({"type": "image", "source": source})
                continue
            text = content_text([part]) if not url else f"[image: {url}]"
            if text.strip():
                blocks.append({"type": "text", "text": text})
        if message.role == "assistant":
            for call in message.tool_calls or []:
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": ids.get(call.id) or safe_id(call.id),
                        "name": safe_name(call.name),
                        "input": arguments_object(call.arguments),
                    }
                )
        return blocks

    # ----------------------------------------------------------------- reply
    async def complete(self, request: ChatRequest) -> ChatReply:
        """Send ``request``; return the reply, or raise ProviderError after the retries."""
        body = self.build_body(request)
        names = {safe_name(tool.name): tool.name for tool in request.tools}
        started = time.perf_counter()
        data = await post_json(
            self.url,
            headers=self.headers(),
            body=body,
            provider=self.provider,
            secrets=[self.api_key],
            key_variable=self.key_variable,
            policy=self.policy,
            transport=self.transport,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        return self.parse_reply(data, request.model, latency_ms, names)

    def parse_reply(
        self, data: dict[str, Any], model: str, latency_ms: float, names: dict[str, str] | None = None
    ) -> ChatReply:
        """Turn a Messages API answer into a ChatReply; ``names`` maps sent tool names back."""
        content = data.get("content")
        if not isinstance(content, list):
            detail = data.get("error") or data.get("type")
            raise ProviderError(redact(f"{self.provider} returned no content: {detail}", [self.api_key]), provider=self.provider)
        texts: list[str] = []
        calls: list[ToolCall] = []
        thinking: list[str] = []
        for block in content:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                texts.append(block.get("text") or "")
            elif kind == "tool_use":
                name = block.get("name") or ""
                calls.append(ToolCall(id=block.get("id") or f"toolu_{len(calls)}", name=(names or {}).get(name, name),
                                      arguments=arguments_object(block.get("input"))))
            elif kind == "thinking" and block.get("thinking"):
                thinking.append(block["thinking"])
        usage_data = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        usage = None
        if usage_data:
            usage = Usage(
                input_tokens=usage_data.get("input_tokens"),
                output_tokens=usage_data.get("output_tokens"),
                extra={k: v for k, v in usage_data.items() if k not in ("input_tokens", "output_tokens") and v is not None},
            )
        extra: dict[str, Any] = {"thinking": "\n".join(thinking)} if thinking else {}
        return ChatReply(
            text="".join(texts),
            tool_calls=calls,
            usage=usage,
            finish_reason=data.get("stop_reason"),
            latency_ms=latency_ms,
            model=model,
            provider=self.provider,
            provider_extra=extra,
        )
