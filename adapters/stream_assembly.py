"""Rebuilding a provider's non-streamed answer from its streamed events (pure: no I/O).

One assembler per wire format. Each is fed the server-sent events of one answer in order
(:meth:`StreamAssembler.feed` takes the event name and its ``data`` text) and returns, from
:meth:`StreamAssembler.answer`, the JSON object the provider would have sent without
streaming. The adapter then reads that object with the very ``parse_reply`` it uses for a
non-streamed answer, so text, tool calls, usage and finish reason come out identical by
construction.

- :class:`OpenAIStream` — chat completion chunks (``choices[0].delta``: ``content``, ``tool_calls``
  pieces by ``index``, ``reasoning_content``...; ``usage`` in a last chunk with no choices when
  ``stream_options.include_usage`` was sent, or in ``choices[0].usage`` as Moonshot does; ``[DONE]``).
- :class:`AnthropicStream` — ``message_start``, ``content_block_start/delta/stop``
  (``text_delta``, ``input_json_delta``, ``thinking_delta``, ``signature_delta``),
  ``message_delta`` (stop reason, final usage), ``message_stop``, ``ping``, ``error``.
- :class:`GeminiStream` — each event is a whole ``GenerateContentResponse`` holding the next
  parts; texts are concatenated, the last ``finishReason``/``usageMetadata`` win.

``feed`` returns the new *answer text* of the event (what a reader sees grow); ``characters``
counts every character received (text, reasoning, tool-call arguments) and only rises;
``complete`` says whether the provider finished the answer. A malformed event or an error
event raises :class:`StreamEventError`.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import orjson


class StreamEventError(ValueError):
    """An event the stream cannot go on after: not JSON, or the provider's own error event."""


class StreamAssembler(Protocol):
    """What every assembler offers (see the module docstring)."""

    characters: int
    complete: bool

    def feed(self, event: str, data: str) -> str:
        """Take one event; return the answer text it adds ("" for none)."""
        ...

    def answer(self) -> dict[str, Any]:
        """The non-streamed JSON answer built from the events so far."""
        ...

    def text(self) -> str:
        """The answer text received so far."""
        ...


def _decode(data: str, provider: str) -> dict[str, Any]:
    # One call per event, hundreds per answer: orjson (several times faster); what it refuses
    # but JSON allows in Python (integers beyond 64 bits, NaN) goes to the standard library.
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(data)
        except ValueError:
            raise StreamEventError(f"{provider} sent a stream event that is not JSON: {data[:200]!r}") from None
    if not isinstance(value, dict):
        raise StreamEventError(f"{provider} sent a stream event that is not a JSON object: {data[:200]!r}")
    return value


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        kind = error.get("type") or error.get("status") or error.get("code")
        message = error.get("message") or ""
        return f"{kind}: {message}" if kind and message else str(message or kind or error)
    return str(error)


