"""A real server over MCP stdio while its index catches up: the tools answer at once from what is
indexed, ``index_pending`` says how much is left and falls to 0, and the catch-up is logged.

Covers the first start on a store nobody indexed, ``index.sqlite`` deleted while the server runs
(it once blocked the next tool call for 30 s while the reader rebuilt it), and every filter of
``list_sessions`` through the client.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.bench.corpus import write_corpus
from store import SessionStore
from tests.hardening_helpers import McpClient, mcp_server

FILES = 3000
# A tool call during a catch-up answers from what is indexed: its result says so (total below
# FILES, index_pending > 0), which a call that waited for the catch-up could not (no timing).


def env() -> dict[str, str]:
    # The listing test reads pages of 500 sessions: room for them beside the default size limit.
    base = {"PYTHONUNBUFFERED": "1", "LLM_LOG_LEVEL": "INFO", "PATH": os.environ.get("PATH", ""), "LLM_MCP_MAX_RESULT_CHARS": "1000000"}
    base.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")})
    return base


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catch-up") / ".llm_sessions"
    write_corpus(root, FILES, 2, seed=3, jobs=1)
    return root


def wait_for_current(client: McpClient, timeout: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = client.call("list_sessions", limit=1)
        if listing["index_pending"] == 0 and listing["total"] == FILES:
            return listing
        time.sleep(0.2)
    raise AssertionError(f"the index did not catch up: {listing}")


@pytest.fixture(scope="module")
def served(corpus: Path) -> Iterator[McpClient]:
    assert not (corpus / "index.sqlite").exists()
    with mcp_server(corpus, env(), corpus.parent / "server.log") as client:
        yield client


def test_first_start_answers_at_once_and_reports_what_is_pending(served: McpClient, corpus: Path) -> None:
    listing = served.call("list_sessions", limit=5)
    assert listing["index_pending"] > 0 and listing["total"] < FILES, listing  # answered from what is indexed
    assert "index_pending" in served.call("search_sessions", query="watcher")
    listing = wait_for_current(served)
    assert listing["index_pending"] == 0
    assert "index catch-up" in served.log() and f"/ {FILES} session files indexed" in served.log()


def test_a_deleted_index_is_rebuilt_in_the_background_without_blocking(served: McpClient, corpus: Path) -> None:
    wait_for_current(served)
    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (corpus / name).unlink(missing_ok=True)
    listing = served.call("list_sessions", limit=5)
    assert listing["total"] < FILES  # answered from the index as it is, not after rebuilding it
    switches = served.call("model_switch_history")
    seen_pending = listing["index_pending"] > 0 or switches["index_pending"] > 0
    deadline = time.monotonic() + 5
    while not seen_pending and time.monotonic() < deadline:  # the watcher notices within 0.25 s
        seen_pending = served.call("list_sessions", limit=1)["index_pending"] > 0
    assert seen_pending
    assert wait_for_current(served)["total"] == FILES


def test_every_list_sessions_filter_through_the_client(served: McpClient, corpus: Path) -> None:
    wait_for_current(served)
    store = SessionStore(corpus)
    files = [store.load(path.stem) for path in sorted((corpus / "sessions").iterdir())[:400]]

    def ids(**arguments: Any) -> tuple[list[str], int]:
        listing = served.call("list_sessions", limit=500, **arguments)
        assert all(item["id"] == item["session_id"] for item in listing["sessions"])
        return [item["session_id"] for item in listing["sessions"]], listing["total"]

    newest, total = ids()
    assert total == FILES and len(newest) == 500
    stamps = [(s["updated_at"], s["session_id"]) for s in served.call("list_sessions", limit=500)["sessions"]]
    assert stamps == sorted(stamps, reverse=True)
    paged = served.call("list_sessions", limit=7, offset=3)
    assert [s["session_id"] for s in paged["sessions"]] == newest[3:10] and (paged["limit"], paged["offset"]) == (7, 3)
    one = files[17]
    model_ids, model_total = ids(model=one.models_used[0])
    assert one.id in model_ids or model_total > 500
    assert model_total == sum(1 for s in store.list().sessions if one.models_used[0] in s.models_used or s.current_model == one.models_used[0])
    tagged = next(s for s in files if s.tags)
    tag_ids, tag_total = ids(tag=tagged.tags[0], until=tagged.updated_at.isoformat())
    assert tagged.id in tag_ids
    assert all(tagged.tags[0] in store.load(sid).tags for sid in tag_ids[:20])
    assert ids(query=one.id.split("-")[-1])[0] == [one.id]  # the last word of the id
    titled = next(s for s in files if s.title)
    at = titled.updated_at.isoformat()
    assert ids(query=titled.title.split()[0][:3], since=at, until=at)[0] == [titled.id]
    assert ids(group_id="grp_none") == ([], 0)
    since_ids, since_total = ids(since=files[-1].updated_at.isoformat())
    assert since_total == sum(1 for s in store.list().sessions if s.updated_at >= files[-1].updated_at)
    assert "no words" in served.error("list_sessions", query="--")
    assert "since 'yesterday' is not" in served.error("list_sessions", since="yesterday")
