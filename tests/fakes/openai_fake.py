"""A loopback fake of the OpenAI chat completions API (also Moonshot/Kimi, DeepSeek, OpenRouter, Ollama).

Endpoint ``POST {base_url}/chat/completions`` with ``Authorization: Bearer <key>`` (not checked
when ``api_key`` is None, like Ollama). It rejects (400) what the real API rejects: unknown
roles, a ``tool`` message that does not answer a ``tool_calls`` id of the assistant message it
follows, an assistant ``tool_calls`` id left unanswered, non-string or non-JSON
``function.arguments``, an assistant message with neither content nor tool calls, malformed
tool definitions or content parts, a non-boolean ``stream`` and ``stream_options`` without
``stream: true``. Reasoning settings are checked per model family, as each real API does:
``reasoning_effort`` only for OpenAI reasoning models (not ``o1-mini``,
``o1-preview``, ``gpt-5-chat*``; no ``temperature`` with them either) and DeepSeek, ``thinking``
(``{type: enabled|disabled}``) only for DeepSeek and Kimi K2.5/K2.6, ``reasoning`` (OpenRouter's
``{effort}``) only for routed ``vendor/model`` names. With thinking on, a DeepSeek or Kimi
default reply carries ``reasoning_content`` (:data:`REASONING_TEXT`).

With ``stream: true`` the answer is sent as ``chat.completion.chunk`` events as OpenAI sends them:
a first chunk with the role, reasoning then text deltas, tool calls (id and name first, then the
arguments in pieces, by ``index``), a last chunk with ``finish_reason``, then — when
``stream_options.include_usage`` — a chunk with empty ``choices`` and the ``usage`` (``"usage":
null`` in the others), then ``data: [DONE]``. For ``kimi-*``/``moonshot-*`` models (or with
``usage_in_choice = True``) it answers as Moonshot does: the usage in the last chunk's choice.

It also rejects an ``image_url`` that is neither https nor a base64 data URL of a
png/jpeg/gif/webp whose bytes are that type, and images sent to a text-only model
(:data:`TEXT_ONLY_MODELS`).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from ._base import FakeProvider, RequestRejected, echo_text, iter_dicts, require, sniff_image, split_data_url, sse

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ROLES = {"system", "developer", "user", "assistant", "tool"}
REASONING_TEXT = "fake reasoning: thinking it over"
_OPENAI_REASONING = re.compile(r"^(o\d|gpt-5)")
_OPENAI_NO_EFFORT = re.compile(r"^(o1-mini|o1-preview|gpt-5-chat)")
_KIMI_SWITCHABLE = re.compile(r"^kimi-k2\.[56]")
_EFFORTS = {
    "openai": ("minimal", "low", "medium", "high"),
    "deepseek": ("minimal", "low", "medium", "high", "xhigh", "max"),
    "openrouter": ("minimal", "low", "medium", "high"),
}
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
#: model-name prefixes that take text only (DeepSeek's chat API answers image parts with this error)
TEXT_ONLY_MODELS = ("deepseek-", "o1-mini", "gpt-3.5")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


class FakeOpenAI(FakeProvider):
    """OpenAI-compatible chat completions on 127.0.0.1. ``prefix`` is the API path ("/v1")."""

    name = "openai"
    _STREAMED_EXTRA = ("reasoning_content", "reasoning", "refusal")

    def __init__(self, api_key: str | None = "test-key", prefix: str = "/v1") -> None:
        super().__init__(api_key)
        self.prefix = prefix.rstrip("/")
        self.usage_in_choice = False
        #: what ``GET {prefix}/models`` lists (``{"id": ..., ...}`` entries); None: no such endpoint (404)
        self.models: list[dict[str, Any]] | None = None

    @property
    def base_url(self) -> str:
        """Put this in ``OPENAI_BASE_URL`` / ``MOONSHOT_BASE_URL`` / ... (``/chat/completions`` is appended)."""
        return self.origin + self.prefix

    # ----------------------------------------------------------------- helpers for tests
    def enqueue_reply(
        self,
        text: str | None = "ok",
        *,
        tool_calls: list[dict[str, Any]] | None = None,
        finish_reason: str | None = None,
        usage: tuple[int, int] = (10, 5),
        model: str = "fake-model",
        extra_message: dict[str, Any] | None = None,
        delay: float = 0.0,
        event_delay: float | None = None,
        cut_after: int | None = None,
    ) -> None:
        """Queue a successful completion. ``tool_calls`` items: {id, name, arguments (object or str)}."""
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if tool_calls:
            message["tool_calls"] = [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": call["arguments"]
                        if isinstance(call["arguments"], str)
                        else json.dumps(call["arguments"]),
                    },
                }
                for call in tool_calls
            ]
        message.update(extra_message or {})
        self.enqueue(
            self.completion(message, finish_reason or ("tool_calls" if tool_calls else "stop"), usage, model),
            delay=delay,
            event_delay=event_delay,
            cut_after=cut_after,
        )

    @staticmethod
    def completion(message: dict[str, Any], finish_reason: str, usage: tuple[int, int], model: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
        }

    # ----------------------------------------------------------------- FakeProvider hooks
    def wants_stream(self, body: Any, params: dict[str, str], query: dict[str, list[str]]) -> bool:
        return body.get("stream") is True

    def streamable(self, answer: dict[str, Any]) -> bool:
        return isinstance(answer.get("choices"), list) and bool(answer["choices"])

    def stream_events(
        self, answer: dict[str, Any], body: Any, params: dict[str, str], query: dict[str, list[str]]
    ) -> list[bytes]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        choice = answer["choices"][0]
        message = choice["message"]
        head = {key: answer[key] for key in ("id", "created", "model") if key in answer}
        head["object"] = "chat.completion.chunk"

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
            data: dict[str, Any] = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, **extra}]}
            if include_usage:
                data["usage"] = None
            return sse(data)

        events = [chunk({"role": "assistant", "content": ""})]
        for key in self._STREAMED_EXTRA:
            if isinstance(message.get(key), str):
                events += [chunk({key: piece}) for piece in self.pieces(message[key])]
        events += [chunk({"content": piece}) for piece in self.pieces(message.get("content") or "")]
        for index, call in enumerate(message.get("tool_calls") or []):
            first = {"index": index, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}
            events.append(chunk({"tool_calls": [first]}))
            events += [
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                for piece in self.pieces(call["function"]["arguments"])
            ]
        moonshot = self.usage_in_choice or str(body.get("model", "")).startswith(("kimi-", "moonshot-"))
        last_extra = {"usage": answer["usage"]} if moonshot and "usage" in answer else {}
        events.append(chunk({}, choice["finish_reason"], **last_extra))
        if include_usage and "usage" in answer:
            events.append(sse({**head, "choices": [], "usage": answer["usage"]}))
        events.append(sse("[DONE]"))
        return events

    def route(self, method: str, path: str) -> dict[str, str] | None:
        if method == "POST" and path == f"{self.prefix}/chat/completions":
            return {}
        if method == "GET" and path == f"{self.prefix}/models" and self.models is not None:
            return {"listing": "models"}
        return None

    def check_auth(self, headers: dict[str, str], query: dict[str, list[str]]) -> None:
        if self.api_key is None:
            return
        if headers.get("authorization") != f"Bearer {self.api_key}":
            raise RequestRejected("Incorrect API key provided", status=401)

    def error_body(self, status: int, message: str) -> Any:
        kind = "authentication_error" if status == 401 else "invalid_request_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}

    def default_reply(self, body: Any, params: dict[str, str]) -> Any:
        if params.get("listing"):
            return {"object": "list", "data": self.models}
        last_user = next((m for m in reversed(body["messages"]) if m.get("role") == "user"), None)
        text = echo_text(_text_of(last_user.get("content")) if last_user else "")
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if (body.get("thinking") or {}).get("type") == "enabled":
            message["reasoning_content"] = REASONING_TEXT
        return self.completion(message, "stop", (10, 5), body["model"])

    def validate(self, body: Any, params: dict[str, str], headers: dict[str, str]) -> None:
        if params.get("listing"):
            require(body is None, "GET /models takes no body")
            return
        require(isinstance(body.get("model"), str) and body["model"], "'model' is required")
        messages = body.get("messages")
        require(isinstance(messages, list) and messages, "'messages' must be a non-empty array")
        unanswered: list[str] = []  # tool_call ids of the last assistant message not yet answered
        answerable: set[str] = set()
        for index, message in enumerate(iter_dicts(messages)):
            where = f"messages[{index}]"
            role = message.get("role")
            require(role in _ROLES, f"{where}: invalid role {role!r}")
            if role != "tool":
                require(
                    not unanswered,
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                    f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(unanswered)}",
                )
                answerable = set()
            content = message.get("content")
            self._check_content(where, role, content, body["model"])
            if role == "assistant":
                calls = message.get("tool_calls")
                if calls is not None:
                    require(isinstance(calls, list) and calls, f"{where}.tool_calls must be a non-empty array")
                    for call in iter_dicts(calls):
                        self._check_tool_call(where, call)
                    unanswered = [call["id"] for call in calls]
                    answerable = set(unanswered)
                require(
                    content not in (None, "") or calls,
                    f"{where}: assistant content is required unless tool_calls is given",
                )
            elif role == "tool":
                call_id = message.get("tool_call_id")
                require(
                    isinstance(call_id, str) and call_id in answerable,
                    f"{where}: messages with role 'tool' must be a response to a preceding message with 'tool_calls' "
                    f"(tool_call_id {call_id!r} answers none)",
                )
                if call_id in unanswered:
                    unanswered.remove(call_id)
            else:
                require(content is not None, f"{where}: content is required for role {role!r}")
        require(
            not unanswered,
            f"tool_call_ids did not have response messages: {', '.join(unanswered)}",
        )
        tools = body.get("tools")
        if tools is not None:
            for tool in iter_dicts(tools):
                function = tool.get("function")
                require(tool.get("type") == "function" and isinstance(function, dict), "tools[].type must be 'function'")
                require(
                    isinstance(function.get("name"), str) and bool(_TOOL_NAME.match(function["name"])),
                    f"invalid tool name {function.get('name')!r}",
                )
                if "parameters" in function:
                    require(isinstance(function["parameters"], dict), "tools[].function.parameters must be an object")
        choice = body.get("tool_choice")
        if choice is not None:
            require(choice in ("none", "auto", "required") or isinstance(choice, dict), "invalid tool_choice")
            require(bool(tools) or choice == "none", "tool_choice is only allowed when tools are specified")
        if "stream" in body:
            require(isinstance(body["stream"], bool), "stream must be a boolean")
        if "stream_options" in body:
            require(body.get("stream") is True, "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
            options = body["stream_options"]
            require(isinstance(options, dict), "stream_options must be an object")
            require(isinstance(options.get("include_usage", False), bool), "stream_options.include_usage must be a boolean")
        if "max_tokens" in body:
            require(isinstance(body["max_tokens"], int) and body["max_tokens"] > 0, "max_tokens must be a positive integer")
        if "temperature" in body:
            temperature = body["temperature"]
            require(isinstance(temperature, (int, float)) and 0 <= temperature <= 2, "temperature must be in [0, 2]")
        self._check_reasoning(body)

    @staticmethod
    def _check_reasoning(body: dict[str, Any]) -> None:
        model = body["model"]
        openai_reasoning = bool(_OPENAI_REASONING.match(model))
        if openai_reasoning and not model.startswith("gpt-5-chat"):
            require("temperature" not in body or body["temperature"] == 1,
                    f"Unsupported value: 'temperature' does not support {body.get('temperature')} with this model. Only the default (1) value is supported.")
        family = ("openai" if openai_reasoning and not _OPENAI_NO_EFFORT.match(model)
                  else "deepseek" if model.startswith("deepseek-") else "openrouter" if "/" in model else None)
        if "reasoning_effort" in body:
            require(family in ("openai", "deepseek"), f"Unsupported parameter: 'reasoning_effort' is not supported with this model ({model}).")
            allowed = _EFFORTS[family]  # type: ignore[index]
            require(body["reasoning_effort"] in allowed,
                    f"Invalid value for 'reasoning_effort': {body['reasoning_effort']!r}; supported values are {', '.join(allowed)}.")
        if "thinking" in body:
            require(model.startswith("deepseek-") or bool(_KIMI_SWITCHABLE.match(model)),
                    f"Unrecognized request argument supplied: thinking ({model})")
            thinking = body["thinking"]
            require(isinstance(thinking, dict) and thinking.get("type") in ("enabled", "disabled"),
                    "thinking.type must be 'enabled' or 'disabled'")
        if "reasoning" in body:
            require(family == "openrouter", f"Unrecognized request argument supplied: reasoning ({model})")
            reasoning = body["reasoning"]
            require(isinstance(reasoning, dict), "reasoning must be an object")
            require(not ("effort" in reasoning and "max_tokens" in reasoning), "reasoning: use effort or max_tokens, not both")
            if "effort" in reasoning:
                require(reasoning["effort"] in _EFFORTS["openrouter"], f"reasoning.effort {reasoning['effort']!r} is not valid")

    @staticmethod
    def _check_image(where: str, image: Any, model: str) -> None:
        require(isinstance(image, dict), f"{where}: image_url must be an object")
        require(
            not model.startswith(TEXT_ONLY_MODELS),
            f"Failed to deserialize the JSON body into the target type: {where}: unknown variant `image_url`, expected `text`",
        )
        url = image.get("url")
        if isinstance(url, str) and url.startswith("https://"):
            return
        media_type, data = split_data_url(f"{where}.image_url.url", url)
        require(media_type in _IMAGE_TYPES, f"{where}: Invalid MIME type {media_type!r}: only image/png, jpeg, gif and webp are supported")
        require(sniff_image(data) == media_type, f"{where}: You uploaded an unsupported image. Please make sure your image is valid.")
        if "detail" in image:
            require(image["detail"] in ("auto", "low", "high"), f"{where}: image_url.detail must be auto, low or high")

    @classmethod
    def _check_content(cls, where: str, role: str, content: Any, model: str = "") -> None:
        if content is None or isinstance(content, str):
            return
        require(isinstance(content, list), f"{where}.content must be a string, an array of parts or null")
        for part in iter_dicts(content):
            kind = part.get("type")
            if kind == "text":
                require(isinstance(part.get("text"), str), f"{where}: a text part needs a string 'text'")
            elif kind == "image_url":
                require(role == "user", f"{where}: image parts are only allowed in user messages")
                cls._check_image(where, part.get("image_url"), model)
            else:
                raise RequestRejected(f"{where}: unsupported content part type {kind!r}")

    @staticmethod
    def _check_tool_call(where: str, call: dict[str, Any]) -> None:
        function = call.get("function")
        require(isinstance(call.get("id"), str) and call["id"], f"{where}: tool_calls[].id is required")
        require(call.get("type") == "function", f"{where}: tool_calls[].type must be 'function'")
        require(isinstance(function, dict) and isinstance(function.get("name"), str), f"{where}: function.name required")
        arguments = function.get("arguments")
        require(isinstance(arguments, str), f"{where}: function.arguments must be a string (JSON), got {type(arguments).__name__}")
        try:
            json.loads(arguments)
        except ValueError:
            raise RequestRejected(f"{where}: function.arguments is not valid JSON") from None
