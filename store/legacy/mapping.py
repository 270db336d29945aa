"""Legacy Kimi session documents <-> unified ``Session``, losslessly and in both directions.

``to_unified`` maps a parsed legacy document (a bare list of messages, or an object holding
them under ``messages``/``history``/``conversation``/...) to a ``Session``. Every legacy field
lands somewhere: mapped fields in the schema, unknown keys verbatim in ``extra`` (session,
message, usage, tool call), and how each field was spelled (key aliases, time formats, tool
argument strings, what was synthesised) in ``extensions["kimi"]``.

``to_legacy`` is the inverse: it rebuilds the legacy document from a unified session, reading
the data from the schema fields (so a changed message is noticed) and only the spelling from
``extensions["kimi"]``. ``to_legacy(to_unified(doc)) == doc`` (JSON-equal, type-strict) for
every document ``to_unified`` accepts; the migration checks this for each file it writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from store.errors import InvalidSessionId
from store.ids import MAX_ID_LENGTH, validate_session_id
from store.legacy.parsing import LegacyReadError, parse_legacy_bytes
from store.legacy.times import EPOCH, TimeFormat, parse_time, render_time
from store.schema import Message, Session, ToolCall, Usage

EXTENSION = "kimi"
MAPPING_VERSION = 1

# Key aliases seen in legacy files, in order of preference (the first usable one is mapped;
# any other stays verbatim in ``extra``).
MESSAGES_KEYS = ("messages", "history", "conversation", "chat_history", "chatHistory", "turns")
ID_KEYS = ("session_id", "sessionId", "id")
MODEL_KEYS = ("model", "model_name", "modelName", "current_model", "currentModel")
CREATED_KEYS = ("created_at", "createdAt", "created", "create_time", "createTime", "start_time", "startTime", "timestamp")
UPDATED_KEYS = ("updated_at", "updatedAt", "updated", "update_time", "updateTime", "last_updated", "lastUpdated")
TITLE_KEYS = ("title", "name", "topic", "subject")
TAGS_KEYS = ("tags", "labels")

ROLE_KEYS = ("role", "author", "sender")
CONTENT_KEYS = ("content", "text", "message", "body")
MESSAGE_ID_KEYS = ("id", "message_id", "messageId", "msg_id")
MESSAGE_TIME_KEYS = ("timestamp", "created_at", "createdAt", "time", "ts", "date", "created")
USAGE_KEYS = ("usage", "token_usage", "tokenUsage")
INPUT_TOKEN_KEYS = ("prompt_tokens", "input_tokens", "promptTokens", "inputTokens")
OUTPUT_TOKEN_KEYS = ("completion_tokens", "output_tokens", "completionTokens", "outputTokens")
TOOL_CALLS_KEYS = ("tool_calls", "toolCalls")
TOOL_CALL_ID_KEYS = ("tool_call_id", "toolCallId")
ARGUMENT_KEYS = ("arguments", "args", "parameters", "input")

ROLE_ALIASES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "kimi": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
}

# json.dumps styles tried to reproduce a tool call's ``arguments`` string exactly.
_DUMP_STYLES: tuple[dict[str, Any], ...] = (
    {"ensure_ascii": True, "separators": (", ", ": ")},
    {"ensure_ascii": False, "separators": (", ", ": ")},
    {"ensure_ascii": True, "separators": (",", ":")},
    {"ensure_ascii": False, "separators": (",", ":")},
)


class LegacyShapeError(ValueError):
    """Valid JSON that is not a legacy session (no message list, a message without a role...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LegacySource:
    """Where a legacy document came from: kept in ``extensions.kimi.source``.

    ``fallback_time`` (normally the file's mtime) is used, deterministically, as the
    creation time when neither the document nor its messages carry one.
    """

    file_name: str
    legacy_id: str
    sha256: str
    fallback_time: datetime

    @classmethod
    def of_file(cls, path: Path, data: bytes, legacy_id: str | None = None) -> LegacySource:
        """The source record of ``data``, just read from ``path`` (``legacy_id``: the file's stem)."""
        # Microseconds from st_mtime_ns: exact, so the synthesised time is the same on every run.
        mtime = EPOCH + timedelta(microseconds=path.stat().st_mtime_ns // 1000)
        return cls(path.name, legacy_id or path.stem, hashlib.sha256(data).hexdigest(), mtime)


def safe_session_id(legacy_id: str) -> tuple[str, str | None]:
    """``(unified_id, why_renamed)``: the legacy id itself if valid, else a deterministic safe id.

    A renamed id is the legacy id with refused characters replaced by ``_`` plus ``-`` and 8
    hex digits of the legacy id's SHA-256, so two different legacy ids never share one.
    """
    try:
        return validate_session_id(legacy_id), None
    except InvalidSessionId as exc:
        why = exc.why
    digest = hashlib.sha256(legacy_id.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    cleaned = "".join(char if _char_allowed(char) else "_" for char in legacy_id)
    cleaned = cleaned[: MAX_ID_LENGTH - len(digest) - 1].strip("._")
    candidate = f"{cleaned}-{digest}" if cleaned else f"legacy-{digest}"
    try:
        return validate_session_id(candidate), why
    except InvalidSessionId:
        return f"legacy-{digest}", why


def _char_allowed(char: str) -> bool:
    # Ask store.ids (the one place for id rules) about the character inside a harmless id.
    try:
        validate_session_id(f"a{char}")
    except InvalidSessionId:
        return False
    return True


def parse_legacy_document(data: bytes) -> Any:
    """Parse legacy file bytes (BOM allowed, strict JSON); raise ``LegacyReadError``."""
    return parse_legacy_bytes(data)


# -- forward: legacy -> unified ----------------------------------------------------------------


def _first(raw: dict[str, Any], keys: tuple[str, ...], accept: Any) -> str | None:
    for key in keys:
        if key in raw and accept(raw[key]):
            return key
    return None


def _first_converted(raw: dict[str, Any], keys: tuple[str, ...], convert: Callable[[Any], T | None]) -> tuple[str, T] | None:
    """The first of ``keys`` whose value ``convert`` accepts, with the converted value (each value converted once)."""
    for key in keys:
        if key in raw:
            converted = convert(raw[key])
            if converted is not None:
                return key, converted
    return None


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_time(value: Any) -> bool:
    return parse_time(value) is not None


def _is_message_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _role_of(value: Any) -> str | None:
    return ROLE_ALIASES.get(value.strip().lower()) if isinstance(value, str) else None


def _map_arguments(value: Any, meta: dict[str, Any]) -> Any:
    if not isinstance(value, str):
        meta["args"] = "value"
        return value
    try:
        parsed = parse_legacy_bytes(value.encode("utf-8", "surrogatepass"))
    except (LegacyReadError, UnicodeEncodeError):
        parsed = None
    if not isinstance(parsed, dict):
        meta["args"] = "string"
        return value
    for index, style in enumerate(_DUMP_STYLES):
        if json.dumps(parsed, **style) == value:
            if index:
                meta["dump"] = index
            return parsed
    # Valid JSON object in an unusual layout (indentation, spacing): keep the exact text too.
    meta["args"] = "raw"
    meta["raw"] = value
    return parsed


def _map_tool_call(raw: Any) -> tuple[ToolCall, dict[str, Any]] | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return None
    meta: dict[str, Any] = {}
    if "function" in raw:
        function = raw["function"]
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return None
        holder = function
        used = {"id", "function"}
        args_key = _first(function, ARGUMENT_KEYS, lambda _v: True)
        function_extra = {k: v for k, v in function.items() if k not in {"name", args_key}}
        if function_extra:
            meta["fn_extra"] = function_extra
    else:
        if not isinstance(raw.get("name"), str):
            return None
        holder = raw
        meta["shape"] = "flat"
        args_key = _first(raw, ARGUMENT_KEYS, lambda _v: True)
        used = {"id", "name", args_key}
    if args_key != "arguments":
        meta["args_key"] = args_key
    if args_key is None:
        meta["args"] = "absent"
        arguments: Any = {}
    else:
        arguments = _map_arguments(holder[args_key], meta)
    extra = {k: v for k, v in raw.items() if k not in used}
    return ToolCall(id=raw["id"], name=holder["name"], arguments=arguments, extra=extra), meta


def _map_tool_calls(value: Any) -> tuple[list[ToolCall], list[dict[str, Any]]] | None:
    if not isinstance(value, list):
        return None
    calls: list[ToolCall] = []
    metas: list[dict[str, Any]] = []
    for raw in value:
        mapped = _map_tool_call(raw)
        if mapped is None:
            return None
        calls.append(mapped[0])
        metas.append(mapped[1])
    return calls, metas


def _map_usage(raw: dict[str, Any], meta: dict[str, Any]) -> Usage:
    in_key = _first(raw, INPUT_TOKEN_KEYS, _is_int)
    out_key = _first(raw, OUTPUT_TOKEN_KEYS, _is_int)
    if (in_key, out_key) != ("prompt_tokens", "completion_tokens"):
        meta["in"] = in_key
        meta["out"] = out_key
    rest = {k: v for k, v in raw.items() if k not in {in_key, out_key}}
    return Usage(
        input_tokens=raw[in_key] if in_key else None,
        output_tokens=raw[out_key] if out_key else None,
        extra=rest,
    )


@dataclass
class _MappedMessage:
    fields: dict[str, Any]
    meta: dict[str, Any]
    time: datetime | None


def _map_message(raw: dict[str, Any], index: int, session_model: str | None) -> _MappedMessage:
    meta: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    used: set[str] = set()

    role_key = _first(raw, ROLE_KEYS, lambda v: _role_of(v) is not None)
    if role_key is None:
        raise LegacyShapeError(f"message {index} has no recognisable role (looked for {', '.join(ROLE_KEYS)})")
    used.add(role_key)
    role = _role_of(raw[role_key])
    fields["role"] = role
    if role_key != "role":
        meta["role_key"] = role_key
    if raw[role_key] != role:
        meta["role"] = raw[role_key]

    content_key = _first(raw, CONTENT_KEYS, lambda _v: True)
    if content_key is None:
        meta["content"] = "absent"
        fields["content"] = ""
    else:
        used.add(content_key)
        if content_key != "content":
            meta["content_key"] = content_key
        value = raw[content_key]
        if value is None or isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(part, dict) for part in value)
        ):
            fields["content"] = value
        else:
            meta["content"] = "json"
            fields["content"] = json.dumps(value, ensure_ascii=False)

    # Most legacy messages have no id or model: synthesising them is the default (no meta),
    # and the meta records when the legacy message did carry one.
    id_key = _first(raw, MESSAGE_ID_KEYS, _is_str)
    if id_key is None:
        fields["id"] = f"legacy-{index:05d}"
    else:
        used.add(id_key)
        fields["id"] = raw[id_key]
        meta["id_key"] = id_key

    moment: datetime | None = None
    found_time = _first_converted(raw, MESSAGE_TIME_KEYS, parse_time)
    if found_time is not None:
        time_key, (moment, fmt) = found_time
        used.add(time_key)
        meta["time"] = {"key": time_key, "fmt": fmt}

    if isinstance(raw.get("model"), str):
        used.add("model")
        fields["model"] = raw["model"]
        meta["model"] = 1
    elif role == "assistant" and session_model is not None:
        fields["model"] = session_model

    usage_key = _first(raw, USAGE_KEYS, lambda v: isinstance(v, dict))
    if usage_key is not None:
        used.add(usage_key)
        usage_meta: dict[str, Any] = {}
        fields["usage"] = _map_usage(raw[usage_key], usage_meta)
        if usage_key != "usage":
            usage_meta["key"] = usage_key
        if usage_meta:
            meta["usage"] = usage_meta

    found_calls = _first_converted(raw, TOOL_CALLS_KEYS, _map_tool_calls)
    if found_calls is not None:
        calls_key, mapped = found_calls
        used.add(calls_key)
        fields["tool_calls"] = mapped[0]
        calls_meta: dict[str, Any] = {}
        if calls_key != "tool_calls":
            calls_meta["key"] = calls_key
        if any(mapped[1]):
            calls_meta["calls"] = mapped[1]
        if calls_meta:
            meta["tool_calls"] = calls_meta

    call_id_key = _first(raw, TOOL_CALL_ID_KEYS, _is_str)
    if call_id_key is not None:
        used.add(call_id_key)
        fields["tool_call_id"] = raw[call_id_key]
        if call_id_key != "tool_call_id":
            meta["tool_call_id_key"] = call_id_key

    if isinstance(raw.get("name"), str):
        used.add("name")
        fields["name"] = raw["name"]

    fields["extra"] = {k: v for k, v in raw.items() if k not in used}
    return _MappedMessage(fields=fields, meta=meta, time=moment)


def to_unified(document: Any, *, session_id: str, source: LegacySource) -> Session:
    """Map a parsed legacy document to a unified session with id ``session_id``.

    Raise ``LegacyShapeError`` if the document is not a legacy session. Missing times are
    synthesised deterministically (document -> messages -> ``source.fallback_time``) and the
    synthesis is recorded so ``to_legacy`` leaves them out again.
    """
    validate_session_id(session_id)
    ext: dict[str, Any] = {
        "mapping_version": MAPPING_VERSION,
        "legacy_id": source.legacy_id,
        "source": {"file": source.file_name, "sha256": source.sha256},
    }
    top: dict[str, Any] = {}
    if isinstance(document, list):
        ext["shape"] = "list"
        raw_messages = document
    elif isinstance(document, dict):
        ext["shape"] = "object"
        top = document
        # Prefer a non-empty list of message objects (a stale empty "messages" may sit beside a
        # full "history"), then any list of objects, then any list (refused below if not objects).
        messages_key = (
            _first(document, MESSAGES_KEYS, lambda v: _is_message_list(v) and len(v) > 0)
            or _first(document, MESSAGES_KEYS, _is_message_list)
            or _first(document, MESSAGES_KEYS, lambda v: isinstance(v, list))
        )
        if messages_key is None:
            raise LegacyShapeError(f"no list of messages (looked for keys {', '.join(MESSAGES_KEYS)})")
        ext["messages_key"] = messages_key
        raw_messages = document[messages_key]
    else:
        raise LegacyShapeError(f"expected a JSON object or a list of messages, found {type(document).__name__}")
    for index, raw in enumerate(raw_messages):
        if not isinstance(raw, dict):
            raise LegacyShapeError(f"message {index} is a {type(raw).__name__}, not an object")

    used: set[str] = {ext["messages_key"]} if top else set()
    session_fields: dict[str, Any] = {}

    # An empty model name is not a model (models_used skips it): keep it verbatim in extra.
    model_key = _first(top, MODEL_KEYS, lambda v: isinstance(v, str) and v != "")
    session_model = top[model_key] if model_key else None
    if model_key:
        used.add(model_key)
        ext["model_key"] = model_key

    id_key = _first(top, ID_KEYS, _is_str)
    if id_key:
        used.add(id_key)
        ext["id_key"] = id_key
        if top[id_key] != session_id:
            ext["id_value"] = top[id_key]

    title_key = _first(top, TITLE_KEYS, _is_str)
    if title_key:
        used.add(title_key)
        ext["title_key"] = title_key
        session_fields["title"] = top[title_key]

    tags_key = _first(top, TAGS_KEYS, lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v))
    if tags_key:
        used.add(tags_key)
        ext["tags_key"] = tags_key
        session_fields["tags"] = top[tags_key]

    created: datetime | None = None
    found_created = _first_converted(top, CREATED_KEYS, parse_time)
    if found_created is not None:
        created_key, parsed = found_created
        used.add(created_key)
        created = parsed[0]
        ext["created"] = {"key": created_key, "fmt": parsed[1]}

    updated: datetime | None = None
    found_updated = _first_converted(top, UPDATED_KEYS, parse_time)
    if found_updated is not None:
        updated_key, parsed = found_updated
        used.add(updated_key)
        updated = parsed[0]
        # The store rewrites updated_at on every change, so the legacy value is kept as is.
        ext["updated"] = {"key": updated_key, "value": top[updated_key]}

    mapped = [_map_message(raw, index, session_model) for index, raw in enumerate(raw_messages)]
    known_times = [m.time for m in mapped if m.time is not None]
    synthesised: list[str] = []
    if created is None:
        synthesised.append("created_at")
        created = min(known_times) if known_times else source.fallback_time
    if updated is None:
        synthesised.append("updated_at")
        updated = max([created, *known_times])
    if synthesised:
        ext["synthesised"] = synthesised

    messages: list[Message] = []
    message_meta: dict[str, Any] = {}
    previous = created
    models_used: list[str] = [session_model] if session_model else []
    for index, item in enumerate(mapped):
        previous = item.time or previous
        messages.append(Message(created_at=previous, **item.fields))
        if item.meta:
            message_meta[str(index)] = item.meta
        model = item.fields.get("model")
        if model and model not in models_used:
            models_used.append(model)
    ext["message_count"] = len(messages)
    if message_meta:
        ext["messages"] = message_meta

    current = session_model
    if current is None:
        current = next((m.model for m in reversed(messages) if m.model), None)
    return Session(
        id=session_id,
        created_at=created,
        updated_at=updated,
        current_model=current,
        models_used=models_used,
        messages=messages,
        extensions={EXTENSION: ext},
        extra={k: v for k, v in top.items() if k not in used},
        **session_fields,
    )


