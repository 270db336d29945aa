"""ask_models(files=, images=): read and checked once for the whole call, the same blobs shared by
every model's session, refusals (one file, or one model's window) before anything is written or
sent. Real files, the real registry and adapters, the loopback fakes, real blobs and index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import server
from store.blobs import sha256_hex
from tests.attachment_helpers import PNG, write
from tests.fakes import FakeAnthropic, FakeOpenAI, fake_anthropic, fake_openai  # noqa: F401
from tests.chat.test_attachments_chat import call, call_error, repo, stored_user, wired  # noqa: F401
import chat.attachments as attachments  # where the turn looks prepare_attachments up, at each call

MODELS = ["gpt-4o", "claude-sonnet-4-5"]


def test_files_are_read_once_and_every_model_sees_them(
    repo: Path, wired: Any, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, mcp = wired
    reads: list[tuple[Any, ...]] = []
    original = attachments.prepare_attachments

    def counting(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(attachments, "prepare_attachments", counting)
    app_py, image = repo / "src" / "app.py", repo / "assets" / "logo.png"
    fake_openai.enqueue_reply("fine by gpt")
    fake_anthropic.enqueue_reply("fine by claude")
    result = call(mcp, "ask_models", prompt="review this", models=MODELS, files=[str(app_py)], images=[str(image)])
    assert [a["reply"] for a in result["answers"]] == ["fine by gpt", "fine by claude"]
    assert len(reads) == 1  # one read for the whole call
    openai_parts = fake_openai.accepted[0].body["messages"][-1]["content"]
    assert "flux capacitor" in openai_parts[1]["text"] and openai_parts[2]["type"] == "image_url"
    anthropic_blocks = fake_anthropic.accepted[0].body["messages"][-1]["content"]
    assert anthropic_blocks[1]["type"] == "document" and anthropic_blocks[1]["title"] == str(app_py)
    sha = sha256_hex(app_py.read_bytes())
    for answer in result["answers"]:
        parts = stored_user(app, answer["session_id"])
        assert parts[1]["sha256"] == sha and parts[2]["sha256"] == sha256_hex(PNG)
    assert sorted(p.name for p in (app.store.root / "blobs").iterdir() if not p.name.startswith(".")) == sorted([sha, sha256_hex(PNG)])


def test_a_refused_file_sends_and_writes_nothing_for_any_model(
    repo: Path, wired: Any, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    app, mcp = wired
    write(repo / "config" / ".env", "TOKEN=abc\n")
    message = call_error(mcp, "ask_models", prompt="hi", models=MODELS, files=[str(repo / "src" / "app.py"), str(repo / "config" / ".env")])
    assert "secret-looking" in message
    assert fake_openai.requests == [] and fake_anthropic.requests == []
    assert app.store.list().sessions == [] and not (app.store.root / "blobs").exists()


def test_attachments_too_large_for_one_model_refuse_the_whole_call(
    repo: Path, wired: Any, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    app, mcp = wired
    big = write(repo / "big.py", "value = 'abcdefgh'\n" * 3000)  # ~15,000 tokens: fits Claude, not gpt-4's 8,192
    message = call_error(mcp, "ask_models", prompt="summarise", models=["claude-sonnet-4-5", "gpt-4"], files=[str(big)])
    assert "nothing was sent" in message and "'gpt-4' has room for about" in message
    assert fake_openai.requests == [] and fake_anthropic.requests == [] and app.store.list().sessions == []
