"""A loopback fake of the Gemini ``generateContent`` API (v1beta).

Endpoint ``POST {base_url}/v1beta/models/{model}:generateContent`` with the key in the
``x-goog-api-key`` header (or ``?key=``; 401 otherwise). It rejects (400) what the real API
rejects: roles other than ``user``/``model``, empty ``parts`` or empty text, a part with no or
several data fields, ``functionCall`` outside model turns, ``functionResponse`` outside user
turns or not answering (by name and count) the ``functionCall`` parts of the turn right before
it, non-object ``args``/``response``, malformed ``systemInstruction`` or tool declarations, and
(for ``gemini-3*`` models, like the real API) a functionCall turn in the current exchange whose
first ``functionCall`` part carries no ``thoughtSignature``. ``generationConfig.thinkingConfig``
is checked like the real one: known fields only, never ``thinkingLevel`` and
``thinkingBudget`` together, ``thinkingLevel`` only on Gemini 3 (Pro: low/high), budgets within
each Gemini 2.5 model's range, no thinking on models without it. With ``includeThoughts`` the
default reply starts with a thought part (:data:`THOUGHT_TEXT`).

``POST .../models/{model}:streamGenerateContent`` takes the same request: with ``?alt=sse`` the
answer comes as server-sent events, each ``data:`` a whole ``GenerateContentResponse`` holding
the next piece of text (function calls whole, in a chunk of their own), ``usageMetadata`` on
every chunk and ``finishReason`` on the last (there is no ``[DONE]``); without ``alt=sse`` the
same chunks come as one JSON array, as the real API sends them.

It also rejects ``inlineData`` whose ``mimeType`` is not a documented image type (GIF is not
one), whose data is not base64 or whose bytes are not that type.
"""

from __future__ import annotations

import re
from typing import Any

import json

from ._base import FakeProvider, RequestRejected, decode_base64, echo_text, iter_dicts, require, sniff_image, sse

_ROUTE = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$")
_DATA_FIELDS = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult")
_FUNCTION_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$")
THOUGHT_TEXT = "fake thought summary"
_THINKING_FIELDS = frozenset({"thinkingBudget", "thinkingLevel", "includeThoughts"})
# Gemini 2.5 thinking budgets: (prefix, lowest positive budget, highest, may thinking be off with 0).
_BUDGETS = (("gemini-2.5-flash-lite", 512, 24576, True), ("gemini-2.5-flash", 1, 24576, True), ("gemini-2.5-pro", 128, 32768, False))
#: the image types Gemini documents (no GIF)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")


