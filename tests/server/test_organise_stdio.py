"""Organising sessions through the SDK's real MCP client talking to ``server.py`` over stdio:
titles from the first prompt (English and Chinese) or given, ``created``, the near-match warning,
case-insensitive ids, ``update_session`` and ``delete_session`` (trash, index and views follow)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeOpenAI
from tests.hardening_helpers import REPO_ROOT, McpClient, mcp_server, subprocess_env, wait_until


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("organise")
    with FakeOpenAI() as openai:
        env = subprocess_env({**openai.env("OPENAI"), "LLM_UNIFIED": "1"})
        with mcp_server(tmp / "root", env, tmp / "server.log") as client:
            yield {"client": client, "root": tmp / "root", "openai": openai}


@pytest.fixture
def client(world: dict[str, Any]) -> McpClient:
    world["openai"].reset()
    return world["client"]


def test_a_new_session_is_titled_from_its_first_prompt_and_says_it_was_created(client: McpClient) -> None:
    first = client.call("chat", prompt="\n\n  Review   the retry policy\nof the HTTP adapter, please", model="gpt-4o")
    assert first["created"] is True
    again = client.call("chat", prompt="and the timeouts?", model="gpt-4o", session_id=first["session_id"])
    assert "created" not in again
    page = client.call("get_session", session_id=first["session_id"])
    assert page["session"]["title"] == "Review the retry policy"
    chinese = client.call("chat", prompt="请检查这个函数的错误处理。\n第二行", model="gpt-4o")
    assert client.call("get_session", session_id=chinese["session_id"])["session"]["title"] == "请检查这个函数的错误处理。"
    given = client.call("chat", prompt="anything", model="gpt-4o", title="Auth refactor notes")
    assert client.call("get_session", session_id=given["session_id"])["session"]["title"] == "Auth refactor notes"


def test_a_case_variant_of_an_existing_id_is_refused_and_a_near_match_is_named(client: McpClient, world: dict[str, Any]) -> None:
    client.call("chat", prompt="day one", model="gpt-4o", session_id="day1")
    error = client.error("chat", prompt="hello", model="gpt-4o", session_id="Day1")
    assert "day1" in error
    assert not (world["root"] / "sessions" / "Day1.json").exists()
    client.call("chat", prompt="refactor the auth module", model="gpt-4o", session_id="refactor-auth")
    typo = client.call("chat", prompt="continue", model="gpt-4o", session_id="refactr-auth")
    assert typo["created"] is True
    assert any("did you mean 'refactor-auth'" in warning for warning in typo["warnings"])


def test_update_session_sets_title_and_tags_without_reordering(client: McpClient) -> None:
    sid = client.call("chat", prompt="a question", model="gpt-4o")["session_id"]
    before = client.call("get_session", session_id=sid)["session"]["updated_at"]
    summary = client.call("update_session", session_id=sid, title="Renamed", add_tags=["review", "http"])
    assert (summary["session_id"], summary["title"], sorted(summary["tags"])) == (sid, "Renamed", ["http", "review"])
    summary = client.call("update_session", session_id=sid, remove_tags=["http"])
    assert summary["tags"] == ["review"] and summary["updated_at"] == before
    assert sid in [item["id"] for item in client.call("list_sessions", tag="review")["sessions"]]
    assert "nothing to change" in client.error("update_session", session_id=sid)
    assert "tag" in client.error("update_session", session_id=sid, add_tags=["two words"])
    assert "no session" in client.error("update_session", session_id="never-was", title="x")


def test_delete_session_moves_it_to_the_trash_and_out_of_search(client: McpClient, world: dict[str, Any]) -> None:
    sid = client.call("chat", prompt="the wombat protocol", model="gpt-4o")["session_id"]
    assert {hit["session_id"] for hit in client.call("search_sessions", query="wombat")["hits"]} == {sid}
    done = client.call("delete_session", session_id=sid)
    assert "restore" in done["restore"] and Path(done["trashed_to"]).exists()
    root = world["root"]
    assert not (root / "sessions" / f"{sid}.json").exists()
    assert client.call("search_sessions", query="wombat")["hits"] == []
    assert not any(root.glob(f"by-model/*/{sid}.json")) and not any(root.glob(f"by-date/*/{sid}.json"))
    assert "no session" in client.error("get_session", session_id=sid)
    restored = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "sessions.py"), "restore", sid, "--root", str(root)],
                              capture_output=True, text=True, timeout=60, env=subprocess_env())
    assert restored.returncode == 0, restored.stderr
    wait_until(lambda: client.call("search_sessions", query="wombat")["hits"], what="the restored session is searchable again")
    check = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "reindex.py"), "--check", "--root", str(root)],
                           capture_output=True, text=True, timeout=120, env=subprocess_env())
    assert check.returncode == 0, check.stdout + check.stderr
