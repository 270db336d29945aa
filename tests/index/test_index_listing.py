"""Listings served by the index equal a scan of the files (``index.listing``), whatever wrote them.

A property test drives the store, a foreign writer (files written without the store, as a
``git pull`` or a copy would), deletions and unreadable files (quarantined by the watcher) under
a running watcher, then compares every filter and page of ``SearchIndex.list_sessions`` with
``index.listing.page_of`` over ``SessionStore.list()`` (the files, read one by one).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from index import Indexer, IndexWatcher, InvalidQuery, SearchIndex
from index.listing import ListingFilters, listed_from_summary, page_of
from tests.hardening_helpers import wait_until
from store import Message, SessionExists, SessionNotFound, SessionStore
from store.codec import encode_session
from store.schema import Session, Usage

IDS = ["alpha", "beta-2", "gamma-walrus", "20261207-183910-468d08"]
WORDS = ["walrus", "Refactor", "auth", "lock", "zebra", "kimi"]
MODELS = ["kimi-k2", "gpt-4o", "claude-sonnet-4-5"]
TAGS = ["review", "bug", "perf"]
GROUPS = ["grp_a", "grp_b"]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

title = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)
operation = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(IDS), title, st.sampled_from(MODELS)),
    st.tuples(st.just("answer"), st.sampled_from(IDS), st.sampled_from(MODELS), st.sampled_from([None, 0.25, 1.5])),
    st.tuples(st.just("switch"), st.sampled_from(IDS), st.sampled_from(MODELS)),
    st.tuples(st.just("retitle"), st.sampled_from(IDS), title),
    st.tuples(st.just("tag"), st.sampled_from(IDS), st.lists(st.sampled_from(TAGS), max_size=2, unique=True)),
    st.tuples(st.just("delete"), st.sampled_from(IDS)),
    st.tuples(st.just("foreign"), st.sampled_from(IDS), title, st.sampled_from(MODELS), st.sampled_from(GROUPS), st.integers(0, 40)),
    st.tuples(st.just("junk"), st.sampled_from(["broken", "half"])),
)
FILTERS = [
    ListingFilters(),
    *(ListingFilters(model=model) for model in MODELS),
    *(ListingFilters(tag=tag) for tag in TAGS),
    *(ListingFilters(group_id=group) for group in GROUPS),
    ListingFilters(query="walrus"),
    ListingFilters(query="ref au"),
    ListingFilters(query="468d"),
    ListingFilters(query="gamma"),
    ListingFilters(since=T0 + timedelta(days=10)),
    ListingFilters(until=T0 + timedelta(days=20)),
    ListingFilters(model="gpt-4o", tag="bug"),
    ListingFilters(model="kimi-k2", group_id="grp_a", since=T0),
    ListingFilters(query="walrus", tag="review", model="claude-sonnet-4-5"),
]
_counter = itertools.count()


def apply(store: SessionStore, op: tuple) -> None:  # type: ignore[type-arg]
    kind = op[0]
    try:
        if kind == "create":
            store.create(op[1], title=op[2], model=op[3])
        elif kind == "answer":
            usage = Usage(input_tokens=3, output_tokens=4, cost_usd=op[3])
            store.append_message(op[1], Message(role="assistant", content="an answer", model=op[2], usage=usage))
        elif kind == "switch":
            store.record_model_switch(op[1], op[2], warning="switched")
        elif kind == "retitle":
            store.set_title(op[1], op[2])
        elif kind == "tag":
            store.set_tags(op[1], op[2])
        elif kind == "delete":
            store.delete(op[1])
        elif kind == "foreign":  # another machine's version of the file, copied in as it is
            at = T0 + timedelta(days=op[5])
            session = Session(
                id=op[1], title=op[2], created_at=at, updated_at=at, current_model=op[3], models_used=[op[3]],
                tags=[TAGS[op[5] % 3]], extra={"group_id": op[4]},
            )
            store.path_for(op[1]).write_bytes(encode_session(session))
        else:
            store.path_for(op[1]).write_text("{not json", encoding="utf-8")
    except (SessionExists, SessionNotFound):
        pass


def scanned(store: SessionStore) -> list:  # type: ignore[type-arg]
    return [listed_from_summary(summary) for summary in store.list().sessions]


@settings(
    max_examples=15,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(before=st.lists(operation, max_size=5), during=st.lists(operation, min_size=1, max_size=12))
def test_index_listing_equals_a_scan_of_the_files(tmp_path: Path, before: list, during: list) -> None:  # type: ignore[type-arg]
    root = tmp_path / f"run{next(_counter)}" / ".llm_sessions"
    store = SessionStore(root)
    for op in before:
        apply(store, op)
    with IndexWatcher(root, debounce_seconds=0.02) as watcher:
        for op in during:
            apply(store, op)
        assert watcher.wait_until_idle(10.0), "the watcher did not settle"
        # The count settles right after the files do (the last batch's bookkeeping): bounded wait.
        wait_until(lambda: watcher.indexer.pending_files() == 0, timeout=10.0, what="index_pending back to 0")
        files = scanned(store)
        with SearchIndex(root, build=False) as index:
            for filters in FILTERS:
                for limit, offset in ((50, 0), (1, 0), (2, 1), (3, 5)):
                    assert index.list_sessions(filters, limit, offset) == page_of(files, filters, limit, offset), filters
        assert watcher.last_error is None
    with Indexer(root) as indexer:
        assert indexer.check() == []


def test_a_query_without_words_is_refused_and_since_after_until_too(tmp_path: Path) -> None:
    SessionStore(tmp_path).create("one", title="Walrus talk", model="kimi-k2")
    with SearchIndex(tmp_path) as index:
        with pytest.raises(InvalidQuery, match="no words"):
            index.list_sessions(ListingFilters(query="-- *"))
        with pytest.raises(InvalidQuery, match="since is later"):
            index.list_sessions(ListingFilters(since=T0 + timedelta(days=1), until=T0))
        assert [item.id for item in index.list_sessions(ListingFilters(query="walr")).sessions] == ["one"]


def test_each_filter_is_an_index_read(tmp_path: Path) -> None:
    """No listing scans the sessions table or sorts every session: the plans say so."""
    from index.listing import _COLUMNS, _plan

    SessionStore(tmp_path).create("one", title="Walrus", model="kimi-k2")
    with Indexer(tmp_path) as indexer:
        indexer.sync()
        conn = indexer.connection
        for filters in (ListingFilters(), ListingFilters(model="gpt-4o"), ListingFilters(tag="bug"), ListingFilters(group_id="g"),
                        ListingFilters(since=T0), ListingFilters(model="gpt-4o", tag="bug", since=T0)):
            source, order, args = _plan(filters)
            steps = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN SELECT {_COLUMNS} FROM {source} {order} LIMIT 5", args)]
            assert not any("TEMP B-TREE" in step or (step.startswith("SCAN") and "USING" not in step) for step in steps), (filters, steps)


def test_check_reports_listing_tables_out_of_step_with_the_sessions(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    store.create("one", title="Walrus", model="kimi-k2")
    store.set_tags("one", ["bug"])
    with Indexer(tmp_path) as indexer:
        indexer.sync()
        assert indexer.check() == []
        conn = indexer.connection
        conn.execute("UPDATE listing_counts SET sessions = 5 WHERE key = 't:bug'")
        conn.execute("DELETE FROM session_models")
        details = [difference.detail for difference in indexer.check()]
    assert any("listing_counts" in detail for detail in details) and any("session_models" in detail for detail in details)
