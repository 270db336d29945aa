"""OpenAI chat completions (``POST {base_url}/chat/completions``): OpenAI, Moonshot/Kimi, DeepSeek,
OpenRouter, Ollama and any OpenAI-compatible endpoint.

Request rules this adapter keeps (what the real API checks):

- the system prompt is the first ``system`` message; ``system``-role messages stay in place;
- an assistant tool call is ``{id, type: "function", function: {name, arguments}}`` with
  ``arguments`` a JSON *string*; every call is answered by ``tool`` messages right after it
  (see :func:`adapters._convert.normalize_history`), an assistant message with tool calls
  and no text sends ``content: null``;
- content parts are sent as OpenAI parts (``text``, ``image_url``); other parts as text;
- OpenAI itself (provider ``openai``) gets ``max_completion_tokens``, and no ``temperature``
  for reasoning models (``o1``/``o3``/``o4``/``gpt-5``), which reject it; other endpoints get
  ``max_tokens``;
- DeepSeek and Moonshot thinking models require the ``reasoning_content`` of assistant turns
  with tool calls to be sent back: it is replayed from the message's
  ``extra[<provider>]["reasoning_content"]`` (DeepSeek: ``""`` when none was recorded).

The reply's ``reasoning_content`` (Kimi, DeepSeek) is kept in ``ChatReply.provider_extra``.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from store.schema import Message, ToolCall, Usage

from ._convert import arguments_json, content_text, decode_arguments, image_url_of, normalize_history
from .base import ChatReply, ChatRequest
from .errors import ProviderError
from .redact import redact
from .retry import RetryPolicy, post_json

_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
# Providers whose thinking models need reasoning_content of tool-call turns sent back, and
# whether an empty value must be sent when none was recorded.
_REPLAY_REASONING = {"deepseek": True, "moonshot": False}
_EXTRA_REPLY_FIELDS = ("reasoning_content", "reasoning", "refusal")


class OpenAICompatAdapter:
    """An :class:`~adapters.base.Adapter` for one OpenAI-compatible endpoint."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        api_key: str | None,
        key_variable: str | None = None,
        upstream_model: str | None = None,
        extra_headers: dict[str, str] | None = None,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.key_variable = key_variable
        self.upstream_model = upstream_model
        self.extra_headers = dict(extra_headers or {})
        self.policy = policy
        self.transport = transport

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self.extra_headers}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    # ----------------------------------------------------------------- request
    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body sent for ``request`` (pure; no I/O)."""
        model = self.upstream_model or request.model
        messages: list[dict[str, Any]] = []
        if request.system and request.system.strip():
            messages.append({"role": "system", "content": request.system})
        for message in normalize_history(request.messages):
            converted = self._message(message)
            if converted["role"] == "assistant" and not converted["content"] and "tool_calls" not in converted:
                continue  # an empty assistant turn (e.g. a failed reply) says nothing and some APIs reject it
            messages.append(converted)
        body: dict[str, Any] = {"model": model, "messages": messages}
        reasoning = self.provider == "openai" and bool(_REASONING_MODEL.match(model))
        if request.temperature is not None and not reasoning:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_completion_tokens" if self.provider == "openai" else "max_tokens"] = request.max_tokens
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
                }
                for tool in request.tools
            ]
        return body

    def _message(self, message: Message) -> dict[str, Any]:
        if message.role == "tool":
            return {"role": "tool", "tool_call_id": message.tool_call_id, "content": content_text(message.content)}
        out: dict[str, Any] = {"role": message.role, "content": self._content(message)}
        if message.role == "assistant" and message.tool_calls:
            out["tool_calls"] = [
                {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments_json(call.arguments)}}
                for call in message.tool_calls
            ]
            if out["content"] == "":
                out["content"] = None
            if self.provider in _REPLAY_REASONING:
                stored = message.extra.get(self.provider)
                reasoning = stored.get("reasoning_content") if isinstance(stored, dict) else None
                if isinstance(reasoning, str) and reasoning:
                    out["reasoning_content"] = reasoning
                elif _REPLAY_REASONING[self.provider]:
                    out["reasoning_content"] = ""
        return out

    @staticmethod
    def _content(message: Message) -> Any:
        content = message.content
        if content is None or isinstance(content, str):
            return content or ""
        if message.role != "user" or not any(image_url_of(part) for part in content if isinstance(part, dict)):
            return content_text(content)
        parts: list[dict[str, Any]] = []
        for part in content:
            url = image_url_of(part) if isinstance(part, dict) else None
            if url:
                parts.append({"type": "image_url", "image_url": {"url": url}})
            else:
                text = content_text([part])
                if text:
                    parts.append({"type": "text", "text": text})
        return parts

    # ----------------------------------------------------------------- reply
    async def complete(self, request: ChatRequest) -> ChatReply:
        """Send ``request``; return the reply, or raise ProviderError after the retries."""
        body = self.build_body(request)
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
        return self.parse_reply(data, request.model, latency_ms)

    def parse_reply(self, data: dict[str, Any], model: str, latency_ms: float) -> ChatReply:
        """Turn a chat-completions JSON answer into a ChatReply (``model``: the name the caller used)."""
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            detail = data.get("error") or "no 'choices'"
            raise ProviderError(redact(f"{self.provider} returned no completion: {detail}", [self.api_key]), provider=self.provider)
        choice = choices[0]
        message = choice.get("message") or {}
        calls = [
            ToolCall(
                id=call.get("id") or f"call_{index}",
                name=(call.get("function") or {}).get("name", ""),
                arguments=decode_arguments((call.get("function") or {}).get("arguments")),
            )
            for index, call in enumerate(message.get("tool_calls") or [])
            if isinstance(call, dict)
        ]
        usage_data = data.get("usage") or {}
        usage = None
        if isinstance(usage_data, dict) and usage_data:
            details = {k: v for k, v in usage_data.items() if k not in ("prompt_tokens", "completion_tokens", "total_tokens")}
            usage = Usage(
                input_tokens=usage_data.get("prompt_tokens"),
                output_tokens=usage_data.get("completion_tokens"),
                extra=details,
            )
        extra = {key: message[key] for key in _EXTRA_REPLY_FIELDS if message.get(key)}
        return ChatReply(
            text=content_text(message.get("content")),
            tool_calls=calls,
            usage=usage,
            finish_reason=choice.get("finish_reason"),
            latency_ms=latency_ms,
            model=model,
            provider=self.provider,
            provider_extra=extra,
        )
