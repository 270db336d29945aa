"""Provider-neutral helpers the wire-format adapters share.

The key piece is :func:`normalize_history`: a stored conversation may not be a valid tool-call
sequence for a strict API (a tool call never answered because the session moved on, a tool
result whose call was compressed away, results separated from their call by a user turn).
It returns a conversation in which every assistant tool call is answered by ``tool``
messages right after it and every ``tool`` message answers a call of the assistant message
just before it — the shape all three wire formats accept — without dropping any text:
an orphan tool result becomes a user message that quotes it, an unanswered call gets a
placeholder result.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from store.schema import Message, ToolCall, Usage

from .base import ToolSpec
from .turns import TurnShape

SAFE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
SAFE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
NO_RESULT = "(no result was recorded for this tool call)"
CONTINUE_PLACEHOLDER = "(continuing the conversation)"
# The key of a text part that holds an attached file (set by ``chat.attachments.expand``):
# ``{"path", "sha256", "body"}``, ``body`` being the numbered lines. Adapters may send such a
# part in their wire format's natural shape (Anthropic: a ``document`` block); as plain text
# (the part's ``text``) it is right for every provider.
ATTACHMENT_KEY = "attachment"


def part_text(part: dict[str, Any]) -> str | None:
    """The text of a content part, or None when it is not a text-bearing part."""
    text = part.get("text")
    return text if isinstance(text, str) else None


def content_text(content: Any) -> str:
    """Plain text of a message's content: a string as is, text parts joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part_text(part) for part in content if isinstance(part, dict)]
        return "\n".join(text for text in texts if text is not None)
    return json.dumps(content, ensure_ascii=False)


def image_url_of(part: dict[str, Any]) -> str | None:
    """The URL of an OpenAI-style image part (``{"type": "image_url", "image_url": {"url": ...}}``)."""
    if part.get("type") != "image_url":
        return None
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    return url if isinstance(url, str) and url else None


def attachment_of(part: dict[str, Any]) -> dict[str, Any] | None:
    """The attached-file details of a text part (see :data:`ATTACHMENT_KEY`), or None."""
    attachment = part.get(ATTACHMENT_KEY)
    return attachment if isinstance(attachment, dict) and isinstance(attachment.get("body"), str) else None


def split_data_url(url: str) -> tuple[str, str] | None:
    """``data:<mime>;base64,<data>`` -> (mime, data); None for any other URL."""
    match = re.match(r"^data:([\w.+/-]+);base64,(.*)$", url, re.DOTALL)
    return (match[1], match[2]) if match else None


def arguments_object(arguments: Any) -> dict[str, Any]:
    """A tool call's arguments as a JSON object (what Anthropic and Gemini require).

    A JSON string is decoded; anything that is not an object is wrapped as ``{"value": ...}``.
    """
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return {"value": arguments}
    if arguments is None:
        return {}
    return arguments if isinstance(arguments, dict) else {"value": arguments}


def arguments_json(arguments: Any) -> str:
    """A tool call's arguments as a JSON string (what OpenAI requires); valid JSON strings pass unchanged."""
    if isinstance(arguments, str):
        try:
            json.loads(arguments)
            return arguments
        except ValueError:
            return json.dumps({"value": arguments}, ensure_ascii=False)
    return json.dumps({} if arguments is None else arguments, ensure_ascii=False)


def decode_arguments(raw: Any) -> Any:
    """Arguments from a reply: a JSON string is decoded to an object; undecodable text is kept as is."""
    if not isinstance(raw, str):
        return {} if raw is None else raw
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def safe_id(raw: str) -> str:
    """Map a tool-call id to ``^[a-zA-Z0-9_-]+$``, deterministically (same input, same output).

    Ids already valid are unchanged; others (Kimi's ``functions.get_weather:0``) have each
    invalid character replaced by ``_`` plus a short hash of the original, so two ids that
    differ only in punctuation never collide.
    """
    if SAFE_ID.match(raw):
        return raw
    digest = hashlib.sha1(raw.encode("utf-8")).hexdigest()[:8]
    cleaned = re.sub(r"[^a-zA-Z0-9_-]", "_", raw)[:56]
    return f"{cleaned}_{digest}"


