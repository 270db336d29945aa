"""A session as Markdown: the one renderer behind the ``session://{id}`` MCP resource and
``scripts/sessions.py export``.

Layout: the title, a short list (id, times, models, cost, tags), the model switches, then each
message as a ``###`` heading with its number, role, model and time, followed by its text. Tool
calls are shown as JSON blocks; attachments and other non-text content parts (images, files)
are shown as references, never inlined. A failed delivery is marked as such.

With ``max_chars`` (the resource), a session too long for it is cut from the front: the newest
messages that fit are shown, after a note saying how many older ones were left out and how to
get everything. Without it (the export), every message is rendered.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from store.schema import FAILED_MARK, INCOMPLETE_MARK, Message, Session, message_text, total_cost

#: Content-part keys that identify an attachment, shown in its reference (in this order).
_REFERENCE_KEYS = ("name", "filename", "path", "mime_type", "media_type", "size", "lines", "redacted", "sha256", "blob", "url")
_MAX_REFERENCE_VALUE = 120


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _cost(value: float | None) -> str:
    # The exact stored value, without float noise or an exponent: 1e-07 is $0.0000001.
    return "unknown" if value is None else "$" + format(Decimal(repr(value)).normalize(), "f")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if text.startswith("data:"):
        return text.split(",", 1)[0] + ",…"  # a data: URL's payload is never useful in text
    return text if len(text) <= _MAX_REFERENCE_VALUE else text[:_MAX_REFERENCE_VALUE] + "…"


def _is_text_part(part: dict[str, Any]) -> bool:
    return part.get("type", "text") == "text" and isinstance(part.get("text"), str)


def attachment_reference(part: dict[str, Any]) -> str:
    """One line naming a non-text content part (``[attachment: image, name=a.png, sha256=…]``)."""
    details = [f"{key}={_short(part[key])}" for key in _REFERENCE_KEYS if part.get(key) not in (None, "")]
    nested = part.get("image_url") if isinstance(part.get("image_url"), dict) else None
    if nested and nested.get("url"):
        details.append(f"url={_short(nested['url'])}")
    kind = str(part.get("type") or "attachment")
    return f"[attachment: {', '.join([kind, *details])}]"


def _fence(text: str, info: str = "") -> str:
    """``text`` in a code fence longer than any backtick run inside it."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"


def _body(message: Message) -> list[str]:
    lines: list[str] = []
    content = message.content
    if isinstance(content, list):
        texts = [part["text"] for part in content if isinstance(part, dict) and _is_text_part(part)]
        if texts:
            lines.append("\n".join(texts))
        lines += [attachment_reference(part) for part in content if isinstance(part, dict) and not _is_text_part(part)]
    else:
        text = message_text(message)
        if text:
            lines.append(text)
    for call in message.tool_calls or []:
        arguments = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments, ensure_ascii=False, indent=1)
        lines.append(f"Tool call `{call.name}` (id `{call.id}`):\n\n" + _fence(arguments, "json"))
    return lines or ["*(no text)*"]


def render_message(message: Message, number: int) -> str:
    """One message: a heading (``[position]``, 0-based; role, model, time), notes, then its text."""
    who = message.role
    if message.role == "tool" and message.name:
        who += f" `{message.name}`"
    if message.model:
        who += f" · {message.model}" + (f" ({message.provider})" if message.provider else "")
    parts = [f"### [{number}] {who} · {_time(message.created_at)}"]
    failed = message.extra.get(FAILED_MARK)
    if failed:
        details = failed if isinstance(failed, dict) else {}
        to = f" to {details['model']}" if isinstance(details.get("model"), str) else ""
        why = f": {details['error']}" if isinstance(details.get("error"), str) else ""
        parts.append(f"> not delivered{to}{why} (kept in the session, left out of later prompts)")
    incomplete = message.extra.get(INCOMPLETE_MARK)
    if incomplete:
        why = f": {incomplete['reason']}" if isinstance(incomplete, dict) and isinstance(incomplete.get("reason"), str) else ""
        parts.append(f"> incomplete answer{why} (the stream stopped; kept, left out of later prompts)")
    if message.tool_call_id:
        parts.append(f"> result of tool call `{message.tool_call_id}`")
    if message.role == "assistant" and message.usage is not None and message.usage.cost_usd is not None:
        parts.append(f"> cost {_cost(message.usage.cost_usd)}")
    parts += _body(message)
    return "\n\n".join(parts)


def render_header(session: Session) -> str:
    """The title, the facts list and the model switches."""
    cost, unpriced = total_cost(session.messages)
    facts = [
        f"- id: `{session.id}`",
        f"- created: {_time(session.created_at)}; updated: {_time(session.updated_at)}",
        f"- models: {', '.join(session.models_used) or '-'} (current: {session.current_model or '-'})",
        f"- messages: {len(session.messages)}",
        f"- cost: {_cost(cost)}" + (f" ({unpriced} answer(s) without a known price)" if unpriced and cost is not None else ""),
    ]
    if session.tags:
        facts.append(f"- tags: {', '.join(session.tags)}")
    parts = [f"# {session.title or 'Session ' + session.id}", "\n".join(facts)]
    if session.model_switches:
        switches = [
            f"- before message [{switch.at_message}], {_time(switch.at)}: {switch.from_model or '-'} → {switch.to_model}"
            for switch in session.model_switches
        ]
        parts.append("## Model switches\n\n" + "\n".join(switches))
    return "\n\n".join(parts)


def render_session(session: Session, *, max_chars: int | None = None) -> str:
    """The whole session as Markdown, or its newest messages within ``max_chars`` (see module doc)."""
    header = render_header(session)
    # Positions are 0-based, as in get_session's ``index``/``offset``, ModelSwitch.at_message and the CLI.
    rendered = [render_message(message, number) for number, message in enumerate(session.messages)]
    if max_chars is None:
        return "\n\n".join([header, "## Messages", *rendered]) + "\n"
    budget = max_chars - len(header)
    kept: list[str] = []
    for text in reversed(rendered):
        if kept and budget - len(text) < 0:
            break
        if not kept and len(text) > budget:
            text = text[: max(budget, 0)] + "\n\n*(message cut: it is longer than this view)*"
        kept.append(text)
        budget -= len(text) + 2
    kept.reverse()
    left_out = len(rendered) - len(kept)
    parts = [header, "## Messages"]
    if left_out:
        parts.append(
            f"> This session is long: the {left_out} oldest of its {len(rendered)} messages are left out here "
            f"and the newest {len(kept)} are shown. The whole session: `scripts/sessions.py export {session.id}`, "
            "or the `get_session` tool with `offset`."
        )
    return "\n\n".join([*parts, *kept]) + "\n"
