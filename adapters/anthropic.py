"""Anthropic Messages API (``POST {base_url}/v1/messages``, ``x-api-key``, ``anthropic-version: 2023-06-01``).

Request rules this adapter keeps (what the real API checks):

- the system prompt (``system`` plus any ``system``-role messages) goes in the top-level
  ``system`` field; ``messages`` hold only ``user``/``assistant`` turns, starting with
  ``user`` (a placeholder user turn is added when the history starts with the assistant),
  strictly alternating (consecutive same-role messages are merged into one turn);
- ``max_tokens`` is always sent (the caller's, else :func:`default_max_tokens`);
  ``temperature`` is clamped to Anthropic's 0..1;
- ``reasoning_effort`` becomes extended ``thinking`` with a budget of at least 1024 tokens below
  ``max_tokens`` (raised to make room when the caller set none), and then no ``temperature``
  (:func:`adapters.reasoning.anthropic_plan`);
- empty or whitespace-only text is never sent as a block; an attached file (see
  :data:`adapters._convert.ATTACHMENT_KEY`) is a plain-text ``document`` block titled with its path;
- assistant tool calls become ``tool_use`` blocks with an ``input`` *object*; their results
  become ``tool_result`` blocks placed first in the very next user turn (the history is
  normalised first, see :func:`adapters._convert.normalize_history`);
- tool ids from other providers (Kimi's ``functions.name:0``) are mapped to
  ``^[a-zA-Z0-9_-]+$`` by :func:`adapters._convert.safe_id`, identically in both blocks, and
  made unique within the request (Kimi reuses ``functions.name:0`` in every turn);
  tool names likewise by :func:`adapters._convert.safe_name` (mapped back in the reply);
- tools named in the history are defined in ``tools`` even when the caller offers none, and
  then ``tool_choice`` is ``{"type": "none"}`` so the model cannot call them.

A turn converts only the messages it has not sent before: the turns of the part of the
conversation a request shares with an earlier one are reused (:class:`adapters.message_memo.SentPrefixes`,
with the tool ids sent so far) and the blocks of each message without tool calls or results
are memoised (:class:`adapters.message_memo.MessageMemo`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from store.schema import Message, ToolCall

from . import _convert as cv
from ._convert import CONTINUE_PLACEHOLDER, arguments_object, content_text, safe_id, safe_name
from .base import ChatReply, ChatRequest
from .http_adapter import HttpAdapter
from .message_memo import MessageMemo, SentPrefixes
from .reasoning import ReasoningPlan, anthropic_plan
from .stream_assembly import AnthropicStream
from .turns import SentHistory, Turn, TurnShape

ANTHROPIC_VERSION = "2023-06-01"
HISTORY_TOOL_DESCRIPTION = "A tool used earlier in this conversation (not available now)."
_TURNS = TurnShape("content", lambda block: block["type"] == "tool_result", {"type": "text", "text": CONTINUE_PLACEHOLDER})
# The blocks of each stored message without tool calls or results (they depend on the message
# alone; those of calls and results depend on the ids sent before them in the request).
_BLOCKS: MessageMemo[list[dict[str, Any]]] = MessageMemo()
# The turns of recent requests (they depend on the messages alone): a turn converts only the
# messages after the part it shares with an earlier request.
_SENT: SentPrefixes[Turn, SentHistory] = SentPrefixes()


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


def _document(attachment: dict[str, Any]) -> dict[str, Any]:
    """An attached file as a plain-text ``document`` block titled with its path."""
    return {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": attachment["body"]},
        "title": str(attachment.get("path") or "attached file"),
    }


@dataclass(kw_only=True, eq=False, repr=False)
class AnthropicAdapter(HttpAdapter):
    """An :class:`~adapters.base.Adapter` for the Anthropic Messages API."""

    provider: str = "anthropic"
    key_variable: str | None = "ANTHROPIC_API_KEY"

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1/messages"

    def endpoint(self, request: ChatRequest) -> str:
        return self.url

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key or "", "anthropic-version": ANTHROPIC_VERSION}

    def new_assembler(self) -> AnthropicStream:
        return AnthropicStream(self.provider)

    def stream_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "stream": True}

    # ----------------------------------------------------------------- request
    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body sent for ``request`` (pure; no I/O)."""
        model = self.upstream_model or request.model
        system, history = cv.split_system(request.messages, request.system)
        turns, sent = _SENT.converted(None, history, self._turns, SentHistory(), _TURNS.join)
        turns = _TURNS.finish(turns)
        last = turns[-1]
        if last["role"] == "assistant" and last["content"][-1]["type"] == "text":
            # A final assistant turn is a prefill, which must not end with whitespace (a copy:
            # the turns are shared with the memos).
            final = {**last["content"][-1], "text": last["content"][-1]["text"].rstrip()}
            turns = [*turns[:-1], {"role": "assistant", "content": [*last["content"][:-1], final]}]

        plan = self.reasoning_plan(request)
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": plan.max_tokens or request.max_tokens or default_max_tokens(model),
            "messages": turns,
        }
        if system:
            body["system"] = system
        if request.temperature is not None and plan.send_temperature:
            body["temperature"] = min(max(request.temperature, 0.0), 1.0)
        body.update(plan.fields)
        tools = [
            {"name": safe_name(tool.name), **cv.described(tool.description), "input_schema": tool.parameters}
            for tool in request.tools
        ]
        tools += [
            {"name": name, "description": HISTORY_TOOL_DESCRIPTION, "input_schema": {"type": "object"}}
            for name in cv.undeclared_tools((tool["name"] for tool in tools), sent.tool_names)
        ]
        if tools:
            body["tools"] = tools
            if not request.tools:
                body["tool_choice"] = {"type": "none"}
        return body

    def reasoning_plan(self, request: ChatRequest) -> ReasoningPlan:
        model = self.upstream_model or request.model
        return anthropic_plan(model, request, default_max_tokens(model))

    @classmethod
    def _turns(cls, part: list[Message], before: SentHistory) -> tuple[list[Turn], SentHistory]:
        """The turns of a part of the history that follows a plain message (see SentPrefixes)."""
        normalized, renamed = cv.normalize_from(part, before.renamed)
        used_ids = set(before.tool_ids)
        turns = _TURNS.merge(cls._pieces(normalized, used_ids))
        return turns, before.after(normalized, renamed, frozenset(used_ids))

    @classmethod
    def _pieces(cls, history: list[Message], used_ids: set[str]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """(role, blocks) of each normalised message; ``used_ids`` (the ids sent before) gains the new ones."""
        current_ids: dict[str, str] = {}  # original id -> sent id, for the latest assistant tool calls
        for message in history:
            if message.role == "assistant" and message.tool_calls:
                current_ids = _unique_ids([call.id for call in message.tool_calls], used_ids)
            elif message.role != "tool":
                yield ("assistant" if message.role == "assistant" else "user"), _BLOCKS.get(message, None, cls._plain_blocks)
                continue
            yield ("assistant" if message.role == "assistant" else "user"), cls._blocks(message, current_ids)

    @classmethod
    def _plain_blocks(cls, message: Message) -> list[dict[str, Any]]:
        return cls._blocks(message, {})

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
            attachment = cv.attachment_of(part) if message.role == "user" else None
            if attachment is not None:
                blocks.append(_document(attachment))
                continue
            url = cv.image_url_of(part)
            if url and message.role == "user":
                data = cv.split_data_url(url)
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
    def read_reply(self, data: dict[str, Any], request: ChatRequest, latency_ms: float) -> ChatReply:
        return self.parse_reply(data, request.model, latency_ms, cv.sent_tool_names(request.tools))

    def parse_reply(
        self, data: dict[str, Any], model: str, latency_ms: float, names: dict[str, str] | None = None
    ) -> ChatReply:
        """Turn a Messages API answer into a ChatReply; ``names`` maps sent tool names back."""
        content = data.get("content")
        if not isinstance(content, list):
            raise self.no_reply(f"content: {data.get('error') or data.get('type')}")
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
        usage = cv.usage_from(data.get("usage"), "input_tokens", "output_tokens", drop_none=True)
        extra: dict[str, Any] = {"thinking": "\n".join(thinking)} if thinking else {}
        return ChatReply(text="".join(texts), tool_calls=calls, usage=usage, finish_reason=data.get("stop_reason"),
                         latency_ms=latency_ms, model=model, provider=self.provider, provider_extra=extra)
