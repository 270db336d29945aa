"""Schema version 1 of a session file, as pydantic models.

Every model keeps keys it does not know in ``extra`` (never dropped), and every time is a
timezone-aware UTC datetime (naive input is taken to be UTC).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Literal, Union
import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1

#: ``extra`` key of a user message whose delivery failed (the provider call raised): its value
#: is ``{model, provider, error, at}``. Such a message is kept but left out of later prompts.
FAILED_MARK = "delivery_failed"
#: ``extra`` key of the part of an assistant answer that arrived before its stream broke or the
#: call was cancelled: ``{reason, characters, at}``. Kept, and left out of later prompts like the
#: failed question before it (whose ``FAILED_MARK`` then has ``incomplete_answer: true``).
INCOMPLETE_MARK = "answer_incomplete"

Role = Literal["system", "user", "assistant", "tool"]
ContentPart = dict[str, Any]
Content = Union[str, list[ContentPart], None]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive datetime is taken to already be UTC.

    Raises ``ValueError`` (not ``OverflowError``) when the UTC time falls outside the
    years 1-9999, so a file holding such a time is reported as unreadable, not a crash.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError as exc:
        raise ValueError(f"{value.isoformat()} is out of range once converted to UTC") from exc


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:20]}"


_KNOWN_KEYS: dict[type, frozenset[str]] = {}


class _OpenModel(BaseModel):
    """A model whose unknown input keys are moved into ``extra`` instead of dropped."""

    # Subclasses declare ``extra: dict[str, Any]`` as their last field (so it is written last).
    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    @model_validator(mode="before")
    @classmethod
    def _collect_unknown_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        # This runs once per message on every read: keep the common case (no unknown keys)
        # to one set comparison against a per-class cached key set.
        known = _KNOWN_KEYS.get(cls)
        if known is None:
            known = _KNOWN_KEYS[cls] = frozenset(cls.model_fields)
        if data.keys() <= known:
            return data
        unknown = {key: value for key, value in data.items() if key not in known}
        kept = {key: value for key, value in data.items() if key in known}
        existing = kept.get("extra") or {}
        if not isinstance(existing, dict):
            raise ValueError("'extra' must be an object")
        clashes = sorted(key for key in unknown if key in existing and existing[key] != unknown[key])
        if clashes:
            # Merging would silently drop one of the two values: refuse (the file is quarantined).
            raise ValueError(f"key(s) {clashes} appear both at top level and in 'extra' with different values")
        kept["extra"] = {**existing, **unknown}
        return kept


class _Timestamped(_OpenModel):
    @field_validator("created_at", "updated_at", "at", check_fields=False, mode="after")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)


class Usage(_OpenModel):
    """A reply's token counts; ``cost_usd`` is its price when the reply came (None: unknown)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class ToolCall(_OpenModel):
    """A provider-neutral tool call: ``arguments`` is normally a JSON object."""

    id: str
    name: str
    arguments: Any = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)


class Message(_Timestamped):
    id: str = Field(default_factory=new_message_id)
    role: Role
    content: Content = ""
    model: str | None = None
    provider: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    usage: Usage | None = None
    latency_ms: float | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class ModelSwitch(_Timestamped):
    at_message: int
    from_model: str | None = None
    to_model: str
    at: datetime = Field(default_factory=utc_now)
    warning: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)


class Summary(_Timestamped):
    covers: tuple[int, int]
    text: str
    model: str
    created_at: datetime = Field(default_factory=utc_now)
    extra: dict[str, Any] = Field(default_factory=dict)


class Session(_Timestamped):
    schema_version: Literal[1] = SCHEMA_VERSION
    id: str
    title: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    tags: list[str] = Field(default_factory=list)
    current_model: str | None = None
    models_used: list[str] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    model_switches: list[ModelSwitch] = Field(default_factory=list)
    tool_state: dict[str, Any] = Field(default_factory=dict)
    summaries: list[Summary] = Field(default_factory=list)
    extensions: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)

    def note_model(self, model: str | None) -> None:
        """Add ``model`` to ``models_used`` (in order of first use) if it is new."""
        if model and model not in self.models_used:
            self.models_used.append(model)


def message_text(message: Message) -> str:
    """The plain text of a message's content (text parts joined by newlines)."""
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = [part.get("text") for part in content if isinstance(part.get("text"), str)]
    return "\n".join(texts)


def total_cost(messages: Iterable[Message]) -> tuple[float | None, int]:
    """The summed ``usage.cost_usd`` of the assistant messages, and how many have no known cost.

    The sum is exact decimal addition of the stored prices; it is ``None`` when no answer has
    a known price (a sum over only some answers is a lower bound: the count says so).
    """
    known: list[Decimal] = []
    unpriced = 0
    for message in messages:
        if message.role != "assistant":
            continue
        cost = message.usage.cost_usd if message.usage is not None else None
        if cost is None:
            unpriced += 1
        else:
            known.append(Decimal(repr(cost)))
    return (float(sum(known, Decimal(0))) if known else None), unpriced


TurnOutcome = tuple[str | None, str | None, str | None]


def turn_outcome(message: Message) -> TurnOutcome:
    """``(status, model, provider)`` of the chat turn ``message`` ends, all None if it ends none.

    Status ``answered`` for an assistant answer, ``incomplete`` for the part of an answer saved
    when its stream broke or the call was cancelled (``INCOMPLETE_MARK``), ``failed`` for a user
    message whose delivery failed (``FAILED_MARK``; model and provider are the ones it was sent
    to) when no part of an answer came. Other messages (system, tool, a user message that was
    answered, a failed one followed by its incomplete answer) end no turn.
    """
    if message.role == "assistant":
        return ("incomplete" if message.extra.get(INCOMPLETE_MARK) else "answered"), message.model, message.provider
    mark = message.extra.get(FAILED_MARK) if message.role == "user" else None
    if mark and not (isinstance(mark, dict) and mark.get("incomplete_answer")):
        details = mark if isinstance(mark, dict) else {}
        model, provider = details.get("model"), details.get("provider")
        return "failed", model if isinstance(model, str) else None, provider if isinstance(provider, str) else None
    return None, None, None
