"""OpenAI chat completions (``POST {base_url}/chat/completions``): OpenAI, Moonshot/Kimi, DeepSeek,
OpenRouter, Ollama and any OpenAI-compatible endpoint.

Request rules this adapter keeps (what the real API checks):

- the system prompt is the first ``system`` message; ``system``-role messages stay in place;
- an assistant tool call is ``{id, type: "function", function: {name, arguments}}`` with
  ``arguments`` a JSON *string*; every call is answered by ``tool`` messages right after it
  (see :func:`adapters._convert.normalize_history`), an assistant message with tool calls
  and no text sends ``content: null``;
- content parts are sent as OpenAI parts (``text``, ``image_url``; an attached file is a text
  part of its own); other parts as text;
- OpenAI itself (provider ``openai``) gets ``max_completion_tokens``, other endpoints
  ``max_tokens``; ``reasoning_effort`` and the ``temperature`` rules of reasoning models
  (OpenAI's o-series and gpt-5 reject it) follow :func:`adapters.reasoning.openai_compat_plan`;
- DeepSeek and Moonshot thinking models require the ``reasoning_content`` of assistant turns
  with tool calls to be sent back: it is replayed from the message's
  ``extra[<provider>]["reasoning_content"]`` (DeepSeek: ``""`` when none was recorded).

The reply's ``reasoning_content`` (Kimi, DeepSeek) is kept in ``ChatReply.provider_extra``.

Streaming sends ``stream: true`` and, except to Moonshot (which puts the usage of a stream in
its last chunk unasked), ``stream_options: {include_usage: true}`` so the usage arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from store.schema import Message, ToolCall

from ._convert import arguments_json, attachment_of, content_text, decode_arguments, image_url_of, normalize_from, usage_from
from .base import ChatReply, ChatRequest
from .http_adapter import HttpAdapter
from .message_memo import MessageMemo, SentPrefixes
from .reasoning import ReasoningPlan, openai_compat_plan
from .stream_assembly import OpenAIStream

# Providers whose thinking models need reasoning_content of tool-call turns sent back, and
# whether an empty value must be sent when none was recorded.
_REPLAY_REASONING = {"deepseek": True, "moonshot": False}
_EXTRA_REPLY_FIELDS = ("reasoning_content", "reasoning", "refusal")
_USAGE_STREAMED_UNASKED = frozenset({"moonshot"})
# Each stored message's wire form, per provider (the only setting it depends on): a turn converts
# only the messages it has not sent before (see adapters/message_memo.py).
_WIRE: MessageMemo[dict[str, Any]] = MessageMemo()
# The converted messages of recent requests, per provider: a turn normalises and converts only
# the messages after the part it shares with an earlier request.
_SENT: SentPrefixes[dict[str, Any], int] = SentPrefixes()


@dataclass(kw_only=True, eq=False, repr=False)
class OpenAICompatAdapter(HttpAdapter):
    """An :class:`~adapters.base.Adapter` for one OpenAI-compatible endpoint (``provider`` is required).

    ``extra_headers`` are sent with every request (e.g. OpenRouter's ``HTTP-Referer``); the key,
    when set, goes in ``Authorization: Bearer``.
    """

    extra_headers: dict[str, str] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.extra_headers = dict(self.extra_headers or {})

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def endpoint(self, request: ChatRequest) -> str:
        return self.url

    def auth_headers(self) -> dict[str, str]:
        headers = dict(self.extra_headers or {})
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def new_assembler(self) -> OpenAIStream:
        return OpenAIStream(self.provider)

    def stream_body(self, body: dict[str, Any]) -> dict[str, Any]:
        streamed = {**body, "stream": True}
        if self.provider not in _USAGE_STREAMED_UNASKED:
            streamed["stream_options"] = {"include_usage": True}
        return streamed

    # ----------------------------------------------------------------- request
    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body sent for ``request`` (pure; no I/O)."""
        model = self.upstream_model or request.model
        messages: list[dict[str, Any]] = []
        if request.system and request.system.strip():
            messages.append({"role": "system", "content": request.system})
        messages += _SENT.converted(self.provider, request.messages, self._wire_messages, 0)[0]
        body: dict[str, Any] = {"model": model, "messages": messages}
        plan = self.reasoning_plan(request)
        if request.temperature is not None and plan.send_temperature:
            body["temperature"] = request.temperature
        body.update(plan.fields)
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

    def _wire_messages(self, history: list[Message], counter: int) -> tuple[list[dict[str, Any]], int]:
        """A part of the history that follows a plain message, normalised and converted (see normalize_from)."""
        wire = _WIRE.get
        out: list[dict[str, Any]] = []
        normalized, counter = normalize_from(history, counter)
        for message in normalized:
            converted = wire(message, self.provider, self._message)
            if converted["role"] == "assistant" and not converted["content"] and "tool_calls" not in converted:
                continue  # an empty assistant turn (e.g. a failed reply) says nothing and some APIs reject it
            out.append(converted)
        return out, counter

    def reasoning_plan(self, request: ChatRequest) -> ReasoningPlan:
        return openai_compat_plan(self.provider, self.upstream_model or request.model, request)

    def _message(self, message: Message) -> dict[str, Any]:
        """``message`` in the wire format (memoised per message and provider: never modify the result)."""
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
        # Images and attached files go as parts of their own; other content as one string.
        if message.role != "user" or not any(image_url_of(part) or attachment_of(part) for part in content):
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
    def read_reply(self, data: dict[str, Any], request: ChatRequest, latency_ms: float) -> ChatReply:
        return self.parse_reply(data, request.model, latency_ms)

    def parse_reply(self, data: dict[str, Any], model: str, latency_ms: float) -> ChatReply:
        """Turn a chat-completions JSON answer into a ChatReply (``model``: the name the caller used)."""
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            detail = data.get("error") or "no 'choices'"
            raise self.no_reply(f"completion: {detail}")
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
        usage = usage_from(data.get("usage"), "prompt_tokens", "completion_tokens", drop=("total_tokens",))
        extra = {key: message[key] for key in _EXTRA_REPLY_FIELDS if message.get(key)}
        return ChatReply(text=content_text(message.get("content")), tool_calls=calls, usage=usage,
                         finish_reason=choice.get("finish_reason"), latency_ms=latency_ms, model=model,
                         provider=self.provider, provider_extra=extra)
