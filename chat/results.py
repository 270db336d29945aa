"""What the agent reads: each tool's result in both MCP forms, within one size budget.

Every tool answers with a ``CallToolResult`` carrying

- ``structuredContent``: the keys of DESIGN.md, compact and in reading order (a reply first,
  then session, model, warnings, usage) — what Claude Code and VS Code hand to their model;
- a text content written for a reader — what other clients hand to theirs: a ``chat`` reply as
  the model wrote it after one header line, one section per model for ``ask_models``, a
  transcript page for ``get_session``, one line per hit, session or model for the listings.

``LLM_MCP_RESULTS`` chooses the forms: ``both`` (default), ``text`` (no ``structuredContent``
and no ``outputSchema``: a Claude Code user's model then reads the Markdown) or ``structured``
(the text is the compact JSON of ``structuredContent``, as the MCP spec suggests for old clients).

Both forms stay within ``LLM_MCP_MAX_RESULT_CHARS`` characters (default 40,000; the structured
form measured as compact JSON). Over it, a reply is cut in both forms at the same place: the
structured result says ``reply_truncated`` ``{shown_chars, total_chars, uri}``, the text says so
in words and carries a ``resource_link`` to the whole answer
(``session://{session_id}/messages/{message_id}``). A listing drops its last items and says
``truncated`` ``{shown, total}``. Nothing is cut from what is stored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any, Literal

from mcp.types import CallToolResult, ResourceLink, TextContent
from pydantic import BaseModel, ConfigDict, Field

from store.errors import UserFacingError

RESULTS_ENV = "LLM_MCP_RESULTS"
MAX_CHARS_ENV = "LLM_MCP_MAX_RESULT_CHARS"
DEFAULT_MAX_CHARS = 40_000
#: Below this a header, a note and a link would not fit beside any content.
MIN_MAX_CHARS = 2_000
MESSAGE_RESOURCE_TEMPLATE = "session://{session_id}/messages/{message_id}"

Mode = Literal["both", "text", "structured"]
MODES: tuple[Mode, ...] = ("both", "text", "structured")


class ResultSettingError(UserFacingError):
    """``LLM_MCP_RESULTS`` or ``LLM_MCP_MAX_RESULT_CHARS`` holds a value the server cannot use."""


def result_mode() -> Mode:
    """The forms every tool result carries (``$LLM_MCP_RESULTS``, default ``both``)."""
    value = os.environ.get(RESULTS_ENV, "").strip().lower() or "both"
    if value not in MODES:
        raise ResultSettingError(f"{RESULTS_ENV}={value!r} is not valid: use both, text or structured")
    return value  # type: ignore[return-value]


def max_result_chars() -> int:
    """The size budget of a result, per form (``$LLM_MCP_MAX_RESULT_CHARS``, default 40,000)."""
    value = os.environ.get(MAX_CHARS_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_CHARS
    try:
        chars = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        raise ResultSettingError(f"{MAX_CHARS_ENV}={value!r} is not a number: give a character count such as 40000") from None
    if chars < MIN_MAX_CHARS:
        raise ResultSettingError(f"{MAX_CHARS_ENV}={chars} is too small: use {MIN_MAX_CHARS} or more")
    return chars


def check_settings() -> None:
    """Raise ``ResultSettingError`` now (at start-up) rather than on the first tool call."""
    result_mode()
    max_result_chars()


def compact_json(data: Any) -> str:
    """The structured form as a client serialises it (``JSON.stringify``: no spaces, UTF-8 kept)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def message_uri(session_id: str, message_id: str) -> str:
    return MESSAGE_RESOURCE_TEMPLATE.format(session_id=session_id, message_id=message_id)


# ------------------------------------------------------------------------------ output models
# The published outputSchema of each tool. ``extra="allow"``: a key added to a result later
# (by another tool change) is carried, not refused; the names listed here are DESIGN.md's.


class _Output(BaseModel):
    model_config = ConfigDict(extra="allow")


class UsageOutput(_Output):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = Field(None, description="price in USD from genai-prices; null when unknown")


class ReplyCut(_Output):
    """Present only when the reply was cut to the size budget."""

    shown_chars: int
    total_chars: int
    uri: str = Field(description="resources/read this URI for the whole answer")


