"""Datasette metadata for ``index.sqlite``: what a person reading the tables needs to know.

Descriptions follow docs/search-index.md (the reference for every column). Internal tables
(``files``, ``message_time_blocks``, the full-text tables and their shadow tables) are hidden
from the listings but stay queryable in SQL. The search boxes of
``messages`` and ``sessions`` use the word tables; a query with Chinese, Japanese or Korean
text is sent to the trigram tables (``index.browse.search``).
"""

from __future__ import annotations

from typing import Any

from index.browse.queries import canned_queries

DATABASE = "index"  # Datasette names a database after its file: index.sqlite
PLUGIN = "llm-mcp-browse"
# Datasette 0.65 hides tables, not views: messages_words and messages_cjk stay listed.
HIDDEN = ("files", "message_time_blocks", "messages_fts", "sessions_fts", "messages_trigram", "sessions_trigram")
_TIME = "UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ (text order is time order)"

SESSIONS = {
    "description": "One row per session file (sessions/<id>.json). Open a session as a conversation with the link on its id.",
    "label_column": "title",
    "sort_desc": "updated_at",
    "fts_table": "sessions_fts",
    "fts_pk": "session_rowid",
    "facets": ["current_model", {"array": "models_used"}, {"array": "tags"}],
    "columns": {
        "session_id": "the session's id (its file name without .json)",
        "title": "the session's title (by default its first prompt)",
        "created_at": f"when the session was created, {_TIME}",
        "updated_at": f"when the session last changed, {_TIME}",
        "current_model": "the model the next turn goes to",
        "models_used": "JSON array of every model used, in order of first use",
        "tags": "JSON array of tags",
        "message_count": "number of messages",
        "switch_count": "number of model switches",
        "file_path": "the session's file, relative to the session root",
        "cost_usd": "the answers' summed price in USD; empty when no answer has a known price",
        "unpriced_answers": "answers without a known price (then cost_usd is a lower bound)",
        "group_id": "shared by the sessions of one ask_models call",
        "forked_from": "the session this one was branched from (ask_models with a session_id)",
    },
}

MESSAGES = {
    "description": "Every message of every session, in session order (position). The search box finds words, "
    "\"exact phrases\" and prefixes; Chinese, Japanese or Korean text is matched as a substring.",
    "sort_desc": "message_rowid",
    "fts_table": "messages_fts",
    "fts_pk": "message_rowid",
    "facets": ["role", "model", "provider", "turn_status", {"date": "created_at"}],
    "columns": {
        "session_id": "the session the message belongs to (the link opens it at this message)",
        "position": "0-based index of the message in its session",
        "message_id": "the message's id",
        "role": "system, user, assistant or tool",
        "model": "the model that wrote it (answers only)",
        "provider": "the provider of that model",
        "created_at": f"when the message was written, {_TIME}",
        "text": "the searchable text: content, text of content parts and tool results, tool-call names "
        "and arguments, and each attached file's path and text",
        "tool_names": "comma-separated names of the tool calls it makes",
        "tool_call_id": "for a tool result: the call it answers",
        "input_tokens": "input tokens the provider reported for this answer",
        "output_tokens": "output tokens the provider reported for this answer",
        "cost_usd": "the answer's price in USD when it came; empty when unknown",
        "latency_ms": "time until the answer was complete, in milliseconds",
        "turn_status": "answered, failed (the question, when the call failed) or incomplete (an answer cut short); "
        "empty for messages that end no chat turn",
        "turn_model": "the model the turn was sent to",
        "turn_provider": "the provider the turn was sent to",
        "cjk": "1 if the text holds Chinese, Japanese or Korean characters",
    },
}

SWITCHES = {
    "description": "Every model switch: where in a session the model changed, and the warning the switch gave.",
    "sort_desc": "switched_at",
    "facets": ["from_model", "to_model"],
    "columns": {
        "session_id": "the session that switched (the link opens it at the switch)",
        "position": "0-based index of the switch in its session",
        "at_message": "index of the first message after the switch",
        "from_model": "the model before",
        "to_model": "the model after",
        "switched_at": f"when, {_TIME}",
        "warning": "what the switch warned about (context re-tokenised, tool-call formats, earlier answers)",
    },
}


def build_metadata(token_env: str | None = None) -> dict[str, Any]:
    """The metadata dict; ``token_env`` names the variable holding the token the pages require
    (Datasette resolves ``{"$env": ...}`` in plugin settings, so the secret is not in the metadata)."""
    tables: dict[str, Any] = {"sessions": SESSIONS, "messages": MESSAGES, "model_switches": SWITCHES}
    for name in HIDDEN:
        tables[name] = {"hidden": True}
    plugin: dict[str, Any] = {"token": {"$env": token_env}, "token_required": True} if token_env else {}
    return {
        "title": "LLM sessions",
        "description_html": (
            "The session index of llm-mcp-server, read-only. Start from "
            '<a href="/index/sessions">sessions</a>, search <a href="/index/messages">messages</a>, '
            'or open a chart: <a href="/index/cost_per_day">cost per day</a>, '
            '<a href="/index/turns_per_day">turns per model</a>, '
            '<a href="/index/latency_per_provider">latency per provider</a>, '
            '<a href="/index/most_switches">most switches</a>.'
        ),
        "plugins": {PLUGIN: plugin},
        "databases": {
            DATABASE: {
                "description": "Derived from sessions/*.json (safe to delete, rebuilt by scripts/reindex.py). Opened read-only.",
                "tables": tables,
                "queries": canned_queries(),
            }
        },
    }
