"""Hardening: the disk fills up (ENOSPC) or a file-size limit is hit (EFBIG) during a write.

The write fails with a clear error, the previous file is intact and no temp file is left;
through the server the tool error says what happened and the connection stays up.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError

import server
from tests.mcp_helpers import call_error, call_raw
from store import Message, SessionStore, atomic
from store.legacy.kimi_store import LegacyKimiStore
from tests.chat_helpers import make_indexed_app
from tests.fakes import FakeOpenAI
from tests.hardening_helpers import SERVER, McpClient, mcp_server, snapshot, subprocess_env
from chat.errors import user_message


def _no_space(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))




def test_disk_full_during_chat_is_a_clear_tool_error_and_nothing_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = make_indexed_app(tmp_path)
    mcp = server.build_server(app)
    try:
        first = call_raw(mcp, "chat", prompt="before the disk filled", model="gpt-test").structured_content
        sid = first["session_id"]
        sessions = app.store.layout.sessions
        before = snapshot(sessions)
        monkeypatch.setattr(atomic.os, "fsync", _no_space)
        # An existing session: the exchange is not stored, the old file stays as it was.
        message = call_error(mcp, "chat", prompt="during", model="gpt-test", session_id=sid)
        assert "no space left on device" in message.lower() and "intact" in message, message
        assert "internal error" not in message
        # A new session cannot even be created: same clear error.
        assert "no space left" in call_error(mcp, "chat", prompt="new one", model="gpt-test").lower()
        assert snapshot(sessions) == before
        monkeypatch.undo()
        # Space is back: the same connection keeps working.
        again = call_raw(mcp, "chat", prompt="after", model="gpt-test", session_id=sid).structured_content
        assert again["reply"] == "echo: after"
        texts = [m.content for m in app.store.load(sid).messages]
        assert texts == ["before the disk filled", "echo: before the disk filled", "after", "echo: after"]
    finally:
        for close in app.extra["closers"]:
            close()


def test_disk_full_in_legacy_kimi_chat_keeps_the_legacy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    legacy = LegacyKimiStore(tmp_path / "legacy")
    legacy.append_exchange("old_20250101_0000", "kimi-k2-0711-preview", [{"role": "user", "content": "hello"}])
    path = tmp_path / "legacy" / "old_20250101_0000.json"
    before = path.read_bytes()
    monkeypatch.setattr(atomic.os, "fsync", _no_space)
    with pytest.raises(OSError) as caught:
        legacy.append_exchange("old_20250101_0000", "kimi-k2-0711-preview", [{"role": "user", "content": "more"}])
    assert caught.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name.startswith(atomic.TEMP_PREFIX)]


def test_error_text_for_every_disk_errno() -> None:
    for code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS):
        text = user_message(OSError(code, os.strerror(code)))
        assert text is not None and os.strerror(code).lower() in text.lower() and "intact" in text
    assert user_message(OSError(errno.EIO, "I/O error")) is None  # a real crash stays a crash


def _limited_server(root: Path, env: dict[str, str], log: Path, limit: int) -> Any:
    """``server.py`` under RLIMIT_FSIZE: writing a file past ``limit`` bytes fails with EFBIG.

    CPython ignores SIGXFSZ, so the write raises ``OSError(EFBIG)`` instead of killing it.
    """
    code = (
        "import resource, runpy, sys; "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    params_args = ["-c", code, str(SERVER), "--root", str(root)]
    return mcp_server(root, env, log, argv=[sys.executable, *params_args])


def test_file_size_limit_through_the_stdio_server(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = SessionStore(root)
    store.create("big", model="gpt-4o")
    store.append_message("big", Message(role="user", content="filler " * 100_000))  # ~700 KB
    path = store.path_for("big")
    before = path.read_bytes()
    with FakeOpenAI() as openai:
        env = subprocess_env(openai.env("OPENAI") | {"KIMI_SESSIONS_DIR": str(tmp_path / "legacy")})
        with _limited_server(root, env, tmp_path / "server.log", limit=1024 * 1024) as client:  # type: McpClient
            result = client.raw("chat", prompt="grow " * 40_000, model="gpt-4o", session_id="big")
            assert result.is_error
            text = result.content[0].text
            assert "file too large" in text.lower() and "intact" in text, text
            assert path.read_bytes() == before
            assert not [p for p in (root / "sessions").iterdir() if p.name.startswith(atomic.TEMP_PREFIX)]
            # The connection is still up and small writes still work.
            assert client.call("chat", prompt="small one", model="gpt-4o")["reply"] == "echo: small one"
            assert len(client.call("get_session", session_id="big")["messages"]) == 1
