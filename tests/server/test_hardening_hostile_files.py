"""Hardening: hostile session files (hypothesis fuzz over JSON shapes and byte-level damage).

Every file is either loaded or quarantined with a clear reason — by the store, by the indexer
and through the server's tools — nothing else is ever raised, the server never crashes, and a
file that could not be read is never rewritten: it stays byte-identical, in ``sessions/`` or
moved verbatim to ``quarantine/``. ``HARDENING_LONG=1`` runs many more examples.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp.server.mcpserver.exceptions import ToolError

import server
from index import Indexer
from store import CorruptSession, SessionStore, UnsupportedSchemaVersion
from store.codec import encode_session
from store.quarantine import REASON_SUFFIX
from store.schema import Message, Session
from tests.chat_helpers import make_indexed_app
from tests.fakes import FakeOpenAI
from tests.hardening_helpers import FUZZ, mcp_server, subprocess_env, wait_until

SID = "fuzz"
NOW = "2026-11-25T10:00:00Z"


def valid_document(session_id: str = SID) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "id": session_id,
        "title": "a title",
        "created_at": NOW,
        "updated_at": NOW,
        "tags": ["t"],
        "current_model": "gpt-test",
        "models_used": ["gpt-test"],
        "messages": [
            {"id": "m1", "role": "user", "content": "hello hostile world", "created_at": NOW},
            {"id": "m2", "role": "assistant", "content": [{"type": "text", "text": "hi"}], "model": "gpt-test",
             "created_at": NOW, "usage": {"input_tokens": 1, "output_tokens": 2},
             "tool_calls": [{"id": "c1", "name": "f", "arguments": {"a": 1}}]},
        ],
        "model_switches": [{"at_message": 1, "from_model": "a", "to_model": "gpt-test", "at": NOW, "warning": "w"}],
        "tool_state": {},
        "summaries": [{"covers": [0, 1], "text": "s", "model": "gpt-test", "created_at": NOW}],
        "extensions": {"kimi": {"x": 1}},
        "extra": {},
    }


# Paths into the document where a hostile value can be put.
PATHS: list[tuple[Any, ...]] = [
    (), ("schema_version",), ("id",), ("title",), ("created_at",), ("updated_at",), ("tags",), ("tags", 0),
    ("current_model",), ("models_used",), ("messages",), ("messages", 0), ("messages", 0, "role"),
    ("messages", 0, "content"), ("messages", 0, "created_at"), ("messages", 1, "content"), ("messages", 1, "content", 0),
    ("messages", 1, "usage"), ("messages", 1, "usage", "input_tokens"), ("messages", 1, "tool_calls"),
    ("messages", 1, "tool_calls", 0, "arguments"), ("model_switches",), ("model_switches", 0, "at_message"),
    ("model_switches", 0, "at"), ("summaries", 0, "covers"), ("tool_state",), ("extensions",), ("extra",),
    ("unknown_key",), ("messages", 0, "unknown_key"),
]

json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.sampled_from(["", "\x00", "\ufeff", "9999-99-99", "0001-01-01T00:00:00+14:00", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"), "../../x"]),
)
json_values = st.recursive(
    json_leaves, lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)), max_leaves=12
)


def nested(depth: int, leaf: Any = "deep") -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def put(document: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    target = document
    for key in path[:-1]:
        try:
            target = target[key]
        except (KeyError, IndexError, TypeError):
            return document
    try:
        if delete:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass
    return document


@st.composite
def hostile_bytes(draw: st.DrawFn) -> bytes:
    document = valid_document()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(PATHS))
        value = draw(st.one_of(json_values, st.builds(nested, st.sampled_from([100, 101, 150]), json_leaves)))
        document = put(document, path, value, draw(st.booleans()) and bool(path))
    data = json.dumps(document, ensure_ascii=draw(st.booleans())).encode("utf-8")
    damage = draw(st.sampled_from(["none", "bom", "invalid-utf8", "nul", "truncate", "trailing", "deep", "empty"]))
    position = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
    if damage == "bom":
        data = b"\xef\xbb\xbf" + data
    elif damage == "invalid-utf8":
        data = data[:position] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])) + data[position:]
    elif damage == "nul":
        data = data[:position] + b"\x00" + data[position:]
    elif damage == "truncate":
        data = data[:position]
    elif damage == "trailing":
        data = data + b"\n{}"
    elif damage == "deep":
        data = b"[" * 100_000 + b"]" * 100_000
    elif damage == "empty":
        data = b""
    return data


def _quarantined_copy(root: Path) -> tuple[bytes, str] | None:
    """The bytes and reason of the one file in quarantine, if any."""
    folder = root / "quarantine"
    files = [p for p in folder.iterdir() if not p.name.endswith(REASON_SUFFIX)] if folder.is_dir() else []
    if not files:
        return None
    (only,) = files
    reason = Path(str(only) + REASON_SUFFIX).read_text(encoding="utf-8")
    return only.read_bytes(), reason


def _assert_loaded_or_quarantined(root: Path, data: bytes, outcome: str) -> None:
    path = root / "sessions" / f"{SID}.json"
    quarantined = _quarantined_copy(root)
    if outcome == "loaded":
        assert quarantined is None
    elif outcome == "refused":  # newer schema: left in place, untouched
        assert path.read_bytes() == data and quarantined is None
    else:
        assert not path.exists() and quarantined is not None
        assert quarantined[0] == data  # moved verbatim, never rewritten
        assert "reason: " in quarantined[1] and len(quarantined[1].split("reason: ", 1)[1].strip()) > 5


def _fresh_root(tmp_path: Path, data: bytes, name: str) -> Path:
    root = tmp_path / name
    SessionStore(root)
    (root / "sessions" / f"{SID}.json").write_bytes(data)
    return root


def _store_outcome(root: Path) -> str:
    try:
        SessionStore(root).load(SID)
        return "loaded"
    except CorruptSession as exc:
        assert exc.reason and str(exc)
        return "quarantined"
    except UnsupportedSchemaVersion:
        return "refused"


@given(data=hostile_bytes())
@FUZZ
def test_store_and_indexer_load_or_quarantine(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    root = _fresh_root(tmp, data, "store")
    outcome = _store_outcome(root)
    _assert_loaded_or_quarantined(root, data, outcome)
    # The indexer reaches the same verdict on its own.
    other = _fresh_root(tmp, data, "index")
    with Indexer(other) as indexer:
        report = indexer.sync()
        assert report.errors == []
        verdict = "loaded" if report.indexed == 1 else "refused" if report.refused else "quarantined"
        assert verdict == outcome
        if verdict == "quarantined":
            assert report.quarantined[0].reason
        assert indexer.check() == []
    _assert_loaded_or_quarantined(other, data, outcome)


@given(data=hostile_bytes())
@FUZZ
def test_server_tools_never_crash_on_a_hostile_file(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    tmp = tmp_path_factory.mktemp("fuzz-server")
    app, _ = make_indexed_app(tmp)
    try:
        (app.store.layout.sessions / f"{SID}.json").write_bytes(data)
        mcp = server.build_server(app)
        outcomes = []
        for name, arguments in (
            ("list_sessions", {}),
            ("search_sessions", {"query": "hostile"}),
            ("get_session", {"session_id": SID}),
            ("chat", {"prompt": "continue", "model": "gpt-test", "session_id": SID}),
            ("model_switch_history", {}),
        ):
            try:
                anyio.run(lambda: mcp.call_tool(name, arguments))
                outcomes.append("ok")
            except ToolError as exc:
                assert "internal error" not in str(exc), (name, str(exc))
                outcomes.append(str(exc))
        path = app.store.layout.sessions / f"{SID}.json"
        if path.exists() and path.read_bytes() != data:
            # Rewritten only by a successful chat on a file that loaded.
            assert outcomes[3] == "ok" and app.store.load(SID).messages[-1].content == "echo: continue"
        quarantined = _quarantined_copy(app.store.root)
        if quarantined is not None:
            assert quarantined[0] == data
        # The tools still work on other sessions afterwards.
        anyio.run(lambda: mcp.call_tool("chat", {"prompt": "fresh", "model": "gpt-test"}))
    finally:
        for close in app.extra["closers"]:
            close()


def test_deep_nesting_in_extra_loads_and_in_content_is_quarantined(tmp_path: Path) -> None:
    document = valid_document()
    document["extra"] = {"deep": nested(100)}
    document["messages"][0]["extra_field"] = nested(100)
    root = _fresh_root(tmp_path, json.dumps(document).encode(), "ok")
    session = SessionStore(root).load(SID)
    assert session.extra["deep"] == nested(100) and session.messages[0].extra["extra_field"] == nested(100)
    bad = valid_document()
    lists: Any = "deep"
    for _ in range(100):
        lists = [lists]
    bad["messages"][0]["content"] = lists  # parts must be objects: 100 nested arrays are not
    data = json.dumps(bad).encode()
    root = _fresh_root(tmp_path, data, "bad")
    assert _store_outcome(root) == "quarantined"
    _assert_loaded_or_quarantined(root, data, "quarantined")


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (b"\xef\xbb\xbf" + json.dumps(valid_document()).encode(), None),
        (json.dumps(valid_document()).encode()[:-1] + b"\xff}", "not valid UTF-8"),
        (json.dumps(valid_document()).encode().replace(b'"a title"', b'"a\x00title"'), "invalid JSON"),
        (json.dumps(valid_document()).replace("a title", "a\\u0000title").encode(), None),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (json.dumps(valid_document())[:50].encode(), "invalid JSON"),
        (b"", "empty"),
        (json.dumps({**valid_document(), "messages": "not a list"}).encode(), "schema error at messages"),
        (json.dumps({**valid_document(), "schema_version": 99}).encode(), "upgrade"),
    ],
)
def test_each_hostile_kind_has_a_clear_reason(tmp_path: Path, data: bytes, phrase: str | None) -> None:
    root = _fresh_root(tmp_path, data, "root")
    outcome = _store_outcome(root)
    _assert_loaded_or_quarantined(root, data, outcome)
    if phrase is None:
        assert outcome == "loaded"
    elif outcome == "refused":
        assert phrase in str(pytest.raises(UnsupportedSchemaVersion, SessionStore(root).load, SID).value).lower()
    else:
        assert phrase in _quarantined_copy(root)[1]  # type: ignore[index]


def test_a_50_mb_message_loads_indexes_and_is_served_truncated(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = SessionStore(root)
    session = Session(id="huge", current_model="gpt-4o", models_used=["gpt-4o"])
    content = ("lorem ipsum dolor " * 3_000_000)[:50_000_000] + " needlezebra"
    session.messages = [Message(role="user", content=content)]
    (store.layout.sessions / "huge.json").write_bytes(encode_session(session))
    del content, session
    with FakeOpenAI() as openai:
        env = subprocess_env(openai.env("OPENAI") | {"KIMI_SESSIONS_DIR": str(tmp_path / "legacy")})
        with mcp_server(root, env, tmp_path / "server.log") as client:
            page = client.call("get_session", session_id="huge", max_chars_per_message=1000)
            assert page["messages"][0]["content"].endswith("50,000,012 characters in total]")
            # The index catches up in the background (the first answers say index_pending > 0).
            deadline = time.monotonic() + 120
            while (result := client.call("search_sessions", query="needlezebra"))["index_pending"]:
                assert time.monotonic() < deadline, "the index did not catch up"
                time.sleep(0.1)
            assert [hit["session_id"] for hit in result["hits"]] == ["huge"]
            assert client.call("list_sessions")["sessions"][0]["message_count"] == 1
    assert SessionStore(root).list().quarantined == []


def test_hostile_files_through_the_stdio_server(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = SessionStore(root)
    bad = {
        "bom": (b"\xef\xbb\xbf" + json.dumps(valid_document("bom")).encode(), True),
        "badutf": (json.dumps(valid_document("badutf")).encode()[:-1] + b"\xff}", False),
        "nulbytes": (b"\x00" * 64, False),
        "deep": (b"[" * 100_000 + b"]" * 100_000, False),
        "wrongtypes": (json.dumps({**valid_document("wrongtypes"), "messages": [{"role": 5}]}).encode(), False),
        "future": (json.dumps({**valid_document("future"), "schema_version": 2}).encode(), False),
    }
    for name, (data, _) in bad.items():
        (store.layout.sessions / f"{name}.json").write_bytes(data)
    with FakeOpenAI() as openai:
        env = subprocess_env(openai.env("OPENAI") | {"KIMI_SESSIONS_DIR": str(tmp_path / "legacy")})
        with mcp_server(root, env, tmp_path / "server.log") as client:
            for name, (data, loads) in bad.items():
                result = client.raw("get_session", session_id=name)
                assert result.is_error != loads, (name, result.content)
                if not loads:
                    text = result.content[0].text
                    assert "internal error" not in text and (
                        "quarantine" in text or "no session" in text or "upgrade" in text
                    ), (name, text)
            assert client.call("chat", prompt="alive", model="gpt-4o")["reply"] == "echo: alive"
            log = client.log()
    assert "Traceback" not in log
    # The unreadable ones were moved verbatim, the newer one left in place untouched.
    assert (store.layout.sessions / "future.json").read_bytes() == bad["future"][0]
    moved = {p.name: p.read_bytes() for p in (root / "quarantine").iterdir() if not p.name.endswith(REASON_SUFFIX)}
    for name in ("badutf", "nulbytes", "deep", "wrongtypes"):
        assert moved[f"{name}.json"] == bad[name][0]


def test_a_file_without_ids_or_times_reads_the_same_every_time(tmp_path: Path) -> None:
    document = valid_document()
    for key in ("created_at", "updated_at"):
        del document[key]
    for message in document["messages"]:
        del message["created_at"], message["id"]
    del document["model_switches"][0]["at"], document["summaries"][0]["created_at"]
    root = _fresh_root(tmp_path, json.dumps(document).encode(), "root")
    store = SessionStore(root)
    first, second = store.load(SID), store.load(SID)
    assert first == second  # no random id, no "now": the same session on every read
    assert [m.id for m in first.messages] == ["msg_missing_0", "msg_missing_1"]
    assert first.created_at.year == 1970 and first.messages[0].created_at == first.created_at
    with Indexer(root) as indexer:
        assert indexer.sync().indexed == 1
        assert indexer.check() == []  # before: a "rows" difference on every check, forever
    document["messages"][0]["created_at"] = NOW
    root = _fresh_root(tmp_path, json.dumps(document).encode(), "dated")
    session = SessionStore(root).load(SID)
    assert session.created_at == session.messages[0].created_at == session.messages[1].created_at
