"""The browser view (index/browse/): Datasette's own test client over a real index of real files.

Pages, searches (CJK included), the session page, the canned queries and their charts, hostile
text rendered inert, the token, and the index left byte for byte as it was.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

datasette = pytest.importorskip("datasette", reason="the 'browse' extra is not installed: pip install -e '.[browse]'")

from datasette.app import Datasette  # noqa: E402

from index.browse.app import make_datasette  # noqa: E402
from index.browse.auth import COOKIE, LOGIN_PATH, cookie_value  # noqa: E402
from index.browse.queries import QUERIES  # noqa: E402
from index.usage import build_report  # noqa: E402
from tests.browse_helpers import CJK_TEXT, build_store  # noqa: E402


@pytest.fixture(scope="module")
def index_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("browse") / ".llm_sessions")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(ds: Datasette, body: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``body(client)`` on one event loop after Datasette's start-up hooks."""

    async def main() -> None:
        await ds.invoke_startup()
        await body(ds.client)

    asyncio.run(main())


async def follow(client: Any, path: str) -> Any:
    response = await client.get(path)
    for _ in range(3):
        if response.status_code not in (301, 302, 303):
            break
        response = await client.get(response.headers["location"])
    return response


def test_pages_answer_and_the_index_is_not_modified(index_path: Path) -> None:
    before = sha256(index_path)
    ds = make_datasette(index_path)

    async def body(client: Any) -> None:
        for path in ("/", "/index", "/index/sessions", "/index/messages", "/index/model_switches",
                     "/index/messages?_facet=model", "/-/session/s-switch", "/-/session/s-cjk"):
            response = await client.get(path)
            assert response.status_code == 200, (path, response.text[:500])
        home = (await client.get("/index")).text
        for hidden in ("files", "message_time_blocks", "messages_fts", "sessions_trigram"):
            assert f'href="/index/{hidden}"' not in home, hidden
        # An attempt to write through the SQL box: refused, and the file stays the same.
        refused = await client.get("/index.json?sql=" + quote("delete from sessions"))
        assert refused.status_code == 400
        db = ds.get_database("index")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await db.execute("INSERT INTO files (path, session_id, mtime_ns, size, sha256, status, indexed_at) VALUES ('x', 'x', 0, 0, '', 'x', '')")

    run(ds, body)
    assert sha256(index_path) == before


def test_table_search_finds_words_and_cjk(index_path: Path) -> None:
    ds = make_datasette(index_path)

    async def ids(client: Any, path: str) -> set[str]:
        response = await follow(client, path + "&_shape=objects")
        assert response.status_code == 200, response.text[:500]
        return {row["session_id"] for row in response.json()["rows"]}

    async def body(client: Any) -> None:
        assert await ids(client, "/index/messages.json?_search=debounce") == {"s-switch"}
        # The attached file's text is searchable too (its section of messages.text).
        assert await ids(client, "/index/messages.json?_search=watcher+debounces") == {"s-switch"}
        # A CJK query is sent to the trigram table: a substring in the middle of a run of characters.
        redirect = await client.get("/index/messages?_search=" + quote("全文索引"))
        assert redirect.status_code == 302 and "_fts_table=messages_trigram" in redirect.headers["location"]
        assert await ids(client, "/index/messages.json?_search=" + quote("全文索引")) == {"s-cjk"}
        # Two characters: too short for trigram, matched with instr.
        assert await ids(client, "/index/messages.json?_search=" + quote("分词")) == {"s-cjk"}
        assert await ids(client, "/index/sessions.json?_search=" + quote("索引设计")) == {"s-cjk"}
        assert await ids(client, "/index/sessions.json?_search=watcher") == {"s-switch"}
        page = await follow(client, "/index/messages?_search=" + quote("全文索引"))
        assert CJK_TEXT in page.text and 'href="/-/session/s-cjk#m0"' in page.text

    run(ds, body)


def test_session_page_shows_the_conversation(index_path: Path) -> None:
    ds = make_datasette(index_path)

    async def body(client: Any) -> None:
        html = (await client.get("/-/session/s-switch")).text
        # Messages in order, each with its anchor, role and model.
        anchors = re.findall(r'<article class="msg[^"]*" id="m(\d+)"', html)
        assert anchors == [str(i) for i in range(8)]
        assert '<span class="model">gpt-4o</span>' in html and '<span class="model">claude-sonnet-4-5</span>' in html
        # The switch sits between message 2 and 3, with its warning.
        switch = html.index('class="switch"')
        assert html.index('id="m2"') < switch < html.index('id="m3"')
        assert "earlier answers were written by another model" in html
        # The attachment as a reference (path, lines), its text folded away.
        assert "<code>/work/project/docs/notes.md</code> · 3 lines" in html and "<details" in html
        # The failed and the cut-short turn are marked.
        assert "not delivered to claude-sonnet-4-5" in html and "answer incomplete" in html
        assert 'class="msg role-user status-failed" id="m5"' in html
        # The session's cost (0.0042 + 0.0113) and tokens; Markdown rendered.
        assert "$0.0155" in html and "2,700 / 420" in html
        assert "<strong>0.2 s</strong>" in html and "<li>one transaction per batch</li>" in html
        # Reached from the tables: links on session_id.
        sessions = (await client.get("/index/sessions")).text
        assert 'href="/-/session/s-switch"' in sessions
        switches = (await client.get("/index/model_switches")).text
        assert 'href="/-/session/s-switch#s0"' in switches and 'id="s0"' in html
        missing = await client.get("/-/session/no-such-session")
        assert missing.status_code == 404 and "reindex" in missing.text

    run(ds, body)


