"""``LegacyKimiStore`` (``kimi_chat`` with ``LLM_UNIFIED=0``) reads legacy files through the
migration's parser and mapping, and continues them in their own spelling: one message list,
unknown keys and key order kept. Real files (the shared fixtures), the real migration, and
the real server over stdio against the loopback Moonshot fake.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from store import SessionStore
from store.legacy import LegacyFileUnreadable, LegacyKimiStore, migrate_legacy_session, parse_legacy_document
from store.legacy.mapping import MESSAGES_KEYS
from tests.conftest import SHARED_FIXTURES
from tests.fakes import FakeOpenAI
from tests.hardening_helpers import mcp_server
from tests.server.test_mcp_stdio import base_env

FIXTURES = SHARED_FIXTURES / "legacy_kimi_sessions"
READABLE = sorted(path.stem for path in FIXTURES.glob("*.json") if path.stem not in ("empty_20250712_0000", "truncated_20250711_2359"))
NEW_TURNS = [{"role": "user", "content": "one more question"}, {"role": "assistant", "content": "one more answer"}]


def _copy_fixtures(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in FIXTURES.glob("*.json"):
        shutil.copyfile(path, folder / path.name)
    return folder


def camel_case_conversation(session_id: str) -> dict[str, Any]:
    """A fixture rewritten the way another legacy writer spelled it: camelCase keys, turns
    under ``conversation``, ``author``/``text`` with aliases, times in epoch milliseconds."""
    source = json.loads((FIXTURES / "refactor-model-agnostic-sessions_20250712_2126.json").read_text(encoding="utf-8"))
    authors = {"system": "system", "user": "human", "assistant": "ai"}
    turns = [
        {"author": authors[m["role"]], "text": m["content"], "createdAt": 1752355600000 + 1000 * index, "rating": index}
        for index, m in enumerate(source["messages"])
    ]
    return {"sessionId": session_id, "modelName": "kimi-k2-0711-preview", "createdAt": "2025-07-12T21:26:03Z",
            "conversation": turns, "settings": {"temperature": 0.6}, "updatedAt": 1752356143000}


@pytest.mark.parametrize("session_id", READABLE)
def test_the_legacy_store_reads_what_the_migration_reads(tmp_path: Path, session_id: str) -> None:
    legacy = _copy_fixtures(tmp_path / "legacy")
    read = LegacyKimiStore(legacy).load(session_id)
    migrated = migrate_legacy_session(legacy, SessionStore(tmp_path / "root"), session_id)
    assert read is not None and migrated is not None
    shape = [(m.role, m.content, m.tool_calls, m.tool_call_id) for m in read.to_unified_messages()]
    assert shape == [(m.role, m.content, m.tool_calls, m.tool_call_id) for m in migrated.messages]
    assert read.model == migrated.current_model


@pytest.mark.parametrize("session_id", READABLE)
def test_a_continued_fixture_keeps_its_keys_order_and_one_message_list(tmp_path: Path, session_id: str) -> None:
    legacy = _copy_fixtures(tmp_path / "legacy")
    path = legacy / f"{session_id}.json"
    before = parse_legacy_document(path.read_bytes())
    store = LegacyKimiStore(legacy)
    store.append_exchange(session_id, "kimi-k2-0711-preview", NEW_TURNS)
    after = parse_legacy_document(path.read_bytes())
    if isinstance(before, list):
        assert after[: len(before)] == before and len(after) == len(before) + 2
        added = after[len(before):]
    else:
        lists = [key for key in after if key in MESSAGES_KEYS]
        assert lists == [key for key in before if key in MESSAGES_KEYS]  # no second message list
        (key,) = lists
        assert list(after)[: len(before)] == list(before)  # key order kept; at most updated_at is added
        assert set(after) - set(before) <= {"updated_at"}
        for name, value in before.items():
            if name != key and "updated" not in name.lower():
                assert after[name] == value, name
        assert after[key][: len(before[key])] == before[key]
        added = after[key][len(before[key]):]
    assert [(m["role"], m["content"]) for m in added] == [(t["role"], t["content"]) for t in NEW_TURNS]
    again = store.load(session_id)
    assert again is not None and [m.content for m in again.to_unified_messages()[-2:]] == ["one more question", "one more answer"]


def test_times_are_written_in_the_files_own_format(tmp_path: Path) -> None:
    legacy = _copy_fixtures(tmp_path / "legacy")
    session_id = "refactor-model-agnostic-sessions_20250712_2126"
    LegacyKimiStore(legacy).append_exchange(session_id, "kimi-k2-0711-preview", NEW_TURNS)
    doc = json.loads((legacy / f"{session_id}.json").read_text(encoding="utf-8"))
    assert all(isinstance(m["timestamp"], float) for m in doc["messages"][-2:])  # epoch seconds, as its turns
    assert doc["updated_at"] != "2025-07-12T21:35:43" and "T" in doc["updated_at"] and not doc["updated_at"].endswith("Z")


def test_a_camel_case_conversation_is_continued_in_its_own_spelling(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    original = camel_case_conversation("camel")
    (legacy / "camel.json").write_text(json.dumps(original, indent=2), encoding="utf-8")
    store = LegacyKimiStore(legacy)
    loaded = store.load("camel")
    assert loaded is not None and loaded.model == "kimi-k2-0711-preview"
    assert [m.role for m in loaded.to_unified_messages()] == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    store.append_exchange("camel", "kimi-k2-0711-preview", NEW_TURNS)
    doc = json.loads((legacy / "camel.json").read_text(encoding="utf-8"))
    assert list(doc) == list(original) and "messages" not in doc
    assert doc["conversation"][: len(original["conversation"])] == original["conversation"]
    new = doc["conversation"][len(original["conversation"]):]
    assert [list(m) for m in new] == [["author", "text", "createdAt"]] * 2
    assert [m["author"] for m in new] == ["human", "ai"] and all(isinstance(m["createdAt"], int) for m in new)
    assert isinstance(doc["updatedAt"], int) and doc["updatedAt"] > original["updatedAt"]
    assert doc["settings"] == {"temperature": 0.6}


def test_a_file_the_migration_refuses_is_refused_and_left_alone(tmp_path: Path) -> None:
    legacy = _copy_fixtures(tmp_path / "legacy")
    (legacy / "norole.json").write_text('{"messages": [{"content": "who said this?"}]}', encoding="utf-8")
    store = LegacyKimiStore(legacy)
    for session_id, reason in (("empty_20250712_0000", "the file is empty"), ("truncated_20250711_2359", "truncated or corrupt"), ("norole", "no recognisable role")):
        raw = (legacy / f"{session_id}.json").read_bytes()
        with pytest.raises(LegacyFileUnreadable, match=reason):
            store.append_exchange(session_id, "kimi-k2-0711-preview", NEW_TURNS)
        assert (legacy / f"{session_id}.json").read_bytes() == raw
    assert store.load("missing") is None


def test_earlier_turns_of_a_camel_case_file_reach_the_model(tmp_path: Path) -> None:
    (tmp_path / "legacy").mkdir()
    original = camel_case_conversation("camel-served")
    (tmp_path / "legacy" / "camel-served.json").write_text(json.dumps(original), encoding="utf-8")
    with FakeOpenAI() as moonshot:
        env = base_env(tmp_path) | moonshot.env("MOONSHOT") | {"LLM_UNIFIED": "0"}
        with mcp_server(tmp_path / "root", env, tmp_path / "server-stderr.log") as client:
            result = client.call("kimi_chat", prompt="and the index?", session_id="camel-served")
        body = moonshot.last_body
    assert result["reply"] == "echo: and the index?" and result["model"] == "kimi-k2-0711-preview"
    sent = [(m["role"], m["content"]) for m in body["messages"]]
    turns = original["conversation"]
    assert sent[0] == ("system", turns[0]["text"])
    assert sent[1:-1] == [({"human": "user", "ai": "assistant"}[t["author"]], t["text"]) for t in turns[1:]]
    assert sent[-1] == ("user", "and the index?")
    doc = json.loads((tmp_path / "legacy" / "camel-served.json").read_text(encoding="utf-8"))
    assert "messages" not in doc and [m["text"] for m in doc["conversation"][-2:]] == ["and the index?", "echo: and the index?"]


def test_a_new_session_gets_the_legacy_writers_shape(tmp_path: Path) -> None:
    store = LegacyKimiStore(tmp_path / "legacy")
    assert not store.exists("fresh")
    store.append_exchange("fresh", "kimi-k2-0711-preview", NEW_TURNS)
    store.append_exchange("fresh", "kimi-k2-0711-preview", NEW_TURNS[:1])
    doc = json.loads(store.path_for("fresh").read_text(encoding="utf-8"))
    assert list(doc) == ["session_id", "model", "created_at", "updated_at", "messages"] and store.exists("fresh")
    assert doc["session_id"] == "fresh" and doc["model"] == "kimi-k2-0711-preview"
    assert [list(m) for m in doc["messages"]] == [["role", "content", "timestamp"]] * 3
    assert all(m["timestamp"].endswith("Z") for m in doc["messages"]) and doc["updated_at"] >= doc["created_at"]