def safe_name(raw: str) -> str:
    """Map a tool name to ``^[a-zA-Z0-9_-]{1,64}$`` (deterministic, like :func:`safe_id`)."""
    if SAFE_NAME.match(raw):
        return raw
    digest = hashlib.sha1(raw.encode("utf-8")).hexdigest()[:8]
    cleaned = re.sub(r"[^a-zA-Z0-9_-]", "_", raw)[:55] or "tool"
    return f"{cleaned}_{digest}"


def tool_result_text(message: Message) -> str:
    """The text of a ``tool`` message's result."""
    return content_text(message.content)


def normalize_history(messages: list[Message]) -> list[Message]:
    """Return ``messages`` rearranged into a valid tool-call sequence (see the module docstring).

    Also gives every tool call an id (``call_<n>`` when missing, ``<id>_<n>`` when repeated
    within its message) and a ``tool`` message its
    ``name`` from the call it answers. The input messages are not modified; those that need
    no change are returned as they are (the same objects).
    """
    return normalize_from(messages, 0)[0]


def is_plain(message: Message) -> bool:
    """Whether ``message`` is neither a tool result nor a tool call: :func:`normalize_history`
    never looks past it, so the history after it normalises on its own (:func:`normalize_from`)."""
    return message.role != "tool" and not message.tool_calls


def normalize_from(messages: list[Message], counter: int) -> tuple[list[Message], int]:
    """:func:`normalize_history` of the part of a history that follows a plain message
    (:func:`is_plain`; or the whole history, ``counter`` 0), ``counter`` being the number of
    call ids renamed before it; returns the normalised part and the new count.

    ``normalize_history(a + b) == normalize_from(a, 0)[0] + normalize_from(b, n)[0]`` when ``a``
    ends with a plain message and ``n`` is the count ``normalize_from(a, 0)`` returned.
    """
    result: list[Message] = []
    index = 0
    while index < len(messages):
        message = messages[index]
        index += 1
        if message.role == "tool":
            result.append(_orphan_result(message))
            continue
        if message.role != "assistant" or not message.tool_calls:
            result.append(message)
            continue
        calls: list[ToolCall] = []
        renamed = False
        for call in message.tool_calls:
            if not call.id or any(call.id == seen.id for seen in calls):
                # A missing or repeated id (within one message) cannot be answered unambiguously.
                counter += 1
                call = call.model_copy(update={"id": f"{call.id or 'call'}_{counter}"})
                renamed = True
            calls.append(call)
        # An unchanged message is passed on as is: the adapters memoise their wire form per message object.
        result.append(message.model_copy(update={"tool_calls": calls}) if renamed else message)
        by_id = {call.id: call for call in calls}
        answered: dict[str, Message] = {}
        # The results are the tool messages directly after the call; anything else ends them.
        while index < len(messages) and messages[index].role == "tool":
            tool_message = messages[index]
            index += 1
            call = by_id.get(tool_message.tool_call_id or "")
            if call is None or call.id in answered:
                result.append(_orphan_result(tool_message))
                continue
            answered[call.id] = tool_message if tool_message.name else tool_message.model_copy(update={"name": call.name})
        for call in calls:
            answer = answered.get(call.id)
            if answer is None:
                answer = Message(role="tool", tool_call_id=call.id, name=call.name, content=NO_RESULT)
            result.append(answer)
    return _hoist_orphans(result), counter


def _orphan_result(message: Message) -> Message:
    label = message.name or "a tool"
    text = f"[result of {label} (call {message.tool_call_id or '?'})]\n{tool_result_text(message)}"
    return Message(role="user", content=text, extra={"orphan_tool_result": True})


