"""What the agent's model receives per tool result, before and after issue 27, on the same answers.

    python -m scripts.bench.result_sizes [--json]

For each result: characters and estimated tokens of (a) the text content, which most clients
hand to their model, and (b) ``JSON.stringify(structuredContent)``, which Claude Code and VS
Code hand to theirs when it is present. "before" is the old shape: the dict dumped by the SDK
(indented JSON text) and the same dict as ``structuredContent``; "after" is :mod:`chat.results`
with the defaults (``LLM_MCP_RESULTS=both``, ``LLM_MCP_MAX_RESULT_CHARS=40000``). Tokens are the
project's estimate (``adapters.context_windows.estimate_text_tokens``: ASCII/4 + 1 per other
character; no tokenizer is installed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mcp.server.mcpserver.utilities.func_metadata import _convert_to_content  # noqa: E402
from mcp.types import TextContent  # noqa: E402

from adapters.context_windows import estimate_text_tokens  # noqa: E402
from chat import results  # noqa: E402

PARAGRAPH = (
    "The function `parse_user_time` accepts \"2026-12-07\" and ISO times; it is called from two places.\n\n"
    "```python\ndef parse(value: str) -> datetime:\n    return datetime.fromisoformat(value.replace(\"Z\", \"+00:00\"))\n```\n\n"
    "- **Risk**: a naive time is read as local time, not UTC.\n- **Fix**: attach `timezone.utc` when `tzinfo` is None.\n\n"
)


def answer(chars: int) -> str:
    return (PARAGRAPH * (chars // len(PARAGRAPH) + 1))[:chars]


def usage() -> dict[str, Any]:
    return {"input_tokens": 1834, "output_tokens": 612, "cost_usd": 0.010705}


def chat_dict(chars: int) -> dict[str, Any]:
    return {"session_id": "20261207-101500-a1b2c3", "model": "gpt-4o", "reply": answer(chars), "warnings": [], "usage": usage()}


def ask_dict() -> dict[str, Any]:
    answers = [{"model": m, "session_id": f"20261207-101500-{i}a2b3c", "reply": answer(2400), "warnings": [], "usage": usage(), "error": None}
               for i, m in enumerate(["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro"])]
    return {"group_id": "g-20261207-101500", "answers": answers}


def search_dict() -> dict[str, Any]:
    hit = {"session_id": "20261207-101500-a1b2c3", "message_id": "msg_0123456789abcdef0123", "model": "gpt-4o", "role": "assistant",
           "created_at": "2026-12-07T10:15:00.123456+00:00", "snippet": "…the function [parse_user_time] accepts \"2026-12-07\" and ISO times; a naive time is read as local…",
           "score": -7.25}
    return {"hits": [dict(hit) for _ in range(20)]}


def sessions_dict() -> dict[str, Any]:
    item = {"id": "20261207-101500-a1b2c3", "title": "Review of the date parsing in utils/dates.py", "created_at": "2026-12-07T10:15:00+00:00",
            "updated_at": "2026-12-07T10:20:00+00:00", "current_model": "gpt-4o", "models_used": ["gpt-4o", "claude-sonnet-4-5"],
            "tags": ["review"], "message_count": 6, "cost_usd": 0.0321, "unpriced_answers": 0, "group_id": None, "forked_from": None}
    return {"sessions": [dict(item) for _ in range(50)], "quarantined": [], "refused": [], "total": 50}


def page_dict(count: int) -> dict[str, Any]:
    messages = []
    for index in range(count):
        role = "user" if index % 2 == 0 else "assistant"
        messages.append({"id": f"msg_{index:020d}", "role": role, "content": answer(600 if role == "user" else 2400), "created_at": "2026-12-07T10:15:00+00:00",
                         "extra": {}, "index": index, **({"model": "gpt-4o", "provider": "openai", "usage": usage(), "latency_ms": 2100} if role == "assistant" else {})})
    head = {"schema_version": 1, "id": "20261207-101500-a1b2c3", "title": "Review of the date parsing", "created_at": "2026-12-07T10:15:00+00:00",
            "updated_at": "2026-12-07T10:20:00+00:00", "tags": [], "current_model": "gpt-4o", "models_used": ["gpt-4o"], "model_switches": [],
            "tool_state": {}, "summaries": [], "extensions": {}, "extra": {}}
    return {"session": head, "cost_usd": 0.2, "unpriced_answers": 0, "messages": messages, "offset": 0, "returned": count,
            "total_messages": count, "more_before": False, "more_after": False}


def models_before_after() -> tuple[dict[str, Any], dict[str, Any]]:
    saved = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "LLM_MCP_CONFIG", "OLLAMA_BASE_URL")}
    os.environ.update(OPENAI_API_KEY="x", ANTHROPIC_API_KEY="x", OLLAMA_BASE_URL="http://127.0.0.1:9/v1")
    os.environ.pop("LLM_MCP_CONFIG", None)
    try:
        from adapters.catalog import model_catalog
        from adapters.registry import list_models

        before = {"models": [info.model_dump(mode="json") for info in list_models()]}
        after = model_catalog().model_dump(mode="json", exclude_none=True)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return before, after


def measure(text: str) -> tuple[int, int]:
    return len(text), estimate_text_tokens(text)


def row(name: str, before: dict[str, Any], after: Callable[[], Any]) -> dict[str, Any]:
    old_text = "".join(block.text for block in _convert_to_content(before) if isinstance(block, TextContent))
    new = after()
    new_text = "".join(block.text for block in new.content if isinstance(block, TextContent))
    return {
        "result": name,
        "before_text": measure(old_text),
        "before_structured": measure(results.compact_json(before)),
        "after_text": measure(new_text),
        "after_structured": measure(results.compact_json(new.structured_content)),
    }


def rows() -> list[dict[str, Any]]:
    models_before, models_after = models_before_after()
    ids = lambda *_: "msg_0123456789abcdef0123"  # noqa: E731
    return [
        row("chat, 2,400-char answer", chat_dict(2400), lambda: results.chat_result(chat_dict(2400), ids)),
        row("chat, 120,000-char answer", chat_dict(120_000), lambda: results.chat_result(chat_dict(120_000), ids)),
        row("ask_models, 3 x 2,400", ask_dict(), lambda: results.ask_models_result(ask_dict(), ids)),
        row("search_sessions, 20 hits", search_dict(), lambda: results.search_result(search_dict())),
        row("list_sessions, 50", sessions_dict(), lambda: results.list_sessions_result(sessions_dict())),
        row("get_session, default page (50 msgs)", page_dict(50), lambda: results.session_page_result(page_dict(50), True)),
        row("list_models (OpenAI + Anthropic keys)", models_before, lambda: results.models_result(models_after)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    measured = rows()
    if args.json:
        print(json.dumps(measured, indent=2))
        return 0
    print("| result | before: text | before: structured | after: text | after: structured |")
    print("|---|---|---|---|---|")
    for item in measured:
        cells = [f"{c:,} ch / {t:,} tok" for c, t in (item[k] for k in ("before_text", "before_structured", "after_text", "after_structured"))]
        print(f"| {item['result']} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
