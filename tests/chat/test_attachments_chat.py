"""chat(files=, images=) through the MCP tool machinery, the real registry and adapters, the
loopback fakes (which validate every part as the real APIs do), real files, blobs and index."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import server
from index import Indexer
from store.blobs import sha256_hex
from tests.attachment_helpers import GIF, PNG, data_url, project, write
from tests.server.test_server_tools import call, call_error
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI, fake_anthropic, fake_gemini, fake_openai  # noqa: F401


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = project(tmp_path / "repo")
    monkeypatch.setenv("LLM_MCP_FILE_ROOTS", str(root))
    return root


@pytest.fixture
def wired(tmp_path: Path) -> Iterator[tuple[server.App, Any]]:
    app = server.default_app(tmp_path / "root", tmp_path / "legacy")
    yield app, server.build_server(app)
    if app.index is not None:
        app.index.close()


def stored_user(app: server.App, session_id: str, index: int = 0) -> Any:
    users = [m for m in app.store.load(session_id).messages if m.role == "user"]
    return users[index].content


def test_openai_gets_numbered_file_parts_and_data_url_images(repo: Path, wired: Any, fake_openai: FakeOpenAI) -> None:
    app, mcp = wired
    app_py = repo / "src" / "app.py"
    image = repo / "assets" / "logo.png"
    fake_openai.enqueue_reply("looks fine")  # the default echo would repeat the file's text
    result = call(mcp, "chat", prompt="review this", model="gpt-4o", files=[str(app_py)], images=[str(image)])
    (request,) = fake_openai.accepted
    content = request.body["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "review this"}
    assert content[1] == {
        "type": "text",
        "text": f'<file path="{app_py}" lines="4">\n1  import os\n2  \n3  def main():\n4      return \'flux capacitor\'\n</file>',
    }
    assert content[2] == {"type": "image_url", "image_url": {"url": data_url(PNG, "image/png")}}
    # Stored once by content; the session holds references only.
    sha = sha256_hex(app_py.read_bytes())
    assert (app.store.root / "blobs" / sha).read_bytes() == app_py.read_bytes()
    assert (app.store.root / "blobs" / sha256_hex(PNG)).read_bytes() == PNG
    parts = stored_user(app, result["session_id"])
    assert parts[1]["type"] == "file" and parts[1]["sha256"] == sha and parts[1]["path"] == str(app_py)
    assert parts[2] == {"type": "image", "sha256": sha256_hex(PNG), "size": len(PNG), "media_type": "image/png", "path": str(image)}
    raw = app.store.path_for(result["session_id"]).read_text()
    assert "flux capacitor" not in raw  # the text lives in blobs/, not in the session file
    page = call(mcp, "get_session", session_id=result["session_id"])
    shown = page["messages"][0]["content"]
    assert shown[1]["path"] == str(app_py) and "text" not in shown[1]


def test_anthropic_gets_a_document_block_and_a_base64_image(repo: Path, wired: Any, fake_anthropic: FakeAnthropic) -> None:
    _, mcp = wired
    app_py = repo / "src" / "app.py"
    call(mcp, "chat", prompt="what does it do?", model="claude-sonnet-4-5", files=[str(app_py)], images=[data_url(PNG, "image/png")])
    (request,) = fake_anthropic.accepted
    blocks = request.body["messages"][0]["content"]
    assert blocks[0] == {"type": "text", "text": "what does it do?"}
    assert blocks[1] == {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "1  import os\n2  \n3  def main():\n4      return 'flux capacitor'"},
        "title": str(app_py),
    }
    assert blocks[2] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data_url(PNG, "image/png").split(",", 1)[1]}}


def test_gemini_gets_text_and_inline_data_and_rejects_gif_clearly(repo: Path, wired: Any, fake_gemini: FakeGemini) -> None:
    app, mcp = wired
    app_py = repo / "src" / "app.py"
    call(mcp, "chat", prompt="explain", model="gemini-2.5-pro", files=[str(app_py)], images=[data_url(PNG, "image/png")])
    parts = fake_gemini.accepted[0].body["contents"][0]["parts"]
    assert parts[0] == {"text": "explain"}
    assert parts[1]["text"].startswith(f'<file path="{app_py}" lines="4">\n1  import os')
    assert parts[2] == {"inlineData": {"mimeType": "image/png", "data": data_url(PNG, "image/png").split(",", 1)[1]}}
    message = call_error(mcp, "chat", prompt="and this?", model="gemini-2.5-pro", images=[data_url(GIF, "image/gif")])
    assert "gemini API error 400" in message and "Unsupported MIME type: image/gif" in message
    assert "your message was saved" in message


def test_a_text_only_model_rejects_images_with_the_providers_error(repo: Path, wired: Any, fake_openai: FakeOpenAI) -> None:
    _, mcp = wired
    message = call_error(mcp, "chat", prompt="look", model="deepseek-chat", images=[data_url(PNG, "image/png")])
    assert "unknown variant `image_url`, expected `text`" in message


@pytest.mark.parametrize(
    "arguments, fragment",
    [
        ({"files": ["/etc/hostname"]}, "outside the file roots"),
        ({"files": ["{repo}/config/.env"]}, "secret-looking"),
        ({"files": ["{repo}/assets/logo.png"]}, "binary"),
        ({"files": ["{repo}/src/app.py", "{repo}/nope.py"]}, "does not exist"),
        ({"images": ["{repo}/src/app.py"]}, "not a supported image type"),
        ({"files": ["{repo}/src"], "images": ["data:image/png;base64,xx"]}, "base64 data is not valid"),
    ],
)
def test_refused_attachments_send_and_write_nothing(
    repo: Path, wired: Any, fake_openai: FakeOpenAI, arguments: dict[str, list[str]], fragment: str
) -> None:
    app, mcp = wired
    filled = {key: [value.format(repo=repo) for value in values] for key, values in arguments.items()}
    message = call_error(mcp, "chat", prompt="hi", model="gpt-4o", session_id="kept", **filled)
    assert "chat: nothing was sent" in message and fragment in message
    assert fake_openai.requests == []
    assert not app.store.exists("kept") and not (app.store.root / "blobs").exists()


def test_attachments_over_the_models_budget_are_refused_with_a_suggestion(repo: Path, wired: Any, fake_openai: FakeOpenAI) -> None:
    app, mcp = wired
    big = write(repo / "big.py", "value = 'abcdefgh'\n" * 3000)  # ~60 KB, ~15,000 tokens > gpt-4's 8,192
    message = call_error(mcp, "chat", prompt="summarise", model="gpt-4", files=[str(big), str(repo / "src" / "app.py")])
    assert "nothing was sent: the attachments need about" in message and "'gpt-4' has room for about" in message
    assert f"- {big}: about" in message and "larger context window" in message
    assert fake_openai.requests == [] and app.store.list().sessions == []


def test_an_unchanged_file_is_not_resent_and_a_changed_one_is(repo: Path, wired: Any, fake_openai: FakeOpenAI) -> None:
    _, mcp = wired
    util = repo / "src" / "util.py"
    sid = call(mcp, "chat", prompt="first", model="gpt-4o", files=[str(util)])["session_id"]
    call(mcp, "chat", prompt="second", model="gpt-4o", session_id=sid, files=[str(util)])
    second = fake_openai.accepted[-1].body["messages"]
    assert "return 42" in second[0]["content"][1]["text"]
    assert second[2]["content"].startswith(f'second\n<file path="{util}" unchanged="true">')
    assert "return 42" not in json.dumps(second[2])
    write(util, "def helper():\n    return 43\n")
    call(mcp, "chat", prompt="third", model="gpt-4o", session_id=sid, files=[str(util)])
    third = fake_openai.accepted[-1].body["messages"]
    assert "return 43" in third[4]["content"][1]["text"] and "return 42" in third[0]["content"][1]["text"]


def test_directory_skips_are_warnings_and_search_finds_words_inside_attachments(repo: Path, wired: Any, fake_openai: FakeOpenAI) -> None:
    app, mcp = wired
    fake_openai.enqueue_reply("seen")
    result = call(mcp, "chat", prompt="look at the project", model="gpt-4o", files=[str(repo)])
    assert any(w.startswith(f"skipped 2 file(s) under {repo}") for w in result["warnings"])
    hits = call(mcp, "search_sessions", query="capacitor")["hits"]
    assert [(hit["role"], hit.get("file")) for hit in hits] == [("user", str(repo / "src" / "app.py"))], hits
    assert "[capacitor]" in hits[0]["snippet"]
    (own,) = call(mcp, "search_sessions", query="project", role="user")["hits"]
    assert "file" not in own


def test_the_live_index_equals_a_rebuild_and_blobs_survive_trash_and_reindex(
    repo: Path, wired: Any, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    app, mcp = wired
    sid = call(mcp, "chat", prompt="one", model="gpt-4o", files=[str(repo / "src")], images=[str(repo / "assets" / "logo.png")])["session_id"]
    call(mcp, "chat", prompt="two", model="gpt-4o", session_id=sid, files=[str(repo / "docs" / "guide.md")])
    call(mcp, "chat", prompt="other", model="gpt-4o", files=[str(repo / "src" / "util.py")])
    root = app.store.root
    assert app.index is not None and app.index.check() == []
    copy = tmp_path / "copy"
    shutil.copytree(root / "sessions", copy / "sessions")
    shutil.copytree(root / "blobs", copy / "blobs")
    with Indexer(copy) as fresh:
        fresh.sync(full=True)
        rebuilt = fresh.connection.execute("SELECT session_id, position, text FROM messages ORDER BY 1, 2").fetchall()
    live = app.index.connection.execute("SELECT session_id, position, text FROM messages ORDER BY 1, 2").fetchall()
    assert live == rebuilt and any("flux capacitor" in row[2] for row in live)
    blobs = sorted(p.name for p in (root / "blobs").iterdir())
    app.store.delete(sid)
    app.index.sync(full=True)
    assert sorted(p.name for p in (root / "blobs").iterdir()) == blobs


def test_a_blob_missing_later_is_named_and_not_sent(repo: Path, wired: Any, fake_openai: FakeOpenAI) -> None:
    app, mcp = wired
    fake_openai.enqueue_reply("ok")
    util = repo / "src" / "util.py"
    sid = call(mcp, "chat", prompt="first", model="gpt-4o", files=[str(util)], images=[str(repo / "assets" / "logo.png")])["session_id"]
    for blob in (app.store.root / "blobs").iterdir():
        blob.unlink()
    result = call(mcp, "chat", prompt="again", model="gpt-4o", session_id=sid)
    assert any(w.startswith(f"attached file {util} was not sent: blob ") for w in result["warnings"])
    assert any(w.startswith(f"attached image {repo / 'assets' / 'logo.png'} was not sent") for w in result["warnings"])
    first = fake_openai.accepted[-1].body["messages"][0]["content"]
    assert 'missing="true"' in first and "its stored copy is missing" in first


def test_a_key_inside_an_attached_file_never_leaves_or_lands_on_disk(repo: Path, wired: Any, fake_openai: FakeOpenAI) -> None:
    app, mcp = wired
    key = fake_openai.api_key
    assert key is not None
    config = write(repo / "settings.py", f"OPENAI_KEY = '{key}'\nDEBUG = True\n")
    fake_openai.enqueue_reply("noted")
    sid = call(mcp, "chat", prompt="check the settings", model="gpt-4o", files=[str(config)])["session_id"]
    sent = fake_openai.accepted[-1].raw.decode()
    assert "[REDACTED]" in sent and "DEBUG = True" in sent
    assert key not in sent  # the body (the key goes only in the Authorization header)
    stored = [p.read_bytes() for p in (app.store.root / "blobs").iterdir()]
    assert stored and all(key.encode() not in data for data in stored)
    assert key not in app.store.path_for(sid).read_text()
    assert call(mcp, "search_sessions", query="DEBUG")["hits"][0]["file"] == str(config)
    assert key.encode() not in (app.store.root / "index.sqlite").read_bytes()