# -- reverse: unified -> legacy ----------------------------------------------------------------


def _tool_call_to_legacy(call: ToolCall, meta: dict[str, Any]) -> dict[str, Any]:
    args_key = meta.get("args_key", "arguments")
    mode = meta.get("args")
    if mode == "raw":
        arguments: Any = meta.get("raw")
    elif mode in ("value", "string"):
        arguments = call.arguments
    else:
        arguments = json.dumps(call.arguments, **_DUMP_STYLES[int(meta.get("dump", 0))])
    out: dict[str, Any] = dict(call.extra)
    out["id"] = call.id
    if meta.get("shape") == "flat":
        out["name"] = call.name
        if mode != "absent":
            out[args_key] = arguments
        return out
    function: dict[str, Any] = dict(meta.get("fn_extra", {}))
    function["name"] = call.name
    if mode != "absent":
        function[args_key] = arguments
    out["function"] = function
    return out


def _message_to_legacy(message: Message, meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(message.extra)
    original_role = meta.get("role")
    role: Any = message.role
    if original_role is not None and _role_of(original_role) == message.role:
        role = original_role
    out[meta.get("role_key", "role")] = role

    content_mode = meta.get("content")
    if content_mode == "json" and isinstance(message.content, str):
        try:
            out[meta.get("content_key", "content")] = json.loads(message.content)
        except json.JSONDecodeError:
            out[meta.get("content_key", "content")] = message.content
    elif content_mode != "absent" or message.content != "":
        out[meta.get("content_key", "content")] = message.content

    if "id_key" in meta:
        out[meta["id_key"]] = message.id
    time_meta = meta.get("time")
    if time_meta:
        out[time_meta["key"]] = render_time(message.created_at, time_meta["fmt"])
    if meta.get("model"):
        out["model"] = message.model
    if message.usage is not None:
        usage_meta = meta.get("usage", {})
        usage: dict[str, Any] = dict(message.usage.extra)
        in_key = usage_meta.get("in", "prompt_tokens")
        out_key = usage_meta.get("out", "completion_tokens")
        if in_key is not None:
            usage[in_key] = message.usage.input_tokens
        if out_key is not None:
            usage[out_key] = message.usage.output_tokens
        out[usage_meta.get("key", "usage")] = usage
    if message.tool_calls is not None:
        calls_meta = meta.get("tool_calls", {})
        per_call = calls_meta.get("calls", [])
        out[calls_meta.get("key", "tool_calls")] = [
            _tool_call_to_legacy(call, per_call[i] if i < len(per_call) else {})
            for i, call in enumerate(message.tool_calls)
        ]
    if message.tool_call_id is not None:
        out[meta.get("tool_call_id_key", "tool_call_id")] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    return out


class NotMigratedFromLegacy(ValueError):
    """The unified session carries no ``extensions.kimi`` mapping (it was not migrated)."""


def legacy_extension(session: Session) -> dict[str, Any] | None:
    """The migration's ``extensions.kimi`` record of ``session``, if it has a valid one."""
    ext = session.extensions.get(EXTENSION)
    if isinstance(ext, dict) and ext.get("mapping_version") == MAPPING_VERSION and "message_count" in ext:
        return ext
    return None


def to_legacy(session: Session) -> Any:
    """Rebuild the legacy document a migrated session came from (the inverse of ``to_unified``).

    Only the first ``message_count`` messages are legacy ones (a session continued after the
    migration keeps growing); ``updated_at`` is taken from the legacy value kept at migration,
    because the store rewrites it on every change. Everything else comes from the schema fields.
    """
    ext = legacy_extension(session)
    if ext is None:
        raise NotMigratedFromLegacy(f"session {session.id!r} has no extensions.kimi migration record")
    count = int(ext["message_count"])
    metas = ext.get("messages", {})
    messages = [_message_to_legacy(m, metas.get(str(i), {})) for i, m in enumerate(session.messages[:count])]
    if ext.get("shape") == "list":
        return messages
    doc: dict[str, Any] = dict(session.extra)
    doc[ext["messages_key"]] = messages
    if "model_key" in ext:
        doc[ext["model_key"]] = session.models_used[0] if session.models_used else None
    if "id_key" in ext:
        doc[ext["id_key"]] = ext.get("id_value", session.id)
    if "title_key" in ext:
        doc[ext["title_key"]] = session.title
    if "tags_key" in ext:
        doc[ext["tags_key"]] = list(session.tags)
    if "created" in ext:
        doc[ext["created"]["key"]] = render_time(session.created_at, ext["created"]["fmt"])
    if "updated" in ext:
        doc[ext["updated"]["key"]] = ext["updated"]["value"]
    return doc


# -- appending: a conversation continued in its legacy file --------------------------------------

# How the legacy ``kimi_chat`` spelled the times it wrote: ISO-8601 in UTC with a ``Z``.
WRITER_TIME_KEY = "timestamp"
WRITER_UPDATED_KEY = "updated_at"
WRITER_TIME_FORMAT: TimeFormat = {"kind": "iso", "tz": "Z", "offset_seconds": 0, "sep": "T", "timespec": "auto"}


def _writable_format(fmt: TimeFormat | None) -> TimeFormat:
    # A "raw" format only reproduces the one value it was read from: new times use the writer's.
    return fmt if fmt is not None and fmt.get("kind") != "raw" else WRITER_TIME_FORMAT


def _new_time(now: datetime, fmt: TimeFormat) -> datetime:
    """``now`` cut to what ``fmt`` can hold, so an integer epoch format stays an integer."""
    if fmt.get("kind") == "epoch" and fmt.get("type") == "int":
        keep = 1000 if fmt.get("unit") == "ms" else 1_000_000
        return now.replace(microsecond=now.microsecond // keep * keep)
    return now


def _spelling_of_new(ext: dict[str, Any], role: str) -> dict[str, Any]:
    """The message meta a new message of ``role`` gets: the keys of the document's last message,
    the time key and format of its last timed message, and the file's alias for ``role``."""
    count = int(ext["message_count"])
    metas: dict[str, Any] = ext.get("messages", {})
    last = metas.get(str(count - 1), {}) if count else {}
    meta = {key: last[key] for key in ("role_key", "content_key") if key in last}
    timed = next((metas[str(i)]["time"] for i in range(count - 1, -1, -1) if "time" in metas.get(str(i), {})), None)
    meta["time"] = {
        "key": timed["key"] if timed else WRITER_TIME_KEY,
        "fmt": _writable_format(timed["fmt"] if timed else None),
    }
    alias = next((m["role"] for m in reversed(list(metas.values())) if _role_of(m.get("role")) == role), None)
    if alias is not None:
        meta["role"] = alias
    return meta


def append_to_legacy(document: Any, session: Session, messages: Sequence[Message], now: datetime) -> None:
    """Append ``messages`` to ``document``, in place, in the document's own spelling.

    ``session`` is ``to_unified(document)``. The messages go into the one list the mapping
    read them from (``messages_key``, or the document itself if it is a list), spelled like
    the document's own messages (role/content keys, role aliases, time key and format); a
    document-level update time is set to ``now`` in its format (``updated_at`` is added if the
    document has none, as the legacy writer did). Every other key, and key order, stays as is.
    """
    ext = legacy_extension(session)
    if ext is None:
        raise NotMigratedFromLegacy(f"session {session.id!r} has no extensions.kimi mapping record")
    target = document if isinstance(document, list) else document[ext["messages_key"]]
    for message in messages:
        meta = _spelling_of_new(ext, message.role)
        stamped = message.model_copy(update={"created_at": _new_time(now, meta["time"]["fmt"])})
        target.append(_message_to_legacy(stamped, meta))
    if isinstance(document, dict):
        updated = ext.get("updated")
        key = updated["key"] if updated else WRITER_UPDATED_KEY
        parsed = parse_time(updated["value"]) if updated else None
        fmt = _writable_format(parsed[1] if parsed else None)
        document[key] = render_time(_new_time(now, fmt), fmt)
