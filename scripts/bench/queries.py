"""The 20 mixed search queries of the search benchmark, and a naive scan to compare with.

Each ``BenchQuery`` says what ``SearchIndex.search`` is asked (query text and filters) and how
a naive scan of the JSON files decides a match (``terms``: every term must occur in the
message text, case-insensitively; a term ending in ``*`` is a word prefix).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from scripts.bench.corpus import base_time, session_time


class BenchQuery(BaseModel):
    name: str
    kind: str
    query: str
    terms: list[str]
    model: str | None = None
    role: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def search_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``SearchIndex.search`` besides the query text."""
        filters = {"model": self.model, "role": self.role, "since": self.since, "until": self.until}
        return {key: value for key, value in filters.items() if value is not None}


def bench_queries(seed: int, sessions: int) -> list[BenchQuery]:
    """The 20 queries: words, phrases, prefixes, CJK, and filters by model, role and date.

    Dates are fractions of the time span of the corpus of ``seed`` with ``sessions`` sessions,
    so the date filters select a real slice of any corpus size.
    """
    start = base_time(seed)
    span = session_time(seed, max(sessions - 1, 1)) - start
    queries = [
        BenchQuery(name="word common", kind="word", query="session", terms=["session"]),
        BenchQuery(name="word mid", kind="word", query="watcher", terms=["watcher"]),
        BenchQuery(name="word rare", kind="word", query="canary", terms=["canary"]),
        BenchQuery(name="two words", kind="words", query="atomic rename", terms=["atomic", "rename"]),
        BenchQuery(name="three words", kind="words", query="sqlite tokenizer snippet", terms=["sqlite", "tokenizer", "snippet"]),
        BenchQuery(name="identifier", kind="word", query="SessionStore", terms=["sessionstore"]),
        BenchQuery(name="snake identifier", kind="word", query="load_session", terms=["load_session"]),
        BenchQuery(name="phrase", kind="phrase", query='"the watcher"', terms=["the watcher"]),
        BenchQuery(name="phrase long", kind="phrase", query='"should use the"', terms=["should use the"]),
        BenchQuery(name="prefix", kind="prefix", query="serial*", terms=["serial*"]),
        BenchQuery(name="prefix short", kind="prefix", query="ind*", terms=["ind*"]),
        BenchQuery(name="CJK word", kind="cjk", query="数据库", terms=["数据库"]),
        BenchQuery(name="CJK phrase", kind="cjk", query="原子写入", terms=["原子写入"]),
        BenchQuery(name="CJK + English", kind="cjk", query="索引 watcher", terms=["索引", "watcher"]),
        BenchQuery(name="model filter", kind="filter", query="latency", terms=["latency"], model="gemini-2.5-pro"),
        BenchQuery(name="role filter", kind="filter", query="fsync", terms=["fsync"], role="assistant"),
        BenchQuery(name="since", kind="filter", query="timeout", terms=["timeout"], since=start + span * 0.8),
        BenchQuery(name="since+until", kind="filter", query="retry", terms=["retry"], since=start + span * 0.3, until=start + span * 0.4),
        BenchQuery(
            name="model+date", kind="filter", query="benchmark", terms=["benchmark"], model="kimi-k2", since=start, until=start + span * 0.25
        ),
        BenchQuery(name="no hit", kind="word", query="xylophone", terms=["xylophone"]),
    ]
    assert len(queries) == 20
    return queries


def held_out_queries(seed: int, sessions: int) -> list[BenchQuery]:
    """Queries the search code was not tuned on (issue 11): the most common word, prefixes,
    ``OR``, mixed CJK + Latin, the prefix fallback, and common words under filters."""
    start = base_time(seed)
    span = session_time(seed, max(sessions - 1, 1)) - start
    return [
        BenchQuery(name="stop word", kind="word", query="the", terms=["the"]),
        BenchQuery(name="very common pair", kind="words", query="the session", terms=["the", "session"]),
        BenchQuery(name="prefix mod*", kind="prefix", query="mod*", terms=["mod*"]),
        BenchQuery(name="prefix s*", kind="prefix", query="s*", terms=["s*"]),
        BenchQuery(name="a OR b", kind="or", query="atomic OR rename", terms=["atomic"]),
        BenchQuery(name="common OR", kind="or", query="session OR model", terms=["session"]),
        BenchQuery(name="CJK + common word", kind="cjk", query="数据库 the", terms=["数据库", "the"]),
        BenchQuery(name="short CJK + word", kind="cjk", query="会话 index", terms=["会话", "index"]),
        BenchQuery(name="prefix fallback", kind="prefix", query="sess", terms=["sess*"]),
        BenchQuery(name="common + model", kind="filter", query="the", terms=["the"], model="gpt-4o"),
        BenchQuery(name="common + role", kind="filter", query="session", terms=["session"], role="user"),
        BenchQuery(name="common, old slice", kind="filter", query="model", terms=["model"], until=start + span * 0.1),
    ]


def _matcher(terms: list[str]) -> Callable[[str], bool]:
    """A predicate on message text: every literal term is a substring, every ``x*`` a word prefix."""
    literals = [term.lower() for term in terms if not term.endswith("*")]
    prefixes = [re.compile(rf"\b{re.escape(term[:-1])}", re.IGNORECASE) for term in terms if term.endswith("*")]

    def matches(text: str) -> bool:
        lowered = text.lower()
        return all(term in lowered for term in literals) and all(p.search(text) for p in prefixes)

    return matches


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def naive_json_scan(sessions_dir: Path, query: BenchQuery, limit: int = 20) -> list[tuple[str, str]]:
    """Search by reading and parsing every session file: what the index saves us from.

    Returns up to ``limit`` (session id, message id) pairs, newest message first.
    """
    matches = _matcher(query.terms)
    since = query.since.isoformat().replace("+00:00", "Z") if query.since else None
    until = query.until.isoformat().replace("+00:00", "Z") if query.until else None
    hits: list[tuple[str, str, str]] = []
    for path in sessions_dir.iterdir():
        if path.suffix != ".json":
            continue
        document = json.loads(path.read_bytes())
        for message in document.get("messages", ()):
            if query.model is not None and message.get("model") != query.model:
                continue
            if query.role is not None and message.get("role") != query.role:
                continue
            created = message.get("created_at", "")
            # The corpus writes times as ...Z, so ISO strings compare in time order.
            if since is not None and created < since:
                continue
            if until is not None and created > until:
                continue
            if matches(_text(message.get("content"))):
                hits.append((created, document["id"], message["id"]))
    hits.sort(reverse=True)
    return [(session_id, message_id) for _, session_id, message_id in hits[:limit]]


def grep_scan(sessions_dir: Path, query: BenchQuery) -> int:
    """``grep -r -l -i -F`` for the query's first literal term: the number of files matching.

    A lower bound for a grep-based search: it checks one term, no filters, no ranking.
    """
    term = query.terms[0].rstrip("*")
    done = subprocess.run(
        ["grep", "-r", "-l", "-i", "-F", "--include=*.json", "--", term, str(sessions_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"grep failed: {done.stderr.strip()}")
    return len(done.stdout.splitlines())