class ChatOutput(_Output):
    reply: str
    session_id: str
    model: str
    warnings: list[str] = Field(default_factory=list)
    usage: UsageOutput | None = None
    reply_truncated: ReplyCut | None = None


class AnswerOutput(_Output):
    model: str
    reply: str | None = None
    session_id: str | None = None
    warnings: list[str] = Field(default_factory=list)
    usage: UsageOutput | None = None
    error: str | None = None
    reply_truncated: ReplyCut | None = None


class AskModelsOutput(_Output):
    answers: list[AnswerOutput]
    group_id: str | None = None


class ListCut(_Output):
    """Present only when items were left out to stay within the size budget."""

    shown: int
    total: int
    note: str


class SessionPageOutput(_Output):
    session: dict[str, Any]
    messages: list[dict[str, Any]]
    truncated: ListCut | None = None


class ListSessionsOutput(_Output):
    sessions: list[dict[str, Any]]
    truncated: ListCut | None = None


class SearchOutput(_Output):
    hits: list[dict[str, Any]]
    truncated: ListCut | None = None


class SwitchesOutput(_Output):
    switches: list[dict[str, Any]]
    truncated: ListCut | None = None


class SessionSummaryOutput(_Output):
    session_id: str
    id: str | None = None
    title: str | None = None


class DeletedOutput(_Output):
    session_id: str
    trashed_to: str | None = None
    restore: str | None = None


class ModelsOutput(_Output):
    models: list[dict[str, Any]]
    truncated: ListCut | None = None


# ------------------------------------------------------------------------------ assembling


def _result(structured: dict[str, Any], text: str, links: Sequence[ResourceLink] = ()) -> CallToolResult:
    mode = result_mode()
    if mode == "structured":
        return CallToolResult(content=[TextContent(text=compact_json(structured)), *links], structured_content=structured)
    content: list[Any] = [TextContent(text=text), *links]
    if mode == "text":
        return CallToolResult(content=content)
    return CallToolResult(content=content, structured_content=structured)


def _link(uri: str, name: str, total: int) -> ResourceLink:
    return ResourceLink(uri=uri, name=name, title=f"The whole answer ({total:,} characters)", mime_type="text/markdown")


def _cut(text: str, room: Callable[[str], int]) -> str:
    """The longest head of ``text`` for which ``room(head) >= 0`` (``room`` shrinks as the head grows)."""
    low, high = 0, len(text)
    while low < high:  # binary search: JSON escaping makes the size of a head non-linear in its length
        middle = (low + high + 1) // 2
        if room(text[:middle]) >= 0:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def _money(cost: Any) -> str:
    if cost is None:
        return "price unknown"
    return f"${cost:.4f}" if cost < 1 else f"${cost:,.2f}"


def _tokens(usage: dict[str, Any] | None) -> str:
    usage = usage or {}
    given, taken = usage.get("input_tokens"), usage.get("output_tokens")
    counts = f"{given if given is not None else '?'} in / {taken if taken is not None else '?'} out tokens"
    return f"{counts}, {_money(usage.get('cost_usd'))}"


# ------------------------------------------------------------------------------ chat


def _ordered_reply(data: dict[str, Any], first: Sequence[str]) -> dict[str, Any]:
    ordered = {key: data[key] for key in first if key in data}
    ordered.update((key, value) for key, value in data.items() if key not in ordered)
    return ordered


CHAT_ORDER = ("reply", "session_id", "model", "warnings", "usage")


def chat_header(data: dict[str, Any]) -> str:
    parts = [f"session {data.get('session_id')}", str(data.get("model")), _tokens(data.get("usage"))]
    if data.get("created"):
        parts.insert(1, "new")
    warnings = data.get("warnings") or []
    if warnings:
        parts.append("warning: " + " | ".join(warnings))
    return "[" + " · ".join(parts) + "]"


def _cut_note(shown: int, total: int, uri: str) -> str:
    return (
        f"[The answer is {total:,} characters; the first {shown:,} are shown (size limit {MAX_CHARS_ENV}). "
        f"The whole answer is stored: read the resource {uri}]"
    )


