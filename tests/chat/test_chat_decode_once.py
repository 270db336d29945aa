"""The chat core decodes a session once per turn and hands the written session to the indexer.

Real session files in tmp_path, the scripted in-process providers of ``tests.chat_helpers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

import server
from adapters.errors import ProviderError
from chat.prompt import FAILED_MARK
from store import Message, Session, SessionStore, WriteReceipt
from store.codec import decode_session

from tests.chat_helpers import make_app
from tests.chat_helpers import chat_unified
from chat.errors import ChatFailed


def chat(app: server.App, prompt: str, model: str = "gpt-test", **kwargs: Any) -> dict[str, Any]:
    return anyio.run(lambda: chat_unified(app, prompt, model, **kwargs))


def test_the_indexer_gets_the_written_session_and_its_exact_bytes(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    handed: list[tuple[Path, Session, bytes]] = []
    app.index.on_written = lambda receipt: handed.append((receipt.path, receipt.session, receipt.data))  # type: ignore[union-attr,method-assign]
    sid = chat(app, "first")["session_id"]
    chat(app, "second", session_id=sid)
    assert app.extra["indexed"] == []  # the receipt alone is handed over: no path to re-read
    assert len(handed) == 2
    path, session, data = handed[-1]
    assert path == app.store.path_for(sid)
    assert data == path.read_bytes()
    assert session == decode_session(data, path)
    assert [m.content for m in session.messages] == ["first", "echo: first", "second", "echo: second"]


def test_an_indexer_failure_is_logged_and_the_turn_still_succeeds(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app, _ = make_app(tmp_path)

    def broken(receipt: WriteReceipt[Any]) -> None:
        raise RuntimeError("index down")

    app.index.on_written = broken  # type: ignore[union-attr,method-assign]
    result = chat(app, "hello")
    assert result["reply"] == "echo: hello"
    assert "the background watcher will retry" in caplog.text
    assert len(app.store.load(result["session_id"]).messages) == 2


def test_an_edit_by_another_writer_between_turns_reaches_the_next_prompt(tmp_path: Path) -> None:
    app, providers = make_app(tmp_path)
    sid = chat(app, "q1")["session_id"]
    SessionStore(app.store.root).append_message(sid, Message(role="user", content="written elsewhere"))
    chat(app, "q2", session_id=sid)
    sent = [m.content for m in providers["gpt-test"].requests[-1].messages]
    assert sent == ["q1", "echo: q1", "written elsewhere", "q2"]
    stored = [m.content for m in app.store.load(sid).messages]
    assert stored == ["q1", "echo: q1", "written elsewhere", "q2", "echo: q2"]


def test_a_failed_turn_marks_the_stored_message_but_not_the_request_sent(tmp_path: Path) -> None:
    app, providers = make_app(tmp_path)
    providers["gpt-test"].queue(ProviderError("boom", status=500, retryable=True))
    with pytest.raises(ChatFailed) as failed:
        chat(app, "lost?")
    (request,) = providers["gpt-test"].requests
    assert FAILED_MARK not in request.messages[-1].extra
    (user,) = app.store.load(failed.value.session_id).messages
    assert user.content == "lost?" and user.extra[FAILED_MARK]["model"] == "gpt-test"
