"""Sessions as MCP resources, read by the SDK's real client from ``server.py`` over stdio."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from mcp.shared.exceptions import MCPError

import server
from store import Message, Session, SessionStore
from store.markdown import render_session
from tests.fakes import FakeOpenAI
from tests.hardening_helpers import McpClient, mcp_server, subprocess_env, wait_until

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("resources")
    store = SessionStore(tmp / "root")
    # 60 old sessions (one a day), one very long one, all written before the server starts.
    for day in range(60):
        at = T0 + timedelta(days=day)
        store.save_new(Session(id=f"old-{day:02d}", title=f"day {day}", created_at=at, updated_at=at,
                               messages=[Message(role="user", content=f"hello {day}", created_at=at)]))
    at = T0 + timedelta(days=100)
    long = Session(id="long-one", created_at=at, updated_at=at,
                   messages=[Message(role="user", content=f"part {i} " + "z" * 5_000, created_at=at) for i in range(80)])
    store.save_new(long)
    store.save_new(Session(id="中文会话_1", title="中文", created_at=T0, updated_at=T0,
                           messages=[Message(role="user", content="全文索引", created_at=T0)]))
    with FakeOpenAI() as openai:
        env = subprocess_env(openai.env("OPENAI"))
        with mcp_server(tmp / "root", env, tmp / "server.log") as client:
            yield {"client": client, "store": store, "tmp": tmp}


def read(client: McpClient, uri: str) -> Any:
    return client.portal.call(lambda: client.session.read_resource(uri))


def test_template_is_announced(world: dict[str, Any]) -> None:
    client: McpClient = world["client"]
    templates = client.portal.call(client.session.list_resource_templates).resource_templates
    assert [(t.uri_template, t.mime_type) for t in templates] == [
        ("session://{session_id}", "text/markdown"),
        ("session://{session_id}/messages/{message_id}", "text/markdown"),  # where a result cut to the size limit links
    ]
    assert "resources/list lists the 50 most recently updated sessions" in (templates[0].description or "")


def test_a_new_chat_is_listed_first_and_reads_as_the_renderer_gives_it(world: dict[str, Any]) -> None:
    client: McpClient = world["client"]
    result = client.call("chat", prompt="What is 2+2?", model="gpt-4o")
    assert result["usage"]["cost_usd"] > 0  # gpt-4o has a price; the fake reports 10 + 5 tokens
    sid = result["session_id"]
    # The sessions written before the server started are indexed by its background catch-up.
    wait_until(lambda: client.call("list_sessions", limit=1)["index_pending"] == 0, timeout=60, what="the catch-up")
    listed = client.portal.call(client.session.list_resources).resources
    assert len(listed) == server.RECENT_RESOURCES
    assert str(listed[0].uri) == f"session://{sid}" and listed[0].mime_type == "text/markdown"
    assert listed[0].name == sid and "2 messages with gpt-4o" in (listed[0].description or "")
    assert str(listed[1].uri) == "session://long-one"
    # Newest update first: the 50 listed are the new one, the long one and the 48 newest old ones.
    assert [str(item.uri) for item in listed[2:]] == [f"session://old-{day:02d}" for day in range(59, 11, -1)]
    assert listed[2].title == "day 59"

    contents = read(client, f"session://{sid}").contents
    assert len(contents) == 1 and contents[0].mime_type == "text/markdown"
    text = contents[0].text
    assert text == render_session(world["store"].load(sid), max_chars=server.SESSION_RESOURCE_MAX_CHARS)
    assert "### [0] user · " in text and "What is 2+2?" in text
    assert "### [1] assistant · gpt-4o (openai) · " in text and "echo: What is 2+2?" in text
    assert "- cost: $0.000075\n" in text  # 10 input tokens at $2.50/M + 5 output at $10/M


def test_a_very_long_session_gives_its_newest_part(world: dict[str, Any]) -> None:
    text = read(world["client"], "session://long-one").contents[0].text
    assert len(text) <= server.SESSION_RESOURCE_MAX_CHARS + 1_000
    assert "> This session is long: the " in text and "of its 80 messages" in text
    assert "part 79 " in text and "part 0 " not in text


def test_a_percent_encoded_unicode_id_is_decoded(world: dict[str, Any]) -> None:
    for uri in ("session://" + quote("中文会话_1"), "session://中文会话_1"):
        text = read(world["client"], uri).contents[0].text
        assert text.startswith("# 中文\n") and "全文索引" in text


def test_unknown_and_bad_ids_are_clear_errors(world: dict[str, Any]) -> None:
    client: McpClient = world["client"]
    with pytest.raises(MCPError) as missing:
        read(client, "session://no-such-session")
    assert "no-such-session" in str(missing.value) and "list_sessions" in str(missing.value)
    with pytest.raises(MCPError) as bad:
        read(client, "session://bad%20id")
    assert "invalid session id 'bad id'" in str(bad.value)
    # The server is still up.
    assert client.call("list_sessions", limit=1)["total"] >= 62


def test_without_an_index_the_store_lists_the_recent_sessions(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "root")
    for day in range(3):
        at = T0 + timedelta(days=day)
        store.save_new(Session(id=f"s{day}", created_at=at, updated_at=at))
    app = server.App(store=store, legacy_root=tmp_path / "legacy", resolve_adapter=lambda m: None,  # type: ignore[arg-type,return-value]
                     context_window=lambda m: 1000, estimate_tokens=lambda ms: 0)
    assert [item.name for item in server.session_resources(app, 2)] == ["s2", "s1"]
