"""chat(files=, images=) end to end: the SDK's stdio client, server.py as a subprocess started in
a project folder (the default file root is its working directory), the loopback OpenAI fake."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.blobs import sha256_hex
from tests.attachment_helpers import PNG, data_url, project, write
from tests.fakes import FakeOpenAI
from tests.hardening_helpers import mcp_server
from tests.server.test_mcp_stdio import base_env


def test_files_under_the_working_directory_are_sent_and_others_refused(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    repo = project(tmp_path / "repo")
    outside = write(tmp_path_factory.mktemp("elsewhere") / "notes.txt", "private\n")
    with FakeOpenAI() as openai:
        env = {**base_env(tmp_path), **openai.env("OPENAI")}
        with mcp_server(tmp_path / "root", env, tmp_path / "server-stderr.log") as client:  # cwd = tmp_path: the default file root
            refused = client.error("chat", prompt="read", model="gpt-4o", files=[str(outside), str(repo / "config" / ".env")])
            assert "nothing was sent: 2 attachment(s) refused" in refused
            assert f"{outside}: outside the file roots ({tmp_path.resolve()})" in refused
            assert "secret-looking" in refused and openai.requests == []
            openai.enqueue_reply("it returns a string")
            result = client.call("chat", prompt="why?", model="gpt-4o", files=[str(repo / "src")], images=[data_url(PNG, "image/png")])
            assert result["reply"] == "it returns a string"
            content = openai.last_body["messages"][-1]["content"]
            assert [part["type"] for part in content] == ["text", "text", "text", "text", "image_url"]
            assert content[1]["text"].startswith(f'<file path="{repo / "src" / "app.py"}" lines="4">')
            hits = client.call("search_sessions", query="capacitor")["hits"]
            assert hits[0]["file"] == str(repo / "src" / "app.py")
            page = client.call("get_session", session_id=result["session_id"])
            assert page["messages"][0]["content"][-1]["sha256"] == sha256_hex(PNG)
    assert (tmp_path / "root" / "blobs" / sha256_hex(PNG)).read_bytes() == PNG
