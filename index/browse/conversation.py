"""One session as a conversation, built from its index rows (never from its file).

``build_conversation`` turns the rows of ``sessions``, ``messages`` and ``model_switches`` into
what ``templates/session.html`` shows: the messages in order, each switch placed before the
first message after it, attached files split out of ``messages.text`` (each starts with
``index.rows.ATTACHMENT_MARK``: ``<mark>file <path>\\n<text>``), and the totals (cost,
tokens, turns that failed or were cut short). Images are not in the index, so they are not shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from index.rows import ATTACHMENT_MARK

Row = Mapping[str, Any]

SESSION_SQL = "SELECT * FROM sessions WHERE session_id = :id"
MESSAGES_SQL = (
    "SELECT position, message_id, role, model, provider, created_at, text, tool_names, tool_call_id, input_tokens,"
    " output_tokens, cost_usd, latency_ms, turn_status, turn_model, turn_provider"
    " FROM messages WHERE session_id = :id ORDER BY position"
)
SWITCHES_SQL = "SELECT * FROM model_switches WHERE session_id = :id ORDER BY position"


class Attachment(BaseModel):
    path: str
    text: str

    @property
    def lines(self) -> int:
        return len(self.text.splitlines())


class Switch(BaseModel):
    position: int
    at_message: int
    from_model: str | None
    to_model: str
    switched_at: str
    warning: str | None


class Turn(BaseModel):
    position: int
    message_id: str
    role: str
    model: str | None
    provider: str | None
    created_at: str
    text: str
    attachments: list[Attachment]
    tool_names: str | None
    tool_call_id: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    latency_ms: float | None
    turn_status: str | None
    turn_model: str | None
    switches_before: list[Switch]


class Conversation(BaseModel):
    session_id: str
    title: str | None
    created_at: str
    updated_at: str
    current_model: str | None
    models_used: list[str]
    tags: list[str]
    turns: list[Turn]
    switches_after_last: list[Switch]
    cost_usd: float | None
    unpriced_answers: int
    input_tokens: int
    output_tokens: int
    failed: int
    incomplete: int


def split_attachments(text: str) -> tuple[str, list[Attachment]]:
    """The message's own text and its attached files (``index.rows.attachment_section``)."""
    body, *sections = text.split(ATTACHMENT_MARK)
    attachments = []
    for section in sections:
        head, _, content = section.partition("\n")
        attachments.append(Attachment(path=head.removeprefix("file ").strip(), text=content))
    return body.rstrip("\n"), attachments


def _json_list(value: Any) -> list[str]:
    try:
        items = json.loads(value) if isinstance(value, str) else []
    except ValueError:
        return []
    return [str(item) for item in items] if isinstance(items, list) else []


def build_conversation(session: Row, messages: Sequence[Row], switches: Sequence[Row]) -> Conversation:
    by_message: dict[int, list[Switch]] = {}
    for row in switches:
        switch = Switch(**{key: row[key] for key in Switch.model_fields})
        by_message.setdefault(switch.at_message, []).append(switch)
    turns, costs = [], []
    unpriced = input_tokens = output_tokens = failed = incomplete = 0
    for row in messages:
        body, attachments = split_attachments(row["text"] or "")
        fields = {key: row[key] for key in Turn.model_fields if key in row.keys() and key != "text"}
        turns.append(Turn(**fields, text=body, attachments=attachments, switches_before=by_message.pop(row["position"], [])))
        status = row["turn_status"]
        failed += status == "failed"
        incomplete += status == "incomplete"
        if row["cost_usd"] is not None:
            costs.append(Decimal(repr(row["cost_usd"])))
        elif status == "answered":
            unpriced += 1
        input_tokens += row["input_tokens"] or 0
        output_tokens += row["output_tokens"] or 0
    return Conversation(
        session_id=session["session_id"],
        title=session["title"],
        created_at=session["created_at"],
        updated_at=session["updated_at"],
        current_model=session["current_model"],
        models_used=_json_list(session["models_used"]),
        tags=_json_list(session["tags"]),
        turns=turns,
        # A switch recorded after the last message (its turn failed): shown at the end.
        switches_after_last=[switch for key in sorted(by_message) for switch in by_message[key]],
        cost_usd=float(sum(costs, Decimal(0))) if costs else None,
        unpriced_answers=unpriced,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        failed=failed,
        incomplete=incomplete,
    )