def chat_result(data: dict[str, Any], message_id: Callable[[], str | None]) -> CallToolResult:
    """A ``chat``/``kimi_chat`` result. ``message_id`` finds the stored answer's id (called only
    when the reply must be cut, for the link to the whole)."""
    budget = max_result_chars()
    structured = _ordered_reply(data, CHAT_ORDER)
    reply = structured.get("reply") or ""
    header = chat_header(structured)
    text = f"{header}\n\n{reply}"
    if len(text) <= budget and len(compact_json(structured)) <= budget:
        return _result(structured, text)
    found = message_id()
    session_id = str(structured.get("session_id"))
    uri = message_uri(session_id, found) if found else f"session://{session_id}"
    total = len(reply)
    cut_info = {"shown_chars": total, "total_chars": total, "uri": uri}
    bare = {**structured, "reply": "", "reply_truncated": cut_info}
    note = _cut_note(total, total, uri)

    def room(head: str) -> int:
        structured_size = len(compact_json({**bare, "reply": head}))
        text_size = len(header) + 2 + len(head) + 2 + len(note)
        return budget - max(structured_size, text_size)

    head = _cut(reply, room)
    cut_info["shown_chars"] = len(head)
    structured = {**structured, "reply": head, "reply_truncated": cut_info}
    text = f"{header}\n\n{head}\n\n{_cut_note(len(head), total, uri)}"
    return _result(structured, text, [_link(uri, f"answer of {session_id}", total)])


# ------------------------------------------------------------------------------ ask_models

ANSWER_ORDER = ("model", "reply", "session_id", "warnings", "usage", "error")


def _answer_section(answer: dict[str, Any]) -> str:
    head = f"## {answer.get('model')}"
    if answer.get("error"):
        return f"{head}\n[session {answer.get('session_id')} · failed]\n\n{answer['error']}"
    return f"{head}\n{chat_header(answer)}\n\n{answer.get('reply') or ''}"


def ask_models_result(data: dict[str, Any], message_id: Callable[[str], str | None]) -> CallToolResult:
    """An ``ask_models`` result; over the budget the longest replies are cut first, each with its link."""
    budget = max_result_chars()
    answers = [_ordered_reply(answer, ANSWER_ORDER) for answer in data.get("answers", [])]
    structured = {"answers": answers, **{k: v for k, v in data.items() if k != "answers"}}

    def render(items: list[dict[str, Any]], notes: dict[int, str]) -> str:
        sections = []
        for index, answer in enumerate(items):
            section = _answer_section(answer)
            if index in notes:
                section += "\n\n" + notes[index]
            sections.append(section)
        return "\n\n".join(sections)

    text = render(answers, {})
    if len(text) <= budget and len(compact_json(structured)) <= budget:
        return _result(structured, text)
    # The budget left for replies is shared: a short reply keeps its length, the rest split the remainder.
    replies = [answer.get("reply") or "" for answer in answers]
    uris: dict[int, str] = {}
    for index, answer in enumerate(answers):
        if answer.get("reply"):
            found = message_id(str(answer.get("session_id")))
            uris[index] = message_uri(str(answer["session_id"]), found) if found else f"session://{answer['session_id']}"

    def marker(index: int) -> dict[str, Any]:
        if index not in uris:
            return {}
        return {"reply_truncated": {"shown_chars": len(replies[index]), "total_chars": len(replies[index]), "uri": uris[index]}}

    skeleton = [{**answer, "reply": "", **marker(index)} for index, answer in enumerate(answers)]
    notes_full = {i: _cut_note(len(replies[i]), len(replies[i]), uris[i]) for i in uris}
    overhead = max(len(compact_json({**structured, "answers": skeleton})), len(render(skeleton, notes_full)))
    # JSON escapes can double a reply's size: share the room by the escaped size.
    room = max(budget - overhead - 200, 0)
    sizes = sorted(range(len(replies)), key=lambda i: len(compact_json(replies[i])))
    allowance: dict[int, int] = {}
    left, remaining = room, len(replies)
    for index in sizes:
        share = left // max(remaining, 1)
        escaped = len(compact_json(replies[index]))
        allowance[index] = min(escaped, share)
        left -= allowance[index]
        remaining -= 1
    shown: list[dict[str, Any]] = []
    notes: dict[int, str] = {}
    links: list[ResourceLink] = []
    for index, answer in enumerate(answers):
        reply = replies[index]
        if len(compact_json(reply)) <= allowance[index]:
            shown.append(answer)
            continue
        head = _cut(reply, lambda part, limit=allowance[index]: limit - len(compact_json(part)))
        cut_info = {"shown_chars": len(head), "total_chars": len(reply), "uri": uris[index]}
        shown.append({**answer, "reply": head, "reply_truncated": cut_info})
        notes[index] = _cut_note(len(head), len(reply), uris[index])
        links.append(_link(uris[index], f"answer of {answer.get('model')}", len(reply)))
    return _result({**structured, "answers": shown}, render(shown, notes), links)


