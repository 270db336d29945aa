"""Attachments sent with ``chat(files=, images=)`` show in the Markdown as references only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import server
from store.blobs import sha256_hex
from store.markdown import render_session
from tests.attachment_helpers import PNG, project
from tests.fakes import FakeOpenAI, fake_openai  # noqa: F401
from tests.server.test_server_tools import call


@pytest.fixture
def wired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[server.App, Any, Path]]:
    repo = project(tmp_path / "repo")
    monkeypatch.setenv("LLM_MCP_FILE_ROOTS", str(repo))
    app = server.default_app(tmp_path / "root", tmp_path / "legacy")
    yield app, server.build_server(app), repo
    if app.index is not None:
        app.index.close()


def test_attached_file_and_image_are_references_not_content(wired: Any, fake_openai: FakeOpenAI) -> None:
    app, mcp, repo = wired
    source, image = repo / "src" / "app.py", repo / "assets" / "logo.png"
    fake_openai.enqueue_reply("looks fine")
    result = call(mcp, "chat", prompt="review this", model="gpt-4o", files=[str(source)], images=[str(image)])
    text = render_session(app.store.load(result["session_id"]))
    sha = sha256_hex(source.read_bytes())
    assert f"review this\n\n[attachment: file, path={source}, media_type=text/" in text
    assert f"lines=4, sha256={sha}]" in text
    assert f"[attachment: image, path={image}, media_type=image/png, size={len(PNG)}, sha256={sha256_hex(PNG)}]" in text
    assert "flux capacitor" not in text  # the file's text stays in blobs/, not in the Markdown
