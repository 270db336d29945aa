"""Organising sessions in the store: titles, tags, case-insensitive ids, near matches, trash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import Message, SessionStore
from store import casefold
from store.errors import InvalidTag, InvalidTitle, NotInTrash, SessionExists, SessionIdClash, SessionNotFound, WrongCase
from store.near_match import best_near_match, distance_within, near_match_warning, near_matches
from store.schema import utc_now
from store.titles import AUTO_TITLE_LENGTH, title_from_prompt, validate_tag
from tests.conftest import REPO_ROOT

# ------------------------------------------------------------------------------ titles


@pytest.mark.parametrize(
    ("prompt", "title"),
    [
        ("Refactor the auth module\nso that tokens expire", "Refactor the auth module"),
        ("\n\n   ## Why does   the parser\tfail?  \n", "Why does the parser fail?"),
        ("```python\nprint(1)\n```\nExplain this **output**", "Explain this output"),
        ("```\nonly code here\n```", "only code here"),
        ("> quoted [link text](https://example.com) here", "quoted link text here"),
        ("- [ ] item", "[ ] item"),
        ("---\n# \n1. First step", "First step"),
        ("   \n\t\n", None),
        ("", None),
        ("请帮我重构认证模块\n第二行", "请帮我重构认证模块"),
        ("# 标题：数据库迁移方案", "标题：数据库迁移方案"),
    ],
)
def test_title_from_prompt_examples(prompt: str, title: str | None) -> None:
    assert title_from_prompt(prompt) == title


def test_a_long_english_line_is_cut_at_a_word_boundary_with_an_ellipsis() -> None:
    prompt = "Please review the following pull request carefully and tell me whether the migration is safe to run"
    title = title_from_prompt(prompt)
    assert title is not None and len(title) <= AUTO_TITLE_LENGTH and title.endswith("…")
    assert prompt.startswith(title[:-1]) and prompt[len(title) - 1] == " "  # cut before a space, no half word


def test_a_long_chinese_line_is_cut_at_80_characters() -> None:
    prompt = "请详细解释一下这个数据库迁移脚本在生产环境中运行时可能遇到的所有问题" * 4
    title = title_from_prompt(prompt)
    assert title is not None and len(title) == AUTO_TITLE_LENGTH and title.endswith("…")
    assert prompt.startswith(title[:-1])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_title_from_prompt_is_one_short_clean_line(prompt: str) -> None:
    title = title_from_prompt(prompt)
    if title is None:
        return
    assert 0 < len(title) <= AUTO_TITLE_LENGTH
    assert title == title.strip() and "  " not in title
    assert "\n" not in title and "\r" not in title
    # Always acceptable as an explicit title too.
    from store.titles import validate_title

    assert validate_title(title) == title


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["word", "词语", "x", "longerword"]), min_size=1, max_size=60))
def test_a_title_is_the_start_of_its_line(words: list[str]) -> None:
    line = " ".join(words)
    title = title_from_prompt(line)
    assert title is not None
    assert line.startswith(title.removesuffix("…"))
    assert title.endswith("…") == (len(line) > AUTO_TITLE_LENGTH)


def test_titles_and_tags_are_validated_with_clear_errors(store: SessionStore) -> None:
    store.create("s1")
    with pytest.raises(InvalidTitle, match="more than one line"):
        store.set_title("s1", "one\ntwo")
    with pytest.raises(InvalidTitle, match="201 characters"):
        store.set_title("s1", "x" * 201)
    for bad, why in [("", "empty"), ("a b", "whitespace"), ("a,b", "comma"), ("x" * 65, "65 characters"), ("-x", "starts with")]:
        with pytest.raises(InvalidTag, match=why):
            validate_tag(bad)
    with pytest.raises(InvalidTag, match="both added and removed"):
        store.update_tags("s1", add=["a"], remove=["a"])
    assert store.load("s1").title is None and store.load("s1").tags == []


def test_retitle_and_tags_keep_updated_at_and_are_atomic_writes(store: SessionStore) -> None:
    store.create("s1", tags=["old", "keep"])
    before = store.load("s1").updated_at
    time.sleep(0.01)
    assert store.set_title("s1", "  A title  ") == "A title"
    assert store.update_tags("s1", add=["new", "keep"], remove=["old", "absent"]) == ["keep", "new"]
    session = store.load("s1")
    assert (session.title, session.tags, session.updated_at) == ("A title", ["keep", "new"], before)
    assert store.set_title("s1", "") is None and store.load("s1").title is None
    assert not [p for p in store.layout.sessions.iterdir() if p.name.startswith(".tmp-")]


# ------------------------------------------------------------------------------ case-insensitive ids


def test_an_id_differing_only_in_case_is_refused_naming_the_existing_session(store: SessionStore) -> None:
    store.create("day1", title="Planning", model="gpt-4o")
    store.append_message("day1", Message(role="user", content="hello"))
    with pytest.raises(SessionIdClash) as caught:
        store.create("Day1")
    message = str(caught.value)
    assert "'day1'" in message and "'Planning'" in message and "gpt-4o" in message and "1 messages" in message
    assert "last updated" in message and "use 'day1'" in message
    assert caught.value.existing_id == "day1" and isinstance(caught.value, SessionExists)
    assert not (store.layout.sessions / "Day1.json").exists()
    # Unicode: é precomposed and decomposed, and ß/SS, meet too.
    store.create("caf\u00e9")
    with pytest.raises(SessionIdClash):
        store.create("CAFE\u0301")
    store.create("straße")
    with pytest.raises(SessionIdClash):
        store.create("STRASSE")


def test_the_rule_holds_on_a_case_folding_file_system_without_a_link(store: SessionStore) -> None:
    """Simulates what macOS/Windows show: the path of ``Day1`` opens ``day1``'s file.

    The casefold link is missing (the file arrived by git pull), so only the file itself
    can tell: its document says ``day1``.
    """
    store.create("day1", title="Planning")
    os.unlink(casefold.link_path(store.layout, "day1"))
    data = (store.layout.sessions / "day1.json").read_bytes()
    # On a case-folding file system "Day1.json" IS this file: a hard link is exactly that here.
    os.link(store.layout.sessions / "day1.json", store.layout.sessions / "Day1.json")
    with pytest.raises(SessionIdClash, match="'day1'"):
        store.create("Day1")
    # Reading "Day1" is not corruption: it says which id exists, and quarantines nothing.
    with pytest.raises(WrongCase, match="did you mean 'day1'"):
        store.load("Day1")
    with pytest.raises(WrongCase):
        store.trash("Day1")
    assert (store.layout.sessions / "Day1.json").read_bytes() == data
    assert not any(store.layout.quarantine.iterdir())


def test_a_copy_under_another_case_on_a_case_sensitive_system_is_still_quarantined(store: SessionStore) -> None:
    store.create("day1")
    (store.layout.sessions / "Day1.json").write_bytes((store.layout.sessions / "day1.json").read_bytes())
    listing = store.list()
    assert [item.id for item in listing.sessions] == ["day1"]
    assert [Path(record.original_path).name for record in listing.quarantined] == ["Day1.json"]


def test_a_stale_link_does_not_block_and_rebuild_views_repairs_and_reports(store: SessionStore) -> None:
    store.create("gone")
    os.unlink(store.layout.sessions / "gone.json")  # deleted by a git pull: the link is stale
    store.create("GONE")  # allowed, the link now names GONE
    assert casefold.owner_name(store.layout, "gone") == "GONE"
    # Two clashing files that arrived by git (a case-sensitive machine made both).
    store.create("Alpha")
    other = json.loads((store.layout.sessions / "Alpha.json").read_text())
    other["id"] = "alpha"
    (store.layout.sessions / "alpha.json").write_text(json.dumps(other))
    os.unlink(casefold.link_path(store.layout, "GONE"))
    listing = store.rebuild_views()
    assert listing.clashes == [["Alpha", "alpha"]]
    assert casefold.owner_name(store.layout, "gone") == "GONE"  # repaired
    assert (store.layout.sessions / "alpha.json").exists() and (store.layout.sessions / "Alpha.json").exists()


def test_creates_of_case_variants_race_across_processes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    SessionStore(root)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from store import SessionStore, SessionExists\n"
        "s = SessionStore(sys.argv[2])\n"
        "for i in range(40):\n"
        "    try: s.create(sys.argv[3] + str(i))\n"
        "    except SessionExists: pass\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(REPO_ROOT), str(root), name])
        for name in ("race", "RACE", "Race")
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    names = sorted(path.stem for path in (root / "sessions").iterdir())
    assert len(names) == 40
    assert sorted({name.lower() for name in names}) == sorted(f"race{i}" for i in range(40))
    layout = SessionStore(root).layout
    for name in names:
        assert casefold.owner_name(layout, casefold.casefold_key(name)) == name


def test_migration_reports_a_case_collision_and_overwrites_nothing(tmp_path: Path) -> None:
    from store.legacy import migrate_folder

    root = tmp_path / "u"
    store = SessionStore(root)
    store.create("chat", title="mine")
    mine = (root / "sessions" / "chat.json").read_bytes()
    legacy = tmp_path / "k"
    legacy.mkdir()
    (legacy / "Chat.json").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}))
    report = migrate_folder(legacy, root, verify=True)
    (outcome,) = report.files
    assert outcome.status == "migrated" and outcome.session_id and outcome.session_id.startswith("Chat-legacy-")
    assert outcome.collision is not None and "letter case" in outcome.collision.reason and "'chat'" in outcome.collision.reason
    assert (root / "sessions" / "chat.json").read_bytes() == mine


# ------------------------------------------------------------------------------ near matches


def test_distance_is_damerau_levenshtein_within_a_limit() -> None:
    assert distance_within("refactor-auth", "refactr-auth", 2) == 1
    assert distance_within("abcdef", "abdcef", 2) == 1  # a swap is one edit
    assert distance_within("kitten", "sitting", 2) is None
    assert distance_within("kitten", "sitting", 3) == 3
    assert distance_within("same", "same", 2) == 0


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab-1", min_size=5, max_size=12), st.text(alphabet="ab-1", min_size=5, max_size=12))
def test_the_filter_never_hides_a_near_match(new_id: str, other: str) -> None:
    """The pigeonhole filter is exact: whatever the banded distance accepts is found among noise."""
    noise = [f"noise{i:04d}ab" for i in range(50)]
    found = {match.id for match in near_matches(new_id, [*noise, other], limit=100)}
    expected = distance_within(new_id.lower(), other.lower(), 2)
    assert (other in found) == (expected is not None and other.lower() != new_id.lower())


def test_best_near_match_uses_the_casefold_view_and_says_how_to_continue(store: SessionStore) -> None:
    store.create("refactor-auth", model="claude-sonnet-4-5", title="Auth refactor")
    store.append_messages("refactor-auth", [Message(role="user", content=str(i)) for i in range(14)])
    for i in range(200):
        store.create(f"20261207-1839{i:02d}-abc{i:03d}")
    match = best_near_match(store, "Refactr-Auth")
    assert match is not None and match.id == "refactor-auth" and match.distance == 1
    assert match.summary is not None and match.summary.message_count == 14
    warning = near_match_warning("Refactr-Auth", match, now=match.summary.updated_at + timedelta(hours=2))
    assert warning == (
        "started a new session 'Refactr-Auth'; did you mean 'refactor-auth' "
        "('Auth refactor', 14 messages, claude-sonnet-4-5, updated 2 h ago)?"
    )
    assert best_near_match(store, "something-else") is None
    # A candidate source of real ids (what the index gives) works the same way.
    assert best_near_match(store, "refactor-autj", lambda: ["refactor-auth", "x"]).id == "refactor-auth"  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ trash


def test_trash_restore_list_and_empty(store: SessionStore) -> None:
    store.create("a.b", model="gpt-4o", title="dotted id")
    views = [store.layout.by_date, store.layout.by_model / "gpt-4o"]
    trashed = store.trash("a.b")
    assert trashed.path.parent == store.layout.trash and trashed.path.name.startswith("a.b.")
    assert not store.exists("a.b") and not os.path.lexists(casefold.link_path(store.layout, "a.b"))
    assert not any(link.name == "a.b.json" for view in views for link in view.rglob("*"))
    assert [(e.id, e.title) for e in store.list_trash(details=True)] == [("a.b", "dotted id")]
    assert store.list_trash()[0].title is None  # names only unless details
    store.create("A.B")  # the id is free again (case-insensitively too)
    with pytest.raises(SessionIdClash, match="cannot restore session 'a.b'"):
        store.restore("a.b")
    store.trash("A.B")
    restored = store.restore("a.b")
    assert restored.title == "dotted id" and store.load("a.b").title == "dotted id"
    assert (store.layout.by_model / "gpt-4o" / "a.b.json").resolve() == store.path_for("a.b").resolve()
    assert casefold.owner_name(store.layout, "a.b") == "a.b"
    with pytest.raises(NotInTrash):
        store.restore("a.b")
    with pytest.raises(SessionNotFound):
        store.trash("never")
    assert [e.id for e in store.list_trash()] == ["A.B"]
    assert store.empty_trash(older_than_days=1) == []
    assert [e.id for e in store.empty_trash()] == ["A.B"] and store.list_trash() == []


def test_trashing_an_id_twice_keeps_both_copies_and_restores_the_newest(store: SessionStore) -> None:
    store.create("twice", title="first")
    store.trash("twice")
    store.create("twice", title="second")
    store.trash("twice")
    assert [e.id for e in store.list_trash()] == ["twice", "twice"]
    assert store.restore("twice").title == "second"
    with pytest.raises(SessionExists):
        store.restore("twice")
    assert len(store.list_trash()) == 1


def test_delete_is_trash(store: SessionStore) -> None:
    store.create("old-api")
    path = store.delete("old-api")
    assert path.exists() and path.parent == store.layout.trash
    assert utc_now() - store.list_trash()[0].trashed_at < timedelta(minutes=1)


def test_a_store_made_before_the_view_gets_it_from_the_servers_upkeep_not_on_open(tmp_path: Path) -> None:
    import shutil

    from store.tidy import tidy

    old = SessionStore(tmp_path / "root")
    old.create("day1", title="from 0.2")
    old.create("Other")
    shutil.rmtree(casefold.folder(old.layout))  # as a 0.2 store has it: no by-casefold/
    (old.layout.sessions / "not an id!.json").write_text("{}")  # ignored, not linked
    store = SessionStore(tmp_path / "root")
    assert not casefold.folder(store.layout).exists()  # opening a store never walks it (100,000 sessions)
    tidy(store)  # what a server runs in the background at start
    assert sorted(os.listdir(casefold.folder(store.layout))) == ["day1", "other"]
    with pytest.raises(SessionIdClash, match="'day1'"):
        store.create("DAY1")
    # Removed while in use: the next create rebuilds it from the names before claiming.
    shutil.rmtree(casefold.folder(store.layout))
    with pytest.raises(SessionIdClash, match="'Other'"):
        store.create("other")


def test_the_merge_keeps_a_tag_removed_on_one_side_removed() -> None:
    from store.merge import merge_sessions
    from store.schema import Session

    base = Session(id="s", tags=["draft", "api"])
    ours = base.model_copy(update={"tags": ["api", "final"]})  # -draft +final
    theirs = base.model_copy(update={"tags": ["draft", "api", "urgent"]})  # +urgent
    merged, _ = merge_sessions(base, ours, theirs)
    assert merged.tags == ["api", "final", "urgent"]
    merged, _ = merge_sessions(None, ours, theirs)  # no common ancestor: nothing was removed
    assert merged.tags == ["api", "final", "draft", "urgent"]