# ------------------------------------------------------------------------------ listings


def _fit_items(
    structured: dict[str, Any], key: str, line: Callable[[dict[str, Any]], str], header: str, footer: Callable[[int, int], str]
) -> CallToolResult:
    """A listing with its items in ``structured[key]``: the text is ``header`` then one ``line``
    per item; both forms drop trailing items to stay within the budget and say so."""
    budget = max_result_chars()
    items: list[dict[str, Any]] = structured[key]
    lines = [line(item) for item in items]
    total = len(items)

    def text_of(count: int) -> str:
        body = "\n".join(lines[:count])
        tail = footer(count, total)
        return "\n".join(part for part in (header, body, tail) if part)

    def structured_of(count: int) -> dict[str, Any]:
        if count == total:
            return structured
        note = f"{total - count} more left out to stay within {budget:,} characters ({MAX_CHARS_ENV}); {footer(count, total)}"
        return {**structured, key: items[:count], "truncated": {"shown": count, "total": total, "note": note}}

    def fits(count: int) -> bool:
        return len(text_of(count)) <= budget and len(compact_json(structured_of(count))) <= budget

    if fits(total):
        return _result(structured, text_of(total))
    low, high = 0, total
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return _result(structured_of(low), text_of(low))


def _short_time(value: Any) -> str:
    text = str(value or "")
    return text[:16].replace("T", " ") if text else "?"


def _one_line(text: Any, limit: int) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def list_sessions_result(data: dict[str, Any], offset: int = 0) -> CallToolResult:
    """``list_sessions``: each item gains ``session_id`` (the name every other result uses) beside ``id``."""
    sessions = [{"session_id": item.get("id"), **item} for item in data.get("sessions", [])]
    structured = {"sessions": sessions, **{k: v for k, v in data.items() if k != "sessions"}}
    total = data.get("total", len(sessions))

    line = _session_line
    header = f"{total} session(s)" + (f", showing {offset + 1}-{offset + len(sessions)}" if sessions and total != len(sessions) else "")
    pending = data.get("index_pending")
    if pending:
        header += f" ({pending} written but not yet indexed)"

    def footer(count: int, all_items: int) -> str:
        after = offset + count
        return f"more: call again with offset={after}" if after < total else ""

    return _fit_items(structured, "sessions", line, header, footer)


def _session_line(item: dict[str, Any]) -> str:
    models = ",".join(item.get("models_used") or []) or "-"
    cost = "" if item.get("cost_usd") is None else f" · {_money(item['cost_usd'])}"
    tags = f" · tags {', '.join(item['tags'])}" if item.get("tags") else ""
    title = _one_line(item.get("title"), 80) or "(untitled)"
    return f"{item.get('session_id') or item.get('id')} · {_short_time(item.get('updated_at'))} · {models} · {item.get('message_count', 0)} msgs{cost}{tags} · {title}"


def session_summary_result(data: dict[str, Any]) -> CallToolResult:
    """``update_session``: the session's summary (``session_id`` first), as one listing line."""
    structured = {"session_id": data.get("id"), **data}
    return _result(structured, _session_line(structured))


def deleted_result(data: dict[str, Any]) -> CallToolResult:
    """``delete_session``: where the file went and how to bring it back."""
    text = f"session {data.get('session_id')} moved to the trash ({data.get('trashed_to')}); to restore it: {data.get('restore')}"
    return _result(dict(data), text)


