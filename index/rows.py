"""A session -> the rows that mirror it (pure functions; the one place that decides them).

The searchable ``messages.text`` holds everything a person may look for in a message: its
text content, the text inside content parts (tool results, documents), the names and
arguments of its tool calls, the tool name of a tool result, and the path and text of each
attached file (read from ``blobs/`` through ``attachment_text``), each attachment starting
with :data:`ATTACHMENT_MARK` so a hit can say which file it is in. ``turn_status`` /
``turn_model`` / ``turn_provider`` say what became of a chat turn (see
``store.schema.turn_outcome``); ``scripts/sessions.py stats`` counts them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from index.times import iso
from index.fts_query import has_cjk
from store.blobs import FILE_PART
from store.branches import forked_from, group_of
from store.schema import Message, Session, total_cost, turn_outcome

SESSION_COLUMNS = (
    "session_id", "title", "created_at", "updated_at", "current_model", "models_used", "tags",
    "message_count", "switch_count", "file_path", "cost_usd", "unpriced_answers", "group_id", "forked_from",
)
MESSAGE_COLUMNS = (
    "session_id", "position", "message_id", "role", "model", "provider", "created_at", "text",
    "tool_names", "tool_call_id", "input_tokens", "output_tokens", "cost_usd", "latency_ms",
    "turn_status", "turn_model", "turn_provider", "cjk",
)
SWITCH_COLUMNS = ("session_id", "position", "at_message", "from_model", "to_model", "switched_at", "warning")

# Starts an attached file's section of ``messages.text``: "<mark>file <path>\n<text>". A control
# character the tokenizers treat as a separator, so it never joins or splits a word.
ATTACHMENT_MARK = "\x1f"
AttachmentText = Callable[[str], "str | None"]

# Keys of a content part whose values are worth searching (urls and base64 data are not).
_PART_TEXT_KEYS = ("text", "content", "output", "result", "input", "arguments", "name", "query", "code")


def _flatten(value: Any) -> list[str]:
    """Every string found in ``value`` (nested lists/dicts included), in order."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, (int, float, bool)):
        return [json.dumps(value)]
    if isinstance(value, list):
        return [text for item in value for text in _flatten(item)]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _flatten(item)]
    return [str(value)]


def _part_texts(part: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    for key in _PART_TEXT_KEYS:
        if key in part:
            texts.extend(_flatten(part[key]))
    return texts


def attachment_section(part: dict[str, Any], attachment_text: AttachmentText | None) -> str:
    """The searchable section of one attached file (its path, then its text if readable)."""
    sha256 = part.get("sha256")
    text = attachment_text(sha256) if attachment_text is not None and isinstance(sha256, str) else None
    return f"{ATTACHMENT_MARK}file {part.get('path')}" + (f"\n{text}" if text else "")


def searchable_text(message: Message, attachment_text: AttachmentText | None = None) -> str:
    """The text of ``message`` as the full-text index sees it (see module docstring)."""
    pieces: list[str] = []
    sections: list[str] = []
    content = message.content
    if isinstance(content, str):
        if content:
            pieces.append(content)
    elif isinstance(content, list):
        for part in content:
            if part.get("type") == FILE_PART:
                sections.append(attachment_section(part, attachment_text))
            else:
                pieces.extend(_part_texts(part))
    if message.role == "tool" and message.name:
        pieces.append(message.name)
    for call in message.tool_calls or []:
        pieces.append(call.name)
        arguments = call.arguments
        if isinstance(arguments, str):
            pieces.append(arguments)
        elif arguments not in (None, {}, []):
            pieces.append(json.dumps(arguments, ensure_ascii=False, sort_keys=True))
    return "\n".join(pieces + sections)


def session_row(session: Session, file_path: str) -> tuple[Any, ...]:
    """The ``sessions`` row: everything a listing shows and filters on (``store.summarize``'s fields)."""
    cost, unpriced = total_cost(session.messages)
    return (
        session.id,
        session.title,
        iso(session.created_at),
        iso(session.updated_at),
        session.current_model,
        json.dumps(session.models_used, ensure_ascii=False),
        json.dumps(session.tags, ensure_ascii=False),
        len(session.messages),
        len(session.model_switches),
        file_path,
        cost,
        unpriced,
        group_of(session),
        forked_from(session),
    )


def message_rows(session: Session, start: int = 0, attachment_text: AttachmentText | None = None) -> list[tuple[Any, ...]]:
    """The rows of the messages from position ``start`` on (all by default)."""
    rows = []
    for position, message in enumerate(session.messages[start:], start=start):
        names = ",".join(call.name for call in message.tool_calls or []) or None
        usage = message.usage
        text = searchable_text(message, attachment_text)
        rows.append(
            (
                session.id,
                position,
                message.id,
                message.role,
                message.model,
                message.provider,
                iso(message.created_at),
                text,
                names,
                message.tool_call_id,
                usage.input_tokens if usage else None,
                usage.output_tokens if usage else None,
                usage.cost_usd if usage else None,
                message.latency_ms,
                *turn_outcome(message),
                int(has_cjk(text)),  # 1: the message goes into the trigram table too
            )
        )
    return rows


def switch_rows(session: Session, start: int = 0) -> list[tuple[Any, ...]]:
    """The rows of the model switches from position ``start`` on (all by default)."""
    return [
        (session.id, position, switch.at_message, switch.from_model, switch.to_model, iso(switch.at), switch.warning)
        for position, switch in enumerate(session.model_switches[start:], start=start)
    ]