def test_hostile_text_is_rendered_inert(index_path: Path) -> None:
    ds = make_datasette(index_path)

    async def body(client: Any) -> None:
        for path in ("/-/session/s-hostile", "/index/messages?session_id=s-hostile", "/index/sessions"):
            html = (await client.get(path)).text
            assert "<script>alert" not in html, path
            assert "<img src=x" not in html, path
            assert not re.search(r"href=[\"']?\s*javascript:", html, re.IGNORECASE), path
            assert "<b>not bold</b>" not in html, path
        page = (await client.get("/-/session/s-hostile")).text
        assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in page or "&lt;script&gt;alert('pwned')&lt;/script&gt;" in page
        assert '<a href="https://example.org/doc" rel="nofollow noopener noreferrer">fine</a>' in page
        assert "&lt;b&gt;not bold&lt;/b&gt; title" in page

    run(ds, body)


def test_canned_queries_answer_with_a_chart(index_path: Path) -> None:
    ds = make_datasette(index_path)

    async def body(client: Any) -> None:
        for query in QUERIES:
            response = await client.get(f"/index/{query.name}")
            assert response.status_code == 200, (query.name, response.text[:500])
            assert '<svg class="browse-chart"' in response.text, query.name
            data = (await client.get(f"/index/{query.name}.json?_shape=objects")).json()
            assert data["ok"] and data["rows"], query.name
        cost = (await client.get("/index/cost_per_day.json?_shape=objects")).json()["rows"]
        by_key = {(row["day"], row["model"]): row["cost_usd"] for row in cost}
        assert by_key[("2026-11-03", "claude-sonnet-4-5")] == pytest.approx(0.0113)
        assert by_key[("2026-11-04", "gpt-4o")] == pytest.approx(0.002)
        narrowed = (await client.get("/index/turns_per_day.json?_shape=objects&since=2026-11-04&until=2026-11-04")).json()["rows"]
        assert {row["day"] for row in narrowed} == {"2026-11-04"}
        switches = (await client.get("/index/most_switches.json?_shape=objects")).json()["rows"]
        assert [(row["session_id"], row["switch_count"]) for row in switches] == [("s-switch", 1)]

    run(ds, body)


def test_latency_percentiles_match_sessions_stats(index_path: Path) -> None:
    ds = make_datasette(index_path)
    rows: list[dict[str, Any]] = []

    async def body(client: Any) -> None:
        rows.extend((await client.get("/index/latency_per_provider.json?_shape=objects")).json()["rows"])

    run(ds, body)
    conn = sqlite3.connect(f"file:{index_path}?mode=ro", uri=True)
    try:
        report = build_report(lambda sql, args: conn.execute(sql, args).fetchall(), by="provider")
    finally:
        conn.close()
    expected = {group.key: (round(group.latency_ms_p50), round(group.latency_ms_p95)) for group in report.groups
                if group.latency_ms_p50 is not None}
    assert {row["provider"]: (row["p50_ms"], row["p95_ms"]) for row in rows} == expected


def test_token_is_required_when_set(index_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "s3cret-token-for-tests"
    monkeypatch.setenv("LLM_MCP_TOKEN", token)
    ds = make_datasette(index_path, token_env="LLM_MCP_TOKEN")

    async def body(client: Any) -> None:
        for path in ("/", "/index/messages.json", "/-/session/s-switch", "/-/metadata.json"):
            refused = await client.get(path)
            assert refused.status_code == 401 and 'name="token"' in refused.text, path
            assert token not in refused.text
        assert (await client.get("/index.json", headers={"Authorization": f"Bearer {token}"})).status_code == 200
        assert (await client.get("/index.json", headers={"Authorization": "Bearer wrong"})).status_code == 401
        wrong = await client.post(LOGIN_PATH, data={"token": "wrong", "next": "/index"})
        assert wrong.status_code == 401 and "not the token" in wrong.text
        # The form sends a person back where they were going, never to another site.
        login = await client.post(LOGIN_PATH, data={"token": token, "next": "//evil.example/"})
        assert login.status_code == 303 and login.headers["location"] == "/"
        login = await client.post(LOGIN_PATH, data={"token": token, "next": "/-/session/s-switch"})
        assert login.status_code == 303 and login.headers["location"] == "/-/session/s-switch"
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and token not in cookie
        page = await client.get("/-/session/s-switch", cookies={COOKIE: cookie_value(token)})
        assert page.status_code == 200 and "Watcher design review" in page.text
        metadata = await client.get("/-/metadata.json", headers={"Authorization": f"Bearer {token}"})
        assert token not in metadata.text

    run(ds, body)


def test_a_required_token_that_is_unset_fails_closed(index_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_MCP_TOKEN", raising=False)
    with pytest.raises(RuntimeError, match="token is empty"):
        make_datasette(index_path, token_env="LLM_MCP_TOKEN")


def test_metadata_describes_every_column(index_path: Path) -> None:
    ds = make_datasette(index_path)
    conn = sqlite3.connect(f"file:{index_path}?mode=ro", uri=True)
    try:
        for table in ("sessions", "messages", "model_switches"):
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            described = set(ds.table_metadata("index", table)["columns"])
            pk = {"session_rowid", "message_rowid"}
            assert columns - pk == described, table
    finally:
        conn.close()
    assert json.dumps(ds.metadata()).count("$env") == 0  # no token configured: no secret reference either