def search_result(data: dict[str, Any], offset: int = 0) -> CallToolResult:
    """``search_sessions``: one line per hit."""
    structured = dict(data)

    def line(hit: dict[str, Any]) -> str:
        return (f"{hit.get('session_id')} #{hit.get('message_id')} · {hit.get('role')} · {hit.get('model') or '-'} · "
                f"{_short_time(hit.get('created_at'))} · {_one_line(hit.get('snippet'), 300)}")

    hits = structured.get("hits", [])
    header = f"{len(hits)} hit(s)" + (f" from {offset + 1}" if offset else "") + (" (best first; open one with get_session)" if hits else "")
    pending = data.get("index_pending")
    if pending:
        header += f"; {pending} session file(s) not yet indexed"

    def footer(count: int, total: int) -> str:
        return f"more: call again with offset={offset + count}" if count < total else ""

    return _fit_items(structured, "hits", line, header, footer)


def switches_result(data: dict[str, Any]) -> CallToolResult:
    """``model_switch_history``: one line per switch."""

    def line(item: dict[str, Any]) -> str:
        return (f"{item.get('session_id')} · message {item.get('at_message')} · {item.get('from_model')} -> "
                f"{item.get('to_model')} · {_short_time(item.get('at'))}")

    switches = data.get("switches", [])
    header = f"{len(switches)} model switch(es)"

    def footer(count: int, total: int) -> str:
        return f"{total - count} more: filter by session_id or model" if count < total else ""

    return _fit_items(dict(data), "switches", line, header, footer)


def models_result(data: dict[str, Any]) -> CallToolResult:
    """``list_models``: a line per provider (key set or not), then a line per model."""
    providers = data.get("providers") or []
    lines_head = []
    for info in providers:
        key = info.get("key_variable")
        state = "key set" if info.get("key_set") else (f"needs {key}" if info.get("key_required") else "no key needed")
        aliases = info.get("aliases") or {}
        alias_text = f"; aliases {', '.join(f'{a}={t}' for a, t in aliases.items())}" if aliases else ""
        shown = info.get("models_listed")
        count = f"; {shown} model(s) listed" if shown is not None else ""
        lines_head.append(f"{info.get('provider')} ({', '.join(info.get('patterns') or [])}): {state}{count}{alias_text}")

    def line(item: dict[str, Any]) -> str:
        if "model" not in item:  # a list handed in by a test or an older wiring: shown as it is
            return compact_json(item)
        window = item.get("context_window")
        price_in, price_out = item.get("input_usd_per_mtok"), item.get("output_usd_per_mtok")
        price = "price unknown" if price_in is None and price_out is None else f"${price_in}/${price_out} per M in/out"
        return f"{item['model']} · {f'{window:,}' if window else '?'} ctx · {price}" + ("" if item.get("key_set", True) else " · no key")

    header = "\n".join(lines_head + (["models (context window in tokens, USD per million tokens in/out):"] if providers else []))

    def footer(count: int, total: int) -> str:
        return f"{total - count} more models: narrow with provider=<name> or query=<part of a name>" if count < total else ""

    return _fit_items(dict(data), "models", line, header, footer)


# ------------------------------------------------------------------------------ get_session


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
        elif isinstance(part, dict):
            parts.append(f"[{part.get('type', 'part')}: {part.get('name') or part.get('path') or part.get('sha256') or ''}]")
    return "\n".join(parts)


def _message_block(message: dict[str, Any]) -> str:
    who = message.get("role", "?")
    if message.get("model") and who == "assistant":
        who += f" ({message['model']})"
    head = f"### {message.get('index', '?')} · {who} · {_short_time(message.get('created_at'))} · #{message.get('id')}"
    return f"{head}\n\n{_message_text(message)}"