class FakeGemini(FakeProvider):
    """Gemini generateContent on 127.0.0.1. Put ``base_url`` in ``GEMINI_BASE_URL``."""

    name = "gemini"

    def enqueue_reply(
        self,
        text: str | None = "ok",
        *,
        function_calls: list[dict[str, Any]] | None = None,
        finish_reason: str = "STOP",
        usage: tuple[int, int] = (10, 5),
        delay: float = 0.0,
        event_delay: float | None = None,
        cut_after: int | None = None,
    ) -> None:
        """Queue a successful answer. ``function_calls`` items: {name, args (object), thoughtSignature?}."""
        parts: list[dict[str, Any]] = []
        if text:
            parts.append({"text": text})
        for call in function_calls or []:
            part: dict[str, Any] = {"functionCall": {"name": call["name"], "args": call["args"]}}
            if "thoughtSignature" in call:
                part["thoughtSignature"] = call["thoughtSignature"]
            parts.append(part)
        self.enqueue(self.response(parts, finish_reason, usage), delay=delay, event_delay=event_delay, cut_after=cut_after)

    @staticmethod
    def response(parts: list[dict[str, Any]], finish_reason: str, usage: tuple[int, int]) -> dict[str, Any]:
        return {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish_reason, "index": 0}],
            "usageMetadata": {
                "promptTokenCount": usage[0],
                "candidatesTokenCount": usage[1],
                "totalTokenCount": sum(usage),
            },
            "modelVersion": "gemini-fake",
        }

    # ----------------------------------------------------------------- FakeProvider hooks
    def route(self, method: str, path: str) -> dict[str, str] | None:
        match = _ROUTE.match(path)
        return {"model": match["model"], "method": match["method"]} if method == "POST" and match else None

    def wants_stream(self, body: Any, params: dict[str, str], query: dict[str, list[str]]) -> bool:
        return params.get("method") == "streamGenerateContent"

    def streamable(self, answer: dict[str, Any]) -> bool:
        return isinstance(answer.get("candidates"), list) and bool(answer["candidates"])

    def stream_events(
        self, answer: dict[str, Any], body: Any, params: dict[str, str], query: dict[str, list[str]]
    ) -> list[bytes]:
        candidate = answer["candidates"][0]
        usage = dict(answer.get("usageMetadata") or {})
        tail = {key: answer[key] for key in ("modelVersion", "responseId") if key in answer}
        chunks: list[dict[str, Any]] = []
        for part in candidate["content"]["parts"]:
            if isinstance(part.get("text"), str):
                flags = {key: part[key] for key in ("thought",) if key in part}
                pieces = self.pieces(part["text"])
                chunks += [{"parts": [{"text": piece, **flags}]} for piece in pieces]
                if part.get("thoughtSignature") and chunks:
                    chunks[-1]["parts"][0]["thoughtSignature"] = part["thoughtSignature"]
            else:
                chunks.append({"parts": [part]})
        if not chunks:
            chunks.append({"parts": [{"text": ""}]})
        frames: list[dict[str, Any]] = []
        for index, piece in enumerate(chunks):
            running = {**usage, "candidatesTokenCount": 0 if index < len(chunks) - 1 else usage.get("candidatesTokenCount", 0)}
            frame_candidate: dict[str, Any] = {"content": {"role": "model", "parts": piece["parts"]}, "index": 0}
            if index == len(chunks) - 1:
                frame_candidate["finishReason"] = candidate.get("finishReason", "STOP")
            frames.append({"candidates": [frame_candidate], "usageMetadata": running, **tail})
        if query.get("alt") == ["sse"]:
            return [sse(frame) for frame in frames]
        return [json.dumps(frames).encode("utf-8")]

    def check_auth(self, headers: dict[str, str], query: dict[str, list[str]]) -> None:
        key = headers.get("x-goog-api-key") or (query.get("key") or [None])[0]
        if key != self.api_key:
            raise RequestRejected("API key not valid. Please pass a valid API key.", status=401)

    def error_body(self, status: int, message: str) -> Any:
        kind = {401: "UNAUTHENTICATED", 404: "NOT_FOUND"}.get(status, "INVALID_ARGUMENT")
        return {"error": {"code": status, "message": message, "status": kind}}

    def default_reply(self, body: Any, params: dict[str, str]) -> Any:
        text = ""
        for content in reversed(body["contents"]):
            if content.get("role", "user") == "user":
                texts = [p["text"] for p in content["parts"] if "text" in p]
                if texts:
                    text = "\n".join(texts)
                    break
        parts = [{"text": echo_text(text)}]
        if ((body.get("generationConfig") or {}).get("thinkingConfig") or {}).get("includeThoughts"):
            parts.insert(0, {"text": THOUGHT_TEXT, "thought": True})
        return self.response(parts, "STOP", (10, 5))

    def validate(self, body: Any, params: dict[str, str], headers: dict[str, str]) -> None:
        contents = body.get("contents")
        require(isinstance(contents, list) and contents, "* GenerateContentRequest.contents: contents is not specified")
        system = body.get("systemInstruction")
        if system is not None:
            require(isinstance(system, dict), "systemInstruction must be a Content object")
            require(system.get("role") in (None, "user", "system"), "systemInstruction.role is invalid")
            for part in iter_dicts(system.get("parts")):
                require(isinstance(part.get("text"), str) and part["text"] != "", "systemInstruction parts need text")
        tools = body.get("tools")
        if tools is not None:
            for tool in iter_dicts(tools):
                for declaration in iter_dicts(tool.get("functionDeclarations", [])):
                    name = declaration.get("name")
                    require(isinstance(name, str) and bool(_FUNCTION_NAME.match(name)), f"invalid function name {name!r}")
                    if "parameters" in declaration:
                        require(isinstance(declaration["parameters"], dict), "function parameters must be an object")
        config = body.get("generationConfig")
        if config is not None:
            require(isinstance(config, dict), "generationConfig must be an object")
            if "maxOutputTokens" in config:
                require(isinstance(config["maxOutputTokens"], int) and config["maxOutputTokens"] > 0, "bad maxOutputTokens")
            if "thinkingConfig" in config:
                self._check_thinking(config["thinkingConfig"], params.get("model", ""))

        previous_calls: list[str] = []  # functionCall names of the previous (model) turn
        for index, content in enumerate(iter_dicts(contents)):
            where = f"contents[{index}]"
            role = content.get("role")
            require(role in ("user", "model"), f"{where}: Please use a valid role: user, model. (got {role!r})")
            parts = content.get("parts")
            require(isinstance(parts, list) and parts, f"{where}: contents.parts must not be empty")
            calls: list[str] = []
            responses: list[str] = []
            for part in iter_dicts(parts):
                fields = [key for key in _DATA_FIELDS if key in part]
                require(len(fields) == 1, f"{where}: a part must have exactly one data field (got {fields})")
                kind = fields[0]
                if kind == "text":
                    require(isinstance(part["text"], str) and part["text"] != "", f"{where}: empty text parameter")
                elif kind == "inlineData":
                    self._check_inline(where, part["inlineData"])
                elif kind == "functionCall":
                    require(role == "model", f"{where}: functionCall is only allowed in model turns")
                    call = part["functionCall"]
                    require(isinstance(call, dict) and isinstance(call.get("name"), str), f"{where}: functionCall.name required")
                    require(isinstance(call.get("args", {}), dict), f"{where}: functionCall.args must be an object")
                    calls.append(call["name"])
                elif kind == "functionResponse":
                    require(role == "user", f"{where}: functionResponse is only allowed in user turns")
                    answer = part["functionResponse"]
                    require(isinstance(answer, dict) and isinstance(answer.get("name"), str), f"{where}: functionResponse.name required")
                    require(isinstance(answer.get("response"), dict), f"{where}: functionResponse.response must be an object")
                    responses.append(answer["name"])
            if responses:
                require(
                    bool(previous_calls),
                    f"{where}: Please ensure that function response turn comes immediately after a function call turn.",
                )
                require(
                    sorted(responses) == sorted(previous_calls),
                    f"{where}: Please ensure that the number of function response parts is equal to the number of "
                    f"function call parts of the function call turn (calls {previous_calls}, responses {responses}).",
                )
            elif previous_calls:
                raise RequestRejected(
                    f"{where}: Please ensure that function call turn comes immediately before a function response turn."
                )
            previous_calls = calls
        if params.get("model", "").startswith("gemini-3"):
            self._check_thought_signatures(contents)

    @staticmethod
    def _check_thinking(thinking: Any, model: str) -> None:
        require(isinstance(thinking, dict), "generationConfig.thinkingConfig must be an object")
        unknown = sorted(set(thinking) - _THINKING_FIELDS)
        require(not unknown, f'Invalid JSON payload received. Unknown name "{unknown[0] if unknown else ""}" at \'generation_config.thinking_config\'')
        if "includeThoughts" in thinking:
            require(isinstance(thinking["includeThoughts"], bool), "thinkingConfig.includeThoughts must be a boolean")
        level, budget = thinking.get("thinkingLevel"), thinking.get("thinkingBudget")
        require(level is None or budget is None, "You cannot use both thinking_level and the legacy thinking_budget parameter in the same request.")
        gemini3 = model.startswith("gemini-3")
        if level is not None:
            require(gemini3, f"Thinking level is not supported for this model ({model}); use thinkingBudget.")
            allowed = ("minimal", "low", "medium", "high") if "flash" in model else ("low", "high")
            require(isinstance(level, str) and level.lower() in allowed,
                    f"thinking_level {level!r} is not supported by {model} (use one of {', '.join(allowed)})")
            return
        if budget is None:
            return
        require(isinstance(budget, int) and not isinstance(budget, bool), "thinkingConfig.thinkingBudget must be an integer")
        if gemini3:
            return  # accepted for backwards compatibility
        span = next((item for item in _BUDGETS if model.startswith(item[0])), None)
        require(span is not None, f"Thinking is not supported for this model ({model}).")
        _, lowest, highest, can_disable = span  # type: ignore[misc]
        in_range = budget == -1 or lowest <= budget <= highest or (budget == 0 and can_disable)
        require(in_range, f"The thinking budget {budget} is invalid for {model}: use -1 or {lowest} to {highest}.")

    @staticmethod
    def _check_inline(where: str, inline: Any) -> None:
        require(isinstance(inline, dict), f"{where}: inlineData must be a Blob object")
        mime = inline.get("mimeType")
        require(mime in IMAGE_TYPES, f"{where}: Unsupported MIME type: {mime}")
        data = decode_base64(f"{where}.inlineData.data", inline.get("data"))
        if mime in ("image/png", "image/jpeg", "image/webp"):
            require(sniff_image(data) == mime, f"{where}: Unable to process input image. Please retry or report in https://developers.generativeai.google/guide/troubleshooting")

    @staticmethod
    def _check_thought_signatures(contents: list[dict[str, Any]]) -> None:
        # The "current turn" starts at the last user content that carries text (not only function responses).
        start = 0
        for index, content in enumerate(contents):
            if content["role"] == "user" and any("text" in part for part in content["parts"]):
                start = index
        for index in range(start, len(contents)):
            content = contents[index]
            if content["role"] != "model":
                continue
            first_call = next((part for part in content["parts"] if "functionCall" in part), None)
            if first_call is not None:
                require(
                    isinstance(first_call.get("thoughtSignature"), str) and first_call["thoughtSignature"] != "",
                    f"Function call `{first_call['functionCall']['name']}` in the {index}. content block is missing a "
                    "`thought_signature`.",
                )
