"""Property: after any sequence of store operations, the live (watched) index equals a rebuild
(attached files included: their text is read from ``blobs/``)."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from chat.attachments import prepare_attachments
from index import Indexer, IndexWatcher, SearchIndex
from store.blobs import BlobStore
from store import Message, SessionExists, SessionNotFound, SessionStore
from tests.index.test_index_indexer import table_rows

IDS = ["alpha", "beta", "gamma-1", "会话"]
WORDS = ["walrus", "parse_session_id", "全文索引", "lock", "atomic", "索引", "zebra", "kimi"]
MODELS = ["kimi-k2", "gpt-4o", "claude-sonnet-4-5"]
QUERIES = ["walrus", "parse_session_id", "全文索引", "索引", "lock OR zebra", "atom", 'lock-zebra', "kimi", "capybara"]

text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)
operation = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(IDS), text, st.sampled_from(MODELS)),
    st.tuples(st.just("append"), st.sampled_from(IDS), text, st.sampled_from(MODELS)),
    st.tuples(st.just("switch"), st.sampled_from(IDS), st.sampled_from(MODELS)),
    st.tuples(st.just("retitle"), st.sampled_from(IDS), text),
    st.tuples(st.just("delete"), st.sampled_from(IDS)),
    st.tuples(st.just("attach"), st.sampled_from(IDS), text, st.sampled_from(WORDS[:3])),
)
_counter = itertools.count()


def apply(store: SessionStore, op: tuple) -> None:  # type: ignore[type-arg]
    kind, session_id = op[0], op[1]
    try:
        if kind == "create":
            store.create(session_id, title=op[2], model=op[3])
        elif kind == "append":
            store.append_message(session_id, Message(role="assistant", content=op[2], model=op[3]))
        elif kind == "switch":
            store.record_model_switch(session_id, op[2], warning="switched")
        elif kind == "retitle":
            store.set_title(session_id, op[2])
        elif kind == "attach":  # a user turn attaching a file (rewritten each time: changed or unchanged)
            project = store.root.parent / "project"
            project.mkdir(exist_ok=True)
            path = project / f"{op[3]}.txt"
            path.write_text(f"capybara {op[2]}\n", encoding="utf-8")
            prepared = prepare_attachments([str(path)], roots=[project])
            prepared.store(BlobStore(store.root))
            store.append_message(session_id, Message(role="user", content=prepared.content("see the file")))
        else:
            store.delete(session_id)
    except (SessionExists, SessionNotFound):
        pass  # the operation does not apply to the current state; that is part of the sequence


def search_results(root: Path) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    with SearchIndex(root) as index:
        return {query: [hit.model_dump() for hit in index.search(query, limit=50)] for query in QUERIES}


# No shrink phase: a failing example costs a 10 s bounded wait, and shrinking would retry it
# hundreds of times; the examples are short (at most 14 operations) and readable as they are.
@settings(
    max_examples=20,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(before=st.lists(operation, max_size=4), during=st.lists(operation, min_size=1, max_size=10))
def test_live_index_equals_rebuilt_index(tmp_path: Path, before: list, during: list) -> None:  # type: ignore[type-arg]
    root = tmp_path / f"run{next(_counter)}" / ".llm_sessions"
    store = SessionStore(root)
    for op in before:  # written before the watcher starts: its initial sync must pick them up
        apply(store, op)
    with IndexWatcher(root, debounce_seconds=0.02) as watcher:
        for op in during:
            apply(store, op)
        assert watcher.wait_until_idle(10.0), "the watcher did not settle"
        live_rows = table_rows(root)
        live_search = search_results(root)
        assert watcher.last_error is None
    rebuilt = root.parent / "rebuilt"
    shutil.copytree(root / "sessions", rebuilt / "sessions")
    if (root / "blobs").exists():
        shutil.copytree(root / "blobs", rebuilt / "blobs")
    with Indexer(rebuilt) as indexer:
        indexer.sync()
        assert indexer.check() == []
    assert table_rows(rebuilt) == live_rows
    assert search_results(rebuilt) == live_search
    with Indexer(root) as indexer:
        assert indexer.check() == []
