"""store/markdown.py (the one renderer) and ``scripts/sessions.py export``."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from store import FAILED_MARK, Message, ModelSwitch, Session, SessionStore, ToolCall, Usage
from store.codec import decode_session
from store.markdown import attachment_reference, render_session

from tests.cli_helpers import run_sessions as call

T0 = datetime(2026, 11, 25, 11, 39, 41, tzinfo=timezone.utc)


def sample() -> Session:
    session = Session(id="review-1", title="API review", created_at=T0, updated_at=T0, tags=["review"],
                      current_model="claude-sonnet-4-5", models_used=["gpt-4o", "claude-sonnet-4-5"])
    session.messages = [
        Message(role="system", content="Be terse.", created_at=T0),
        Message(role="user", created_at=T0, content=[
            {"type": "text", "text": "Review this diff"},
            {"type": "image", "name": "shot.png", "mime_type": "image/png", "sha256": "ab" * 32},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 5000}},
        ]),
        Message(role="assistant", content="Use ```fences``` carefully", model="gpt-4o", provider="openai", created_at=T0,
                usage=Usage(input_tokens=10, output_tokens=5, cost_usd=0.0012),
                tool_calls=[ToolCall(id="call_1", name="read_file", arguments={"path": "a.py"})]),
        Message(role="tool", name="read_file", tool_call_id="call_1", content="print(1)", created_at=T0),
        Message(role="user", content="again?", created_at=T0, extra={FAILED_MARK: {"model": "claude-sonnet-4-5", "error": "HTTP 529 overloaded"}}),
        Message(role="user", content="and now?", created_at=T0),
        Message(role="assistant", content="Fine.", model="claude-sonnet-4-5", provider="anthropic", created_at=T0,
                usage=Usage(input_tokens=10, output_tokens=5)),
    ]
    session.model_switches = [ModelSwitch(at_message=5, from_model="gpt-4o", to_model="claude-sonnet-4-5", at=T0)]
    return session


def test_full_rendering() -> None:
    text = render_session(sample())
    assert text.startswith("# API review\n\n- id: `review-1`\n- created: 2026-11-25 11:39:41 UTC; updated: 2026-11-25 11:39:41 UTC\n")
    assert "- models: gpt-4o, claude-sonnet-4-5 (current: claude-sonnet-4-5)\n- messages: 7\n" in text
    assert "- cost: $0.0012 (1 answer(s) without a known price)\n- tags: review" in text
    assert "## Model switches\n\n- before message [5], 2026-11-25 11:39:41 UTC: gpt-4o → claude-sonnet-4-5" in text
    assert "### [0] system · 2026-11-25 11:39:41 UTC\n\nBe terse." in text
    assert "### [2] assistant · gpt-4o (openai) · 2026-11-25 11:39:41 UTC\n\n> cost $0.0012\n\nUse ```fences``` carefully" in text
    assert 'Tool call `read_file` (id `call_1`):\n\n```json\n{\n "path": "a.py"\n}\n```' in text
    assert "### [3] tool `read_file` · 2026-11-25 11:39:41 UTC\n\n> result of tool call `call_1`\n\nprint(1)" in text
    assert "> not delivered to claude-sonnet-4-5: HTTP 529 overloaded (kept in the session, left out of later prompts)" in text
    # Attachments are references, never their bytes.
    assert "[attachment: image, name=shot.png, mime_type=image/png, sha256=" + "ab" * 32 + "]" in text
    assert "[attachment: image_url, url=data:image/png;base64,…]" in text and "AAAA" not in text
    assert "This session is long" not in text and text.endswith("Fine.\n")


def test_a_code_fence_is_longer_than_the_backticks_inside() -> None:
    session = Session(id="s", messages=[Message(role="assistant", tool_calls=[ToolCall(id="c", name="f", arguments="````")])])
    assert "`````json\n````\n`````" in render_session(session)


def test_attachment_reference_keeps_long_values_short() -> None:
    line = attachment_reference({"type": "file", "path": "/x/" + "a" * 500, "size": 12})
    assert line.startswith("[attachment: file, path=/x/aaa") and "…, size=12]" in line and len(line) < 200
    assert attachment_reference({}) == "[attachment: attachment]"


def test_long_session_gives_its_newest_part_with_a_note() -> None:
    session = Session(id="long", created_at=T0, updated_at=T0)
    session.messages = [Message(role="user", content=f"message {i} " + "x" * 1000, created_at=T0) for i in range(100)]
    text = render_session(session, max_chars=20_000)
    assert len(text) <= 20_000 + 500
    note = next(line for line in text.splitlines() if line.startswith("> This session is long"))
    left_out = int(note.split("the ")[1].split(" oldest")[0])
    assert 70 < left_out < 100 and f"of its 100 messages" in note and "sessions.py export long" in note
    assert f"### [{left_out}] user" in text and f"### [{left_out - 1}] user" not in text
    assert "message 99 " in text and "message 0 " not in text
    assert render_session(session) .count("### ") == 100  # the export keeps everything


def test_one_message_longer_than_the_view_is_cut() -> None:
    session = Session(id="huge", messages=[Message(role="user", content="y" * 50_000)])
    text = render_session(session, max_chars=5_000)
    assert "*(message cut: it is longer than this view)*" in text and len(text) < 6_000


def test_unknown_cost_and_untitled() -> None:
    text = render_session(Session(id="s1", messages=[Message(role="assistant", content="")]))
    assert text.startswith("# Session s1") and "- cost: unknown\n" in text and "*(no text)*" in text


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, Session]:
    store = SessionStore(tmp_path / "root")
    session = sample()
    store.save_new(session)
    return store.root, store.load(session.id)


def test_export_markdown_is_the_resource_renderer(saved: tuple[Path, Session]) -> None:
    root, session = saved
    code, out, err = call("export", session.id, "--root", str(root))
    assert (code, err) == (0, "") and out == render_session(session)


def test_export_json_and_output_file(saved: tuple[Path, Session], tmp_path: Path) -> None:
    root, session = saved
    code, out, _ = call("export", session.id, "--root", str(root), "--format", "json")
    assert code == 0 and out.encode() == (root / "sessions" / f"{session.id}.json").read_bytes()
    assert decode_session(out.encode(), Path("x.json")) == session
    assert call("--json", "export", session.id, "--root", str(root))[1] == out
    target = tmp_path / "out.md"
    target.write_text("old")
    assert call("export", session.id, "--root", str(root), "--output", str(target)) == (0, "", "")
    assert target.read_text(encoding="utf-8") == render_session(session)
    assert call("export", session.id, "--root", str(root), "--output", str(tmp_path / "j.json"), "--format", "json")[0] == 0
    assert json.loads((tmp_path / "j.json").read_text())["id"] == session.id


def test_export_errors(saved: tuple[Path, Session], tmp_path: Path) -> None:
    root, _ = saved
    code, _, err = call("export", "nope", "--root", str(root))
    assert code == 1 and "no session with id 'nope'" in err
    code, _, err = call("export", "../etc", "--root", str(root))
    assert code == 2 and "error" in err
    code, _, err = call("export", "review-1", "--root", str(root), "--output", str(tmp_path))
    assert code == 2 and "is a folder: name a file" in err
    code, _, err = call("export", "review-1", "--root", str(root), "--output", str(tmp_path / "missing" / "x.md"))
    assert code == 2 and f"the folder {tmp_path / 'missing'} does not exist" in err
