"""Gemini ``generateContent`` (``POST {base_url}/v1beta/models/{model}:generateContent``, key in ``x-goog-api-key``).

Request rules this adapter keeps (what the real API checks):

- roles are ``user`` and ``model`` only, starting with ``user`` (a placeholder user turn is
  added when the history starts with the model); the system prompt (``system`` plus any
  ``system``-role messages) goes in ``systemInstruction``; consecutive same-role contents are
  merged, and no part carries empty text;
- an assistant tool call is a ``functionCall {name, args: object}`` part in a model turn;
  its result is a ``functionResponse {name, response: object}`` part in the very next user
  turn (placed first); a result that is a JSON object is sent as that object, any other
  result as ``{"result": <text>}`` (see :func:`adapters._convert.normalize_history` for how
  unanswered calls and orphan results are handled);
- Gemini 3 models require the ``thoughtSignature`` of each function-call turn back: the one
  recorded on the call (``ToolCall.extra["gemini"]["thoughtSignature"]``) is replayed; a call
  made by another provider gets the documented ``skip_thought_signature_validator`` value;
- tools named in the history are declared even when the caller offers none, and then
  ``toolConfig.functionCallingConfig.mode`` is ``NONE``;
- ``reasoning_effort`` becomes ``generationConfig.thinkingConfig`` (``thinkingLevel`` for
  Gemini 3, ``thinkingBudget`` for Gemini 2.5; :func:`adapters.reasoning.gemini_plan`).

The reply's function calls get ids ``gemini_<n>_<random>`` (Gemini itself sends none unless
asked); their thought signatures are kept in ``ToolCall.extra["gemini"]``.

A turn converts only the messages it has not sent before: the contents of the part of the
conversation a request shares with an earlier one are reused (:class:`adapters.message_memo.SentPrefixes`)
and each message's parts are memoised (:class:`adapters.message_memo.MessageMemo`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from store.schema import Message, ToolCall

from . import _convert as cv
from ._convert import CONTINUE_PLACEHOLDER, arguments_object, content_text, safe_name
from .base import ChatReply, ChatRequest
from .http_adapter import HttpAdapter
from .message_memo import MessageMemo, SentPrefixes
from .reasoning import ReasoningPlan, gemini_plan
from .stream_assembly import GeminiStream
from .turns import SentHistory, Turn, TurnShape

SKIP_SIGNATURE = "skip_thought_signature_validator"
HISTORY_TOOL_DESCRIPTION = "A tool used earlier in this conversation."
_SCHEMA_KEYS_DROPPED = frozenset({"$schema", "$id"})
_CONTENTS = TurnShape("parts", lambda part: "functionResponse" in part, {"text": CONTINUE_PLACEHOLDER})
# Each stored message's parts (they depend on the message alone) and the contents of recent
# requests: a turn converts only the messages after the part it shares with an earlier request.
_PARTS: MessageMemo[list[dict[str, Any]]] = MessageMemo()
_SENT: SentPrefixes[Turn, SentHistory] = SentPrefixes()


def _clean_schema(schema: Any) -> Any:
    # Gemini's schema dialect rejects a few JSON-Schema bookkeeping keys.
    if isinstance(schema, dict):
        return {k: _clean_schema(v) for k, v in schema.items() if k not in _SCHEMA_KEYS_DROPPED}
    if isinstance(schema, list):
        return [_clean_schema(item) for item in schema]
    return schema


def _response_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"result": text}


@dataclass(kw_only=True, eq=False, repr=False)
class GeminiAdapter(HttpAdapter):
    """An :class:`~adapters.base.Adapter` for the Gemini API (v1beta)."""

    provider: str = "gemini"
    key_variable: str | None = "GEMINI_API_KEY"

    def url(self, model: str) -> str:
        return f"{self.base_url}/v1beta/models/{quote(model, safe='-._')}:generateContent"

    def endpoint(self, request: ChatRequest) -> str:
        return self.url(self.upstream_model or request.model)

    def stream_endpoint(self, request: ChatRequest) -> str:
        url = self.endpoint(request)
        return url[: -len(":generateContent")] + ":streamGenerateContent?alt=sse"

    def new_assembler(self) -> GeminiStream:
        return GeminiStream(self.provider)

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key or ""}

    # ----------------------------------------------------------------- request
    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body sent for ``request`` (pure; no I/O)."""
        system, history = cv.split_system(request.messages, request.system)
        contents, sent = _SENT.converted(None, history, self._contents, SentHistory(), _CONTENTS.join)
        body: dict[str, Any] = {"contents": _CONTENTS.finish(contents)}
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        config: dict[str, Any] = {}
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.max_tokens is not None:
            config["maxOutputTokens"] = request.max_tokens
        config.update(self.reasoning_plan(request).fields)
        if config:
            body["generationConfig"] = config
        declarations = [
            {"name": safe_name(tool.name), **cv.described(tool.description), "parameters": _clean_schema(tool.parameters)}
            for tool in request.tools
        ]
        declarations += [
            {"name": name, "description": HISTORY_TOOL_DESCRIPTION}
            for name in cv.undeclared_tools((d["name"] for d in declarations), sent.tool_names)
        ]
        if declarations:
            body["tools"] = [{"functionDeclarations": declarations}]
            if not request.tools:
                body["toolConfig"] = {"functionCallingConfig": {"mode": "NONE"}}
        return body

    def reasoning_plan(self, request: ChatRequest) -> ReasoningPlan:
        return gemini_plan(self.upstream_model or request.model, request)

    @classmethod
    def _contents(cls, part: list[Message], before: SentHistory) -> tuple[list[Turn], SentHistory]:
        """The contents of a part of the history that follows a plain message (see SentPrefixes)."""
        normalized, renamed = cv.normalize_from(part, before.renamed)
        pieces = (("model" if m.role == "assistant" else "user", _PARTS.get(m, None, cls._parts)) for m in normalized)
        return _CONTENTS.merge(pieces), before.after(normalized, renamed)

    @staticmethod
    def _parts(message: Message) -> list[dict[str, Any]]:
        """``message``'s parts (memoised per message: never modify the result).

        The first function call gets the thought signature Gemini 3 checks on each model turn with
        calls (a model turn holds at most one message with calls: its results end the turn).
        """
        if message.role == "tool":
            answer = {"name": safe_name(message.name or "tool"), "response": _response_object(content_text(message.content))}
            return [{"functionResponse": answer}]
        parts: list[dict[str, Any]] = []
        content = message.content
        items = [{"type": "text", "text": content}] if isinstance(content, str) else (content or [])
        for item in items:  # the schema guarantees dict parts
            url = cv.image_url_of(item)
            data = cv.split_data_url(url) if url else None
            if data and message.role == "user":
                parts.append({"inlineData": {"mimeType": data[0], "data": data[1]}})
                continue
            text = f"[image: {url}]" if url else content_text([item])
            if text.strip():
                parts.append({"text": text})
        if message.role == "assistant":
            for number, call in enumerate(message.tool_calls or []):
                part: dict[str, Any] = {"functionCall": {"name": safe_name(call.name), "args": arguments_object(call.arguments)}}
                stored = call.extra.get("gemini")
                signature = stored.get("thoughtSignature") if isinstance(stored, dict) else None
                if isinstance(signature, str) and signature:
                    part["thoughtSignature"] = signature
                elif number == 0:
                    part["thoughtSignature"] = SKIP_SIGNATURE
                parts.append(part)
        return parts

    # ----------------------------------------------------------------- reply
    def read_reply(self, data: dict[str, Any], request: ChatRequest, latency_ms: float) -> ChatReply:
        return self.parse_reply(data, request.model, latency_ms, cv.sent_tool_names(request.tools))

    def parse_reply(
        self, data: dict[str, Any], model: str, latency_ms: float, names: dict[str, str] | None = None
    ) -> ChatReply:
        """Turn a generateContent answer into a ChatReply; ``names`` maps sent tool names back."""
        candidates = data.get("candidates")
        if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
            feedback = data.get("promptFeedback") or {}
            reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
            why = f"the prompt was blocked ({reason})" if reason else "no candidates in the answer"
            raise self.no_reply(f"reply: {why}")
        candidate = candidates[0]
        parts = (candidate.get("content") or {}).get("parts") or []
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[ToolCall] = []
        batch = uuid.uuid4().hex[:8]
        for part in parts:
            if not isinstance(part, dict):
                continue
            if "functionCall" in part and isinstance(part["functionCall"], dict):
                call = part["functionCall"]
                name = call.get("name") or ""
                extra = {"gemini": {"thoughtSignature": part["thoughtSignature"]}} if part.get("thoughtSignature") else {}
                calls.append(
                    ToolCall(
                        id=call.get("id") or f"gemini_{len(calls)}_{batch}",
                        name=(names or {}).get(name, name),
                        arguments=arguments_object(call.get("args")),
                        extra=extra,
                    )
                )
            elif isinstance(part.get("text"), str):
                (thoughts if part.get("thought") else texts).append(part["text"])
        usage = cv.usage_from(data.get("usageMetadata"), "promptTokenCount", "candidatesTokenCount")
        extra: dict[str, Any] = {}
        if thoughts:
            extra["thoughts"] = "\n".join(thoughts)
        if data.get("modelVersion"):
            extra["modelVersion"] = data["modelVersion"]
        return ChatReply(text="".join(texts), tool_calls=calls, usage=usage, finish_reason=candidate.get("finishReason"),
                         latency_ms=latency_ms, model=model, provider=self.provider, provider_extra=extra)