def session_page_result(data: dict[str, Any], newest_first_page: bool) -> CallToolResult:
    """``get_session``: a transcript page. Over the budget, whole messages are left out — the
    oldest of the page when it is the newest page (``offset`` not given), else the last — and
    the result says which (``offset``/``returned``/``more_*`` describe what is shown)."""
    budget = max_result_chars()
    session = data.get("session") or {}
    messages: list[dict[str, Any]] = data.get("messages") or []
    total = len(messages)

    def page(count: int) -> tuple[dict[str, Any], str]:
        kept = messages[total - count:] if newest_first_page else messages[:count]
        start = data.get("offset", 0) + (total - count if newest_first_page else 0)
        structured = {**data, "messages": kept}
        if count < total:
            structured.update(offset=start, returned=count, more_before=start > 0,
                              more_after=start + count < data.get("total_messages", start + count))
            structured["truncated"] = {"shown": count, "total": total,
                                       "note": f"{total - count} message(s) of this page left out to stay within {budget:,} characters; page with offset/limit"}
        title = session.get("title") or "(untitled)"
        cost = data.get("cost_usd")
        header = (f"# {title}\nsession {session.get('id')} · {', '.join(session.get('models_used') or []) or 'no model yet'} · "
                  f"{data.get('total_messages', total)} messages · {_money(cost) if cost is not None else 'no known price'} · "
                  f"showing {start + 1 if kept else 0}-{start + len(kept)}")
        text = "\n\n".join([header, *map(_message_block, kept)])
        if count < total:
            text += f"\n\n[{total - count} message(s) of this page left out to stay within the size limit: page with offset/limit]"
        return structured, text

    def fits(count: int) -> bool:
        structured, text = page(count)
        return len(text) <= budget and len(compact_json(structured)) <= budget

    count = total
    if not fits(count):
        low, high = 0, total
        while low < high:
            middle = (low + high + 1) // 2
            if fits(middle):
                low = middle
            else:
                high = middle - 1
        count = low
    if count == 0 and total:  # one message alone is over the budget: show its head, link the whole
        return _one_cut_message(data, newest_first_page, budget)
    structured, text = page(count)
    return _result(structured, text)


def _one_cut_message(data: dict[str, Any], newest_first_page: bool, budget: int) -> CallToolResult:
    messages = data["messages"]
    message = messages[-1] if newest_first_page else messages[0]
    whole = _message_text(message)
    uri = message_uri(str((data.get("session") or {}).get("id")), str(message.get("id")))
    index = message.get("index", 0)
    base = {**data, "offset": index, "returned": 1, "more_before": index > 0,
            "more_after": index + 1 < data.get("total_messages", index + 1),
            "truncated": {"shown": 1, "total": len(messages), "note": f"one message shown, its text cut to the size limit; the whole: {uri}"}}

    def build(head: str) -> tuple[dict[str, Any], str]:
        shown = {**message, "content": f"{head} [...cut to the size limit: {len(whole):,} characters in total; the whole: {uri}]"}
        structured = {**base, "messages": [shown]}
        return structured, _message_block(shown)

    def room(head: str) -> int:
        structured, text = build(head)
        return budget - 200 - max(len(text), len(compact_json(structured)))

    structured, text = build(_cut(whole, room))
    return _result(structured, text, [_link(uri, f"message {message.get('id')}", len(whole))])


def untitled(schema: Any, *, output: bool = False) -> Any:
    """``schema`` without the ``title`` pydantic gives every field ("Session Id" for ``session_id``):
    it says nothing the name does not, and a client sends tools/list to its model on every request.
    An ``output`` schema also loses what JSON Schema assumes anyway (no default, extra keys allowed)."""
    if not isinstance(schema, dict):
        return schema
    dropped = {"title"} | ({"default", "additionalProperties"} if output else set())
    kept = {key: value for key, value in schema.items()
            if not (key in dropped and (key != "title" or isinstance(value, str)) and (key != "additionalProperties" or value is True))}
    if output and "default" in schema and schema["default"] is not None:
        kept["default"] = schema["default"]
    for key in ("properties", "$defs"):
        if isinstance(kept.get(key), dict):
            kept[key] = {name: untitled(value, output=output) for name, value in kept[key].items()}
    for key in ("anyOf", "allOf", "oneOf"):
        if isinstance(kept.get(key), list):
            kept[key] = [untitled(value, output=output) for value in kept[key]]
    for key in ("items", "additionalProperties"):
        if isinstance(kept.get(key), dict):
            kept[key] = untitled(kept[key], output=output)
    return kept