class _Assembly:
    """What every assembler starts with: the provider's name (for errors) and the two counters."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.characters = 0
        self.complete = False


class OpenAIStream(_Assembly):
    """Chat completion chunks -> one ``chat.completion`` object."""

    _EXTRA_FIELDS = ("reasoning_content", "reasoning", "refusal")

    def __init__(self, provider: str = "openai") -> None:
        super().__init__(provider)
        self._head: dict[str, Any] = {}
        self._text: list[str] = []
        self._extra: dict[str, list[str]] = {}
        self._calls: dict[int, dict[str, Any]] = {}
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None

    def feed(self, event: str, data: str) -> str:
        if data.strip() == "[DONE]":
            self.complete = self.complete or self._finish_reason is not None
            return ""
        chunk = _decode(data, self.provider)
        if chunk.get("error"):
            raise StreamEventError(f"{self.provider} stream error: {_error_text(chunk['error'])}")
        if not self._head:
            self._head = {key: chunk[key] for key in ("id", "model", "created", "system_fingerprint") if key in chunk}
        usage = chunk.get("usage")
        if usage is not None and isinstance(usage, dict):
            self._usage = usage
        choices = chunk.get("choices")
        if not choices or not isinstance(choices, list):
            return ""
        choice = choices[0]  # one choice is asked for (no "n"): index 0
        if not isinstance(choice, dict):
            return ""
        if isinstance(choice.get("usage"), dict):  # Moonshot puts the usage of a stream here
            self._usage = choice["usage"]
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        text = delta.get("content") if isinstance(delta.get("content"), str) else ""
        if text:
            self._text.append(text)
            self.characters += len(text)
        for key in self._EXTRA_FIELDS:
            piece = delta.get(key)
            if isinstance(piece, str) and piece:
                self._extra.setdefault(key, []).append(piece)
                self.characters += len(piece)
        for piece in delta.get("tool_calls") or []:
            if isinstance(piece, dict):
                self._tool_call_piece(piece)
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]
            self.complete = True
        return text

    def _tool_call_piece(self, piece: dict[str, Any]) -> None:
        index = piece.get("index") if isinstance(piece.get("index"), int) else len(self._calls)
        call = self._calls.setdefault(index, {"id": None, "name": "", "arguments": []})
        if piece.get("id"):
            call["id"] = piece["id"]
        function = piece.get("function") if isinstance(piece.get("function"), dict) else {}
        if function.get("name") and not call["name"]:
            call["name"] = function["name"]
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            call["arguments"].append(arguments)
            self.characters += len(arguments)

    def text(self) -> str:
        return "".join(self._text)

    def answer(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.text() or None}
        if self._calls:
            message["tool_calls"] = [
                {
                    **({"id": call["id"]} if call["id"] else {}),
                    "type": "function",
                    "function": {"name": call["name"], "arguments": "".join(call["arguments"])},
                }
                for _, call in sorted(self._calls.items())
            ]
        for key, pieces in self._extra.items():
            message[key] = "".join(pieces)
        answer: dict[str, Any] = {
            **self._head,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish_reason}],
        }
        if self._usage is not None:
            answer["usage"] = self._usage
        return answer


class AnthropicStream(_Assembly):
    """Messages API stream events -> one ``message`` object."""

    def __init__(self, provider: str = "anthropic") -> None:
        super().__init__(provider)
        self._message: dict[str, Any] = {"type": "message", "role": "assistant", "content": []}
        self._blocks: dict[int, dict[str, Any]] = {}
        self._json: dict[int, list[str]] = {}
        self._usage: dict[str, Any] = {}

    def feed(self, event: str, data: str) -> str:
        payload = _decode(data, self.provider)
        kind = payload.get("type") or event
        if kind == "error":
            raise StreamEventError(f"{self.provider} stream error: {_error_text(payload.get('error'))}")
        if kind == "message_start" and isinstance(payload.get("message"), dict):
            self._message.update({k: v for k, v in payload["message"].items() if k not in ("content", "usage")})
            self._merge_usage(payload["message"].get("usage"))
        elif kind == "content_block_start" and isinstance(payload.get("content_block"), dict):
            block = dict(payload["content_block"])
            if block.get("type") == "tool_use":
                block["input"] = {}
                self._json[self._index(payload)] = []
            self._blocks[self._index(payload)] = block
        elif kind == "content_block_delta" and isinstance(payload.get("delta"), dict):
            return self._delta(self._index(payload), payload["delta"])
        elif kind == "content_block_stop":
            self._close_block(self._index(payload))
        elif kind == "message_delta":
            delta = payload.get("delta") if isinstance(payload.get("delta"), dict) else {}
            for key in ("stop_reason", "stop_sequence"):
                if key in delta:
                    self._message[key] = delta[key]
            self._merge_usage(payload.get("usage"))
        elif kind == "message_stop":
            self.complete = True
        return ""  # ping and event types added later carry no answer text

    @staticmethod
    def _index(payload: dict[str, Any]) -> int:
        index = payload.get("index")
        return index if isinstance(index, int) else 0

    def _delta(self, index: int, delta: dict[str, Any]) -> str:
        block = self._blocks.setdefault(index, {"type": "text", "text": ""})
        kind = delta.get("type")
        if kind == "text_delta" and isinstance(delta.get("text"), str):
            block["text"] = block.get("text", "") + delta["text"]
            self.characters += len(delta["text"])
            return delta["text"]
        if kind == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            self._json.setdefault(index, []).append(delta["partial_json"])
            self.characters += len(delta["partial_json"])
        elif kind == "thinking_delta" and isinstance(delta.get("thinking"), str):
            block["thinking"] = block.get("thinking", "") + delta["thinking"]
            self.characters += len(delta["thinking"])
        elif kind == "signature_delta" and isinstance(delta.get("signature"), str):
            block["signature"] = block.get("signature", "") + delta["signature"]
        return ""

    def _close_block(self, index: int) -> None:
        block = self._blocks.get(index)
        pieces = self._json.pop(index, None)
        if block is None or pieces is None:
            return
        raw = "".join(pieces)
        try:
            block["input"] = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise StreamEventError(f"{self.provider} streamed tool input that is not JSON: {raw[:200]!r}") from None

    def _merge_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self._usage.update({k: v for k, v in usage.items() if v is not None})

    def text(self) -> str:
        return "".join(block.get("text", "") for _, block in sorted(self._blocks.items()) if block.get("type") == "text")

    def answer(self) -> dict[str, Any]:
        # A tool_use block still open (the stream broke inside it) has no usable input yet.
        content = [block for index, block in sorted(self._blocks.items()) if index not in self._json]
        answer = {**self._message, "content": content}
        answer.setdefault("stop_reason", None)
        if self._usage:
            answer["usage"] = dict(self._usage)
        return answer


class GeminiStream(_Assembly):
    """``streamGenerateContent?alt=sse`` responses -> one ``GenerateContentResponse``."""

    def __init__(self, provider: str = "gemini") -> None:
        super().__init__(provider)
        self._parts: list[dict[str, Any]] = []
        self._candidate: dict[str, Any] = {}
        self._rest: dict[str, Any] = {}

    def feed(self, event: str, data: str) -> str:
        chunk = _decode(data, self.provider)
        if chunk.get("error"):
            raise StreamEventError(f"{self.provider} stream error: {_error_text(chunk['error'])}")
        for key in ("usageMetadata", "modelVersion", "responseId", "promptFeedback"):
            if key in chunk:
                self._rest[key] = chunk[key]
        candidates = chunk.get("candidates")
        if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
            return ""
        candidate = candidates[0]
        for key, value in candidate.items():
            if key != "content":
                self._candidate[key] = value
        if candidate.get("finishReason"):
            self.complete = True
        content = candidate.get("content") if isinstance(candidate.get("content"), dict) else {}
        added: list[str] = []
        for part in content.get("parts") or []:
            if isinstance(part, dict):
                added.append(self._add_part(part))
        return "".join(added)

    def _add_part(self, part: dict[str, Any]) -> str:
        text = part.get("text")
        if not isinstance(text, str):
            self._parts.append(dict(part))
            self.characters += len(json.dumps(part.get("functionCall", ""), ensure_ascii=False)) if "functionCall" in part else 0
            return ""
        self.characters += len(text)
        last = self._parts[-1] if self._parts else None
        thought = bool(part.get("thought"))
        if last is not None and isinstance(last.get("text"), str) and bool(last.get("thought")) == thought:
            last["text"] += text  # one part per run of text, as the non-streamed answer has
            if part.get("thoughtSignature"):
                last["thoughtSignature"] = part["thoughtSignature"]
        else:
            self._parts.append(dict(part))
        return "" if thought else text

    def text(self) -> str:
        return "".join(part["text"] for part in self._parts if isinstance(part.get("text"), str) and not part.get("thought"))

    def answer(self) -> dict[str, Any]:
        answer = dict(self._rest)
        if self._parts or self._candidate:
            answer["candidates"] = [{**self._candidate, "content": {"role": "model", "parts": self._parts}}]
        return answer
