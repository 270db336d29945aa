"""chat/organise.py, chat/resources.py, chat/answer.py and store/tidy.py on their edges: no index,
an index that fails, a store that cannot be read, a failing call with progress, upkeep errors."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import anyio
import filelock
import pytest
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from adapters.base import ChatRequest
from adapters.errors import ProviderError
from chat import organise
from chat.answer import call_model
from chat.progress import AnswerWatch
from chat.resources import read_message_resource, read_session_resource
from store import Message, SessionStore, casefold
from store.tidy import tidy
from tests.chat_helpers import make_app


def test_organising_without_an_index_and_with_a_failing_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app, _ = make_app(tmp_path)
    app.store.create("plain", model="gpt-test")
    app.index = None
    assert organise.update_session(app, "plain", "A title", None, None)["title"] == "A title"

    class Broken:
        def index_paths(self, paths: Any) -> None:
            raise RuntimeError("index is locked")

    app.index = Broken()  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, logger="llm_mcp_server"):
        summary = organise.update_session(app, "plain", None, ["keep"], None)
    assert summary["tags"] == ["keep"] and "the background watcher will retry" in caplog.text
    assert app.store.load("plain").tags == ["keep"]  # the change is stored whatever the index did


def test_resources_say_not_found_and_busy_as_resource_errors(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    app.store.create("s1", model="gpt-test")
    app.store.append_message("s1", Message(role="user", content="hello"))
    message_id = app.store.load("s1").messages[0].id
    assert read_message_resource(app, "s1", message_id) == "hello"
    with pytest.raises(ResourceNotFoundError, match="no message 'nope'"):
        read_message_resource(app, "s1", "nope")
    with pytest.raises(ResourceNotFoundError):
        read_session_resource(app, "missing")
    with pytest.raises(ResourceNotFoundError):
        read_session_resource(app, "../bad")

    def busy(session_id: str) -> Any:
        raise filelock.Timeout("s1.lock")

    app.store.snapshot = busy  # type: ignore[method-assign]
    with pytest.raises(ResourceError, match="busy"):
        read_session_resource(app, "s1")

    def crash(session_id: str) -> Any:
        raise KeyError("a bug")

    app.store.snapshot = crash  # type: ignore[method-assign]
    with pytest.raises(KeyError):
        read_session_resource(app, "s1")


def test_a_failing_call_with_progress_raises_its_own_error(tmp_path: Path) -> None:
    class Failing:
        provider = "openai"

        async def complete(self, request: ChatRequest) -> Any:
            raise ProviderError("upstream said no", status=500)

    sent: list[tuple[float, str]] = []

    async def progress(value: float, message: str) -> None:
        sent.append((value, message))

    request = ChatRequest(model="gpt-test", messages=[Message(role="user", content="hi")])
    with pytest.raises(ProviderError, match="upstream said no"):
        anyio.run(lambda: call_model(Failing(), request, AnswerWatch(), progress))  # type: ignore[arg-type]


def test_tidy_reports_what_it_cannot_do_and_builds_the_view(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    store = SessionStore(tmp_path / "root")
    store.create("day1")
    (store.layout.sessions / ".day1.json.tmp-123").write_text("{")  # a crashed writer's temp file
    os.utime(store.layout.sessions / ".day1.json.tmp-123", (0, 0))
    tidy(store)
    assert sorted(os.listdir(casefold.folder(store.layout))) == ["day1"]

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store, "clean_stale_temp_files", refuse)
    monkeypatch.setattr(casefold, "ensure", refuse)
    with caplog.at_level(logging.WARNING, logger="llm_mcp_server"):
        tidy(store)  # never raises: it runs in a background thread
    assert "could not clean stale temp files" in caplog.text and "could not build the case-insensitive id view" in caplog.text
