"""A loopback fake of the Anthropic Messages API.

Endpoint ``POST {base_url}/v1/messages`` with ``x-api-key`` (401 otherwise) and an
``anthropic-version`` header (400 without). It rejects (400) what the real API rejects: a
``system`` role inside ``messages``, missing ``max_tokens``, a first turn that is not ``user``,
consecutive turns of the same role, empty or whitespace-only text blocks, ``tool_use`` outside
assistant turns or without an ``input`` object, a ``tool_use`` not answered by ``tool_result``
blocks placed first in the very next user turn, a ``tool_result`` answering no ``tool_use`` of
the previous assistant turn, ``tool_use``/``tool_result`` blocks in a request without ``tools``,
tool ids not matching ``^[a-zA-Z0-9_-]+$``, a ``tool_use`` id used twice in one request, and a
non-boolean ``stream``.

With ``stream: true`` the answer is sent as Anthropic's events: ``message_start`` (usage with the
input tokens), ``ping``, per block ``content_block_start`` / ``content_block_delta``
(``text_delta``, ``input_json_delta`` with the input JSON in pieces, ``thinking_delta`` and
``signature_delta``) / ``content_block_stop``, then ``message_delta`` (stop reason, output tokens)
and ``message_stop``.

Extended ``thinking`` is checked as the real API checks it: ``type`` enabled/disabled, a
``budget_tokens`` of at least 1024 and below ``max_tokens``, no ``temperature`` (other than 1),
``top_k`` or forced ``tool_choice`` with it, and no thinking on models before Claude 3.7;
``max_tokens`` may not exceed a known model's output limit. With thinking enabled the default
reply starts with a ``thinking`` block (:data:`THINKING_TEXT`).

It also rejects image blocks whose base64 source is not one of jpeg/png/gif/webp, does not
decode, is over 5 MB or does not match its ``media_type``, and malformed ``document`` blocks.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ._base import FakeProvider, RequestRejected, decode_base64, echo_text, iter_dicts, require, sniff_image, sse

_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
THINKING_TEXT = "fake thinking: weighing the question"
# Output-token limits of the model families the real API publishes (prefix -> max_tokens).
_MAX_OUTPUT = (
    ("claude-opus-4", 32_000), ("claude-sonnet-4", 64_000), ("claude-haiku-4", 64_000), ("claude-3-7-sonnet", 64_000),
    ("claude-3-5-", 8192), ("claude-3-", 4096),
)
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_IMAGE_BASE64 = 5 * 1024 * 1024


class FakeAnthropic(FakeProvider):
    """Anthropic Messages on 127.0.0.1. Put ``base_url`` in ``ANTHROPIC_BASE_URL``."""

    name = "anthropic"

    def enqueue_reply(
        self,
        text: str | None = "ok",
        *,
        tool_uses: list[dict[str, Any]] | None = None,
        stop_reason: str | None = None,
        usage: tuple[int, int] = (10, 5),
        model: str = "claude-fake",
        delay: float = 0.0,
        event_delay: float | None = None,
        cut_after: int | None = None,
    ) -> None:
        """Queue a successful message. ``tool_uses`` items: {id, name, input (object)}."""
        content: list[dict[str, Any]] = []
        if text:
            content.append({"type": "text", "text": text})
        for use in tool_uses or []:
            content.append({"type": "tool_use", "id": use["id"], "name": use["name"], "input": use["input"]})
        self.enqueue(self.message(content, stop_reason or ("tool_use" if tool_uses else "end_turn"), usage, model), delay=delay,
                     event_delay=event_delay, cut_after=cut_after)

    @staticmethod
    def message(content: list[dict[str, Any]], stop_reason: str, usage: tuple[int, int], model: str) -> dict[str, Any]:
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
        }

    # ----------------------------------------------------------------- FakeProvider hooks
    def wants_stream(self, body: Any, params: dict[str, str], query: dict[str, list[str]]) -> bool:
        return body.get("stream") is True

    def streamable(self, answer: dict[str, Any]) -> bool:
        return isinstance(answer.get("content"), list)

    def stream_events(
        self, answer: dict[str, Any], body: Any, params: dict[str, str], query: dict[str, list[str]]
    ) -> list[bytes]:
        usage = dict(answer.get("usage") or {})
        start = {**answer, "content": [], "stop_reason": None, "stop_sequence": None,
                 "usage": {**usage, "output_tokens": min(1, usage.get("output_tokens", 1))}}
        events = [sse({"type": "message_start", "message": start}, "message_start"), sse({"type": "ping"}, "ping")]
        for index, block in enumerate(answer["content"]):
            kind = block["type"]
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}} if kind == "tool_use" else (
                {"type": kind, kind: ""} if kind in ("text", "thinking") else dict(block))
            events.append(sse({"type": "content_block_start", "index": index, "content_block": opening}, "content_block_start"))
            if kind == "text":
                deltas = [{"type": "text_delta", "text": piece} for piece in self.pieces(block["text"])]
            elif kind == "thinking":
                deltas = [{"type": "thinking_delta", "thinking": piece} for piece in self.pieces(block["thinking"])]
                if block.get("signature"):
                    deltas.append({"type": "signature_delta", "signature": block["signature"]})
            elif kind == "tool_use":
                deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in self.pieces(json.dumps(block["input"]))]
            else:
                deltas = []
            events += [sse({"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta") for delta in deltas]
            events.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        final_usage = {"output_tokens": usage.get("output_tokens", 0)}
        delta = {"stop_reason": answer.get("stop_reason"), "stop_sequence": answer.get("stop_sequence")}
        events.append(sse({"type": "message_delta", "delta": delta, "usage": final_usage}, "message_delta"))
        events.append(sse({"type": "message_stop"}, "message_stop"))
        return events

    def route(self, method: str, path: str) -> dict[str, str] | None:
        return {} if method == "POST" and path == "/v1/messages" else None

    def check_auth(self, headers: dict[str, str], query: dict[str, list[str]]) -> None:
        if headers.get("x-api-key") != self.api_key:
            raise RequestRejected("invalid x-api-key", status=401)
        if not headers.get("anthropic-version"):
            raise RequestRejected("anthropic-version: header is required")

    def error_body(self, status: int, message: str) -> Any:
        kind = {401: "authentication_error", 404: "not_found_error"}.get(status, "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def default_reply(self, body: Any, params: dict[str, str]) -> Any:
        text = ""
        for message in reversed(body["messages"]):
            if message["role"] != "user":
                continue
            content = message["content"]
            if isinstance(content, str):
                text = content
                break
            texts = [b["text"] for b in content if b.get("type") == "text"]
            if texts:  # a turn of only tool results is not what the user said
                text = "\n".join(texts)
                break
        content = [{"type": "text", "text": echo_text(text)}]
        if (body.get("thinking") or {}).get("type") == "enabled":
            content.insert(0, {"type": "thinking", "thinking": THINKING_TEXT, "signature": "fake-signature"})
        return self.message(content, "end_turn", (10, 5), body["model"])

    def validate(self, body: Any, params: dict[str, str], headers: dict[str, str]) -> None:
        require(isinstance(body.get("model"), str) and body["model"], "model: Field required")
        max_tokens = body.get("max_tokens")
        require(isinstance(max_tokens, int) and max_tokens >= 1, "max_tokens: Field required")
        system = body.get("system")
        if system is not None:
            if isinstance(system, list):
                for block in iter_dicts(system):
                    self._check_text(block, "system")
            else:
                require(isinstance(system, str), "system: Input should be a valid string or list of text blocks")
        tools = body.get("tools")
        if tools is not None:
            for tool in iter_dicts(tools):
                require(
                    isinstance(tool.get("name"), str) and bool(_TOOL_NAME.match(tool["name"])),
                    f"tools.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$' ({tool.get('name')!r})",
                )
                require(isinstance(tool.get("input_schema"), dict), "tools.input_schema: Field required")
        choice = body.get("tool_choice")
        if choice is not None:
            require(isinstance(choice, dict) and choice.get("type") in ("auto", "any", "tool", "none"), "invalid tool_choice")
            if choice["type"] == "tool":
                require(isinstance(choice.get("name"), str), "tool_choice.name: Field required")
        if "temperature" in body:
            temperature = body["temperature"]
            require(isinstance(temperature, (int, float)) and 0 <= temperature <= 1, "temperature: must be in [0, 1]")
        if "stream" in body:
            require(isinstance(body["stream"], bool), "stream: Input should be a valid boolean")
        model = body["model"]
        limit = next((most for prefix, most in _MAX_OUTPUT if model.startswith(prefix)), None)
        require(
            limit is None or max_tokens <= limit,
            f"max_tokens: {max_tokens} > {limit}, which is the maximum allowed number of output tokens for {model}",
        )
        self._check_thinking(body)

        messages = body.get("messages")
        require(isinstance(messages, list) and messages, "messages: at least one message is required")
        has_tool_blocks = False
        previous_role: str | None = None
        pending_uses: list[str] = []  # tool_use ids of the previous assistant turn
        seen_uses: set[str] = set()  # every tool_use id in the request (must be unique)
        for index, message in enumerate(iter_dicts(messages)):
            where = f"messages.{index}"
            role = message.get("role")
            require(role in ("user", "assistant"), f"{where}.role: Input should be 'user' or 'assistant' (got {role!r})")
            if index == 0:
                require(role == "user", "messages: first message must use the \"user\" role")
            require(role != previous_role, f"messages: roles must alternate between \"user\" and \"assistant\" ({where})")
            content = message.get("content")
            blocks: list[dict[str, Any]]
            if isinstance(content, str):
                require(content.strip() != "", f"{where}: text content blocks must be non-empty")
                blocks = []
            else:
                require(isinstance(content, list) and content, f"{where}.content: must be a non-empty string or array")
                blocks = list(iter_dicts(content))
            if role == "user":
                results = []
                seen_other = False
                for block in blocks:
                    if block.get("type") == "tool_result":
                        has_tool_blocks = True
                        require(
                            not seen_other,
                            f"{where}: tool_result blocks must come FIRST in the content array, before any other content",
                        )
                        use_id = block.get("tool_use_id")
                        require(isinstance(use_id, str) and bool(_ID.match(use_id)),
                                f"{where}.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$' ({use_id!r})")
                        require(
                            use_id in pending_uses,
                            f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: {use_id}. Each `tool_result` "
                            "block must have a corresponding `tool_use` block in the previous message.",
                        )
                        results.append(use_id)
                        self._check_result_content(where, block.get("content"))
                    else:
                        seen_other = True
                        self._check_block(where, block, role)
                missing = [use_id for use_id in pending_uses if use_id not in results]
                require(
                    not missing,
                    f"{where}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                    f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                )
                pending_uses = []
            else:
                require(
                    not pending_uses,
                    f"{where}: `tool_use` ids were found without `tool_result` blocks immediately after: {', '.join(pending_uses)}",
                )
                for block in blocks:
                    if block.get("type") == "tool_use":
                        has_tool_blocks = True
                        use_id = block.get("id")
                        require(isinstance(use_id, str) and bool(_ID.match(use_id)),
                                f"{where}.id: String should match pattern '^[a-zA-Z0-9_-]+$' ({use_id!r})")
                        require(isinstance(block.get("name"), str) and block["name"], f"{where}: tool_use.name required")
                        require(isinstance(block.get("input"), dict), f"{where}: tool_use.input: Input should be a valid dictionary")
                        require(use_id not in seen_uses, f"{where}: `tool_use` ids must be unique")
                        seen_uses.add(use_id)
                        pending_uses.append(use_id)
                    else:
                        self._check_block(where, block, role)
            previous_role = role
        require(
            not pending_uses,
            f"`tool_use` ids were found without `tool_result` blocks immediately after: {', '.join(pending_uses)}",
        )
        if has_tool_blocks:
            require(bool(tools), "Requests which include `tool_use` or `tool_result` blocks must define tools.")

    @staticmethod
    def _check_thinking(body: dict[str, Any]) -> None:
        if "thinking" not in body:
            return
        thinking = body["thinking"]
        require(isinstance(thinking, dict) and thinking.get("type") in ("enabled", "disabled"),
                "thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled'")
        if thinking["type"] == "disabled":
            return
        model = body["model"]
        require(not model.startswith(("claude-2", "claude-instant", "claude-3-")) or model.startswith("claude-3-7"),
                f"thinking: extended thinking is not supported by {model}")
        budget = thinking.get("budget_tokens")
        require(isinstance(budget, int) and not isinstance(budget, bool), "thinking.enabled.budget_tokens: Field required")
        require(budget >= 1024, "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        require(body["max_tokens"] > budget, "`max_tokens` must be greater than `thinking.budget_tokens`")
        require(body.get("temperature", 1) == 1, "`temperature` may only be set to 1 when thinking is enabled")
        require("top_k" not in body, "`top_k` must be unset when thinking is enabled")
        choice = body.get("tool_choice")
        require(not isinstance(choice, dict) or choice.get("type") in ("auto", "none"),
                "Thinking may not be enabled when tool_choice forces tool use.")

    @staticmethod
    def _check_text(block: dict[str, Any], where: str) -> None:
        require(block.get("type") == "text", f"{where}: expected a text block")
        text = block.get("text")
        require(isinstance(text, str), f"{where}: text: Field required")
        require(text.strip() != "", f"{where}: text content blocks must contain non-whitespace text")

    def _check_block(self, where: str, block: dict[str, Any], role: str) -> None:
        kind = block.get("type")
        if kind == "text":
            self._check_text(block, where)
        elif kind == "image":
            require(role == "user", f"{where}: image blocks are only allowed in user turns")
            self._check_image(where, block.get("source"))
        elif kind == "document":
            require(role == "user", f"{where}: document blocks are only allowed in user turns")
            self._check_document(where, block)
        elif kind == "tool_use":
            raise RequestRejected(f"{where}: tool_use blocks are only allowed in assistant turns")
        elif kind == "tool_result":
            raise RequestRejected(f"{where}: tool_result blocks are only allowed in user turns")
        else:
            raise RequestRejected(f"{where}: unsupported content block type {kind!r}")

    @staticmethod
    def _check_image(where: str, source: Any) -> None:
        require(isinstance(source, dict), f"{where}: image.source: Field required")
        kind = source.get("type")
        if kind == "url":
            require(isinstance(source.get("url"), str) and source["url"].startswith("https://"), f"{where}: image.source.url must be https")
            return
        require(kind == "base64", f"{where}: image.source.type: Input should be 'base64' or 'url'")
        media_type = source.get("media_type")
        require(
            media_type in _IMAGE_TYPES,
            f"{where}: image.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
        )
        data = source.get("data")
        require(not isinstance(data, str) or len(data) <= MAX_IMAGE_BASE64, f"{where}: image exceeds 5 MB maximum")
        decoded = decode_base64(f"{where}.source.data", data)
        require(sniff_image(decoded) == media_type, f"{where}: Image does not match the provided media type {media_type}")

    @staticmethod
    def _check_document(where: str, block: dict[str, Any]) -> None:
        source = block.get("source")
        require(isinstance(source, dict), f"{where}: document.source: Field required")
        kind = source.get("type")
        if kind == "text":
            require(source.get("media_type") == "text/plain", f"{where}: document.source.media_type: Input should be 'text/plain'")
            require(isinstance(source.get("data"), str) and source["data"].strip() != "", f"{where}: document.source.data must be non-empty text")
        elif kind == "base64":
            require(source.get("media_type") == "application/pdf", f"{where}: document.source.media_type: Input should be 'application/pdf'")
            decode_base64(f"{where}.source.data", source.get("data"))
        else:
            raise RequestRejected(f"{where}: document.source.type: Input should be 'text', 'base64', 'content' or 'url'")
        if "title" in block:
            require(isinstance(block["title"], str) and 0 < len(block["title"]) <= 500, f"{where}: document.title must be 1-500 characters")

    def _check_result_content(self, where: str, content: Any) -> None:
        if content is None or isinstance(content, str):
            return
        for block in iter_dicts(content):
            require(block.get("type") in ("text", "image"), f"{where}: tool_result content must be text or image blocks")
            if block.get("type") == "text":
                self._check_text(block, where)