def _hoist_orphans(messages: list[Message]) -> list[Message]:
    # An orphan (now a user message) found between a call and its results would split them.
    out: list[Message] = []
    pending: list[Message] = []
    for message in messages:
        if message.extra.get("orphan_tool_result") and out and (out[-1].role == "tool" or _has_calls(out[-1])):
            pending.append(message)
            continue
        if pending and message.role != "tool":
            out.extend(pending)
            pending = []
        out.append(message)
    out.extend(pending)
    return out


def _has_calls(message: Message) -> bool:
    return message.role == "assistant" and bool(message.tool_calls)


def tool_names_in(messages: list[Message]) -> list[str]:
    """Names of the tools called in ``messages``, in order of first use."""
    names: list[str] = []
    for message in messages:
        for call in message.tool_calls or []:
            if call.name not in names:
                names.append(call.name)
    return names


def split_system(messages: list[Message], system: str | None) -> tuple[str, list[Message]]:
    """For wire formats without a system role: the system text (``system`` + any ``system``-role
    messages, in order, joined by blank lines) and the remaining messages."""
    texts = [system] if system and system.strip() else []
    rest = [message for message in messages if message.role != "system"]  # one pass: it runs every turn
    if len(rest) < len(messages):
        for message in messages:
            if message.role == "system" and (text := content_text(message.content)).strip():
                texts.append(text)
    return "\n\n".join(texts), rest


def alternating_turns(
    pieces: Iterable[tuple[str, list[dict[str, Any]]]],
    *,
    items_key: str,
    is_result: Callable[[dict[str, Any]], bool],
    placeholder: dict[str, Any],
) -> list[dict[str, Any]]:
    """Turns ``{"role": role, items_key: items}`` for APIs that want strictly alternating roles
    (Anthropic ``content`` blocks, Gemini ``parts``), from ``(role, items)`` pieces in order.

    Pieces without items are dropped and consecutive pieces of one role are merged into one
    turn; in every ``user`` turn the items for which ``is_result`` holds (tool results) come
    first; when the first turn is not ``user`` (e.g. after compression) a ``user`` turn holding
    only ``placeholder`` is put in front. Raises AdapterError when no turn is left. The same in
    parts: :class:`adapters.turns.TurnShape`.
    """
    shape = TurnShape(items_key, is_result, placeholder)
    return shape.finish(shape.merge(pieces))


def history_only_tools(declared: Iterable[str], history: list[Message]) -> list[str]:
    """Safe names of the tools called in ``history`` but not among ``declared`` (safe names),
    each once, in order of first use: strict APIs reject a history that calls an undeclared tool."""
    return undeclared_tools(declared, tool_names_in(history))


def undeclared_tools(declared: Iterable[str], called: Iterable[str]) -> list[str]:
    """Safe names of the tools in ``called`` (names as called, in order of first use) not among
    ``declared`` (safe names), each once: :func:`history_only_tools` from the names it needs."""
    seen = set(declared)
    names: list[str] = []
    for name in called:
        safe = safe_name(name)
        if safe not in seen:
            seen.add(safe)
            names.append(safe)
    return names


def described(description: str) -> dict[str, str]:
    """``{"description": description}``, or ``{}`` for an empty one (never sent empty)."""
    return {"description": description} if description else {}


def sent_tool_names(tools: list[ToolSpec]) -> dict[str, str]:
    """Safe name (as sent) -> the caller's name, to map tool calls in a reply back."""
    return {safe_name(tool.name): tool.name for tool in tools}


def usage_from(
    raw: Any, input_key: str, output_key: str, *, drop: tuple[str, ...] = (), drop_none: bool = False
) -> Usage | None:
    """A reply's usage object as Usage (None when it is missing, not an object or empty).

    ``input_key``/``output_key`` name the token counts; every other field goes to ``extra``
    except those in ``drop`` and, with ``drop_none``, those whose value is null.
    """
    if not isinstance(raw, dict) or not raw:
        return None
    skipped = {input_key, output_key, *drop}
    return Usage(
        input_tokens=raw.get(input_key),
        output_tokens=raw.get(output_key),
        extra={k: v for k, v in raw.items() if k not in skipped and not (drop_none and v is None)},
    )
