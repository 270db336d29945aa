"""The by-model/ and by-date/ symlink views, delete to trash/, and list filters and ordering."""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from store import Message, Session, SessionNotFound, SessionStore, switch_model
from store.views import model_folder_name, rebuild_all_views, update_views

UTC = timezone.utc


def _links(folder: Path) -> dict[str, str]:
    """Every symlink under ``folder`` as relative path -> link target."""
    return {
        str(path.relative_to(folder)): os.readlink(path)
        for path in sorted(folder.rglob("*"))
        if path.is_symlink()
    }


def _view_state(store: SessionStore) -> dict[str, str]:
    return {**{f"by-model/{k}": v for k, v in _links(store.layout.by_model).items()},
            **{f"by-date/{k}": v for k, v in _links(store.layout.by_date).items()}}


def test_views_are_created_on_write_and_resolve_to_the_session(store: SessionStore) -> None:
    session = store.create("v1", model="kimi-k2")
    day = f"{session.created_at:%Y-%m-%d}"
    assert _view_state(store) == {
        "by-model/kimi-k2/v1.json": "../../sessions/v1.json",
        f"by-date/{day}/v1.json": "../../sessions/v1.json",
    }
    link = store.layout.by_model / "kimi-k2" / "v1.json"
    assert link.resolve() == store.path_for("v1").resolve()
    assert Session.model_validate_json(link.read_bytes()).id == "v1"


def test_views_follow_a_model_switch_and_messages_from_new_models(store: SessionStore) -> None:
    store.create("sw", model="kimi-k2")
    switch = store.record_model_switch("sw", "claude-sonnet-4", warning="context re-tokenised")
    assert switch is not None
    assert (switch.from_model, switch.to_model, switch.at_message) == ("kimi-k2", "claude-sonnet-4", 0)
    assert store.record_model_switch("sw", "claude-sonnet-4") is None  # same model: no switch
    store.append_message("sw", Message(role="assistant", content="hi", model="openrouter/meta/llama-3"))
    loaded = store.load("sw")
    assert loaded.models_used == ["kimi-k2", "claude-sonnet-4", "openrouter/meta/llama-3"]
    assert loaded.current_model == "claude-sonnet-4"
    assert len(loaded.model_switches) == 1
    folders = sorted(p.name for p in store.layout.by_model.iterdir())
    assert folders == ["claude-sonnet-4", "kimi-k2", "openrouter__meta__llama-3"]
    for folder in folders:
        assert (store.layout.by_model / folder / "sw.json").resolve() == store.path_for("sw").resolve()
    assert [s.id for s in store.list(model="kimi-k2").sessions] == ["sw"]
    assert [s.id for s in store.list(model="claude-sonnet-4").sessions] == ["sw"]


def test_first_model_set_by_switch_is_not_a_switch() -> None:
    session = Session(id="x")
    assert switch_model(session, "gpt-4o") is None
    assert session.current_model == "gpt-4o" and session.models_used == ["gpt-4o"]


def test_delete_moves_to_trash_and_removes_views(store: SessionStore) -> None:
    store.create("gone", model="gpt-4o")
    store.append_message("gone", Message(role="user", content="keep me"))
    content = store.path_for("gone").read_bytes()
    trashed = store.delete("gone")
    assert trashed.parent == store.layout.trash
    assert trashed.name.startswith("gone.") and trashed.suffix == ".json"
    assert trashed.read_bytes() == content  # never unlinked
    assert not store.exists("gone")
    assert _view_state(store) == {}
    with pytest.raises(SessionNotFound):
        store.load("gone")
    with pytest.raises(SessionNotFound):
        store.delete("gone")
    # The id can be reused; a second delete keeps both trashed copies.
    store.create("gone")
    second = store.delete("gone")
    assert second != trashed and trashed.exists() and second.exists()
    assert store.list().sessions == []


def test_rebuild_views_after_rm_rf(store: SessionStore) -> None:
    store.create("a", model="kimi-k2")
    store.create("b", model="openrouter/anthropic/claude-3")
    store.record_model_switch("b", "gpt-4o")
    before = _view_state(store)
    assert len(before) == 5
    shutil.rmtree(store.layout.by_model)
    shutil.rmtree(store.layout.by_date)

    listing = store.rebuild_views()

    assert sorted(s.id for s in listing.sessions) == ["a", "b"]
    assert _view_state(store) == before
    assert "openrouter__anthropic__claude-3" in {p.name for p in store.layout.by_model.iterdir()}


def test_rebuild_views_drops_stale_links_and_junk_and_reports_corrupt_files(store: SessionStore) -> None:
    store.create("a", model="m1")
    stale = store.layout.by_model / "old-model" / "zzz.json"
    stale.parent.mkdir()
    os.symlink("../../sessions/zzz.json", stale)
    (store.layout.by_date / "junk.txt").write_text("not a view")
    (store.layout.sessions / "bad.json").write_text("{")
    listing = store.rebuild_views()
    assert [q.original_path for q in listing.quarantined] == [str(store.layout.sessions / "bad.json")]
    assert sorted(_view_state(store)) == sorted(
        ["by-model/m1/a.json", f"by-date/{store.load('a').created_at:%Y-%m-%d}/a.json"]
    )
    assert not (store.layout.by_date / "junk.txt").exists()


def test_rebuild_views_replaces_a_symlinked_view_folder(store: SessionStore, tmp_path: Path) -> None:
    store.create("a", model="m1")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("must survive")
    shutil.rmtree(store.layout.by_model)
    os.symlink(elsewhere, store.layout.by_model)
    store.rebuild_views()
    assert not store.layout.by_model.is_symlink()
    assert (elsewhere / "precious.txt").read_text() == "must survive"
    assert (store.layout.by_model / "m1" / "a.json").is_symlink()


def test_rebuild_views_tolerates_a_file_deleted_meanwhile(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.create("a")
    store.create("b")
    real_iter = store.iter_session_files

    def with_ghost() -> object:
        return iter([*real_iter(), store.layout.sessions / "ghost.json"])

    monkeypatch.setattr(store, "iter_session_files", with_ghost)
    assert sorted(s.id for s in store.rebuild_views().sessions) == ["a", "b"]
    assert sorted(s.id for s in store.list().sessions) == ["a", "b"]


def test_views_repair_wrong_links_files_and_folders_in_their_place(store: SessionStore) -> None:
    store.create("r", model="m")
    link = store.layout.by_model / "m" / "r.json"
    link.unlink()
    os.symlink("../../sessions/other.json", link)  # wrong target
    store.set_title("r", "t1")
    assert os.readlink(link) == "../../sessions/r.json"
    link.unlink()
    link.write_text("a real file")  # a file where the link belongs
    store.set_title("r", "t2")
    assert link.is_symlink()
    link.unlink()
    link.mkdir()  # a folder where the link belongs
    (link / "inner").write_text("x")
    store.set_title("r", "t3")
    assert link.is_symlink() and link.resolve() == store.path_for("r").resolve()


def test_replacing_a_session_drops_view_links_it_no_longer_has(store: SessionStore) -> None:
    old_day = datetime(2024, 1, 2, tzinfo=UTC)
    store.save_new(Session(id="s", created_at=old_day, current_model="a", models_used=["a"]))
    assert sorted(_view_state(store)) == ["by-date/2024-01-02/s.json", "by-model/a/s.json"]
    new_day = datetime(2025, 3, 4, tzinfo=UTC)
    store.save_new(Session(id="s", created_at=new_day, current_model="b", models_used=["b"]), replace=True)
    assert sorted(_view_state(store)) == ["by-date/2025-03-04/s.json", "by-model/b/s.json"]

    def rewrite(session: Session) -> None:
        session.created_at = old_day
        session.models_used = ["c"]
        session.current_model = "c"

    store.update("s", rewrite)
    assert sorted(_view_state(store)) == ["by-date/2024-01-02/s.json", "by-model/c/s.json"]


def test_replacing_an_unreadable_session_quarantines_it_first(store: SessionStore) -> None:
    (store.layout.sessions / "s.json").write_text("{oops")
    store.save_new(Session(id="s", title="fresh"), replace=True)
    assert store.load("s").title == "fresh"
    assert (store.layout.quarantine / "s.json").read_text() == "{oops"


def test_update_may_not_change_the_id(store: SessionStore) -> None:
    store.create("fixed")

    def rename(session: Session) -> None:
        session.id = "../escape"

    with pytest.raises(ValueError, match="must not change the session id"):
        store.update("fixed", rename)
    assert store.load("fixed").id == "fixed"
    assert not (store.root / "escape.json").exists()


def test_failed_change_writes_nothing(store: SessionStore) -> None:
    store.create("s", title="before")
    data = store.path_for("s").read_bytes()

    def boom(session: Session) -> None:
        session.title = "after"
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        store.update("s", boom)
    assert store.path_for("s").read_bytes() == data


def test_model_folder_names() -> None:
    assert model_folder_name("openrouter/meta/llama-3") == "openrouter__meta__llama-3"
    assert model_folder_name("ollama\\x") == "ollama__x"
    assert model_folder_name("..") == "_.._"
    assert model_folder_name(".") == "_._"
    assert model_folder_name("\0") == "__"
    long_a = model_folder_name("m" * 300 + "a")
    long_b = model_folder_name("m" * 300 + "b")
    assert long_a != long_b
    assert len(long_a.encode()) <= 200 and len(long_b.encode()) <= 200
    assert len(model_folder_name("模" * 100).encode()) <= 200


def test_a_very_long_model_name_still_gets_a_view(store: SessionStore) -> None:
    model = "custom/" + "x" * 400
    store.create("long", model=model)
    (folder,) = list(store.layout.by_model.iterdir())
    assert (folder / "long.json").resolve() == store.path_for("long").resolve()


def test_update_views_and_rebuild_are_idempotent(store: SessionStore) -> None:
    session = store.create("i", model="m")
    before = _view_state(store)
    update_views(store.layout, session)
    update_views(store.layout, session, previous=session)
    assert _view_state(store) == before
    rebuild_all_views(store.layout, [session])
    rebuild_all_views(store.layout, [session])
    assert _view_state(store) == before


# -- list ---------------------------------------------------------------------------------------


def _dated(store: SessionStore, session_id: str, created: datetime, **fields: object) -> None:
    store.save_new(Session(id=session_id, created_at=created, updated_at=created, **fields))  # type: ignore[arg-type]


def test_list_filters_and_order(store: SessionStore) -> None:
    _dated(store, "old", datetime(2024, 5, 1, 23, 30, tzinfo=UTC), tags=["work"], current_model="kimi-k2", models_used=["kimi-k2"])
    _dated(store, "mid", datetime(2025, 6, 15, 10, 0, tzinfo=UTC), tags=["home", "work"], current_model="gpt-4o", models_used=["kimi-k2", "gpt-4o"])
    _dated(store, "new", datetime(2025, 6, 16, 0, 30, tzinfo=UTC), tags=[], current_model=None, models_used=[])
    # An update (stamped now, long after 2025) makes "old" the most recently updated session.
    store.append_message("old", Message(role="user", content="bump"))

    everything = store.list()
    assert [s.id for s in everything.sessions] == ["old", "new", "mid"]  # newest update first
    summary = everything.sessions[0]
    assert (summary.message_count, summary.tags, summary.current_model) == (1, ["work"], "kimi-k2")

    assert [s.id for s in store.list(model="kimi-k2").sessions] == ["old", "mid"]
    assert [s.id for s in store.list(model="gpt-4o").sessions] == ["mid"]
    assert store.list(model="claude").sessions == []
    assert [s.id for s in store.list(tag="work").sessions] == ["old", "mid"]
    assert [s.id for s in store.list(tag="home").sessions] == ["mid"]
    assert [s.id for s in store.list(on_date=date(2025, 6, 15)).sessions] == ["mid"]
    assert [s.id for s in store.list(on_date=date(2025, 6, 16)).sessions] == ["new"]
    assert [s.id for s in store.list(since=datetime(2025, 1, 1, tzinfo=UTC)).sessions] == ["new", "mid"]
    assert [s.id for s in store.list(until=datetime(2025, 6, 15, 10, 0, tzinfo=UTC)).sessions] == ["old", "mid"]
    # Naive times are UTC; other offsets are converted (00:30 UTC on the 16th is 02:30 +02:00).
    assert [s.id for s in store.list(since=datetime(2025, 6, 16)).sessions] == ["new"]
    plus_two = timezone(timedelta(hours=2))
    assert [s.id for s in store.list(until=datetime(2025, 6, 16, 2, 29, tzinfo=plus_two)).sessions] == ["old", "mid"]
    assert [s.id for s in store.list(since=datetime(2025, 6, 16, 2, 30, tzinfo=plus_two)).sessions] == ["new"]
    # A datetime given as on_date means its UTC day.
    assert [s.id for s in store.list(on_date=datetime(2025, 6, 16, 1, 0, tzinfo=plus_two)).sessions] == ["mid"]
    assert [s.id for s in store.list(on_date=datetime(2025, 6, 16, 3, 0, tzinfo=plus_two)).sessions] == ["new"]
    combined = store.list(model="kimi-k2", tag="work", since=datetime(2025, 1, 1), until=datetime(2025, 12, 31))
    assert [s.id for s in combined.sessions] == ["mid"]


def test_list_accepts_plain_dates_as_whole_utc_days(store: SessionStore) -> None:
    _dated(store, "early", datetime(2025, 6, 15, 0, 0, tzinfo=UTC))
    _dated(store, "late", datetime(2025, 6, 15, 23, 59, 59, 999999, tzinfo=UTC))
    _dated(store, "next", datetime(2025, 6, 16, 0, 0, tzinfo=UTC))
    assert sorted(s.id for s in store.list(since=date(2025, 6, 15), until=date(2025, 6, 15)).sessions) == ["early", "late"]
    assert [s.id for s in store.list(since=date(2025, 6, 16)).sessions] == ["next"]
    assert sorted(s.id for s in store.list(until=date(2025, 6, 15)).sessions) == ["early", "late"]


def test_files_named_with_invalid_ids_are_refused_not_listed(store: SessionStore) -> None:
    store.create("ok")
    odd = store.layout.sessions / "a b.json"
    odd.write_bytes(store.path_for("ok").read_bytes().replace(b'"id": "ok"', b'"id": "a b"'))
    data = odd.read_bytes()
    for listing in (store.list(), store.rebuild_views()):
        assert [s.id for s in listing.sessions] == ["ok"]
        assert [r.path for r in listing.refused] == [str(odd)]
        assert "not a valid session id" in listing.refused[0].reason
    assert odd.read_bytes() == data
    assert not any("a b" in str(p) for p in store.layout.by_model.rglob("*"))


def test_list_ignores_temp_and_other_files(store: SessionStore) -> None:
    store.create("real")
    (store.layout.sessions / ".tmp-real.json.abc").write_text("{partial")
    (store.layout.sessions / "notes.txt").write_text("not a session")
    (store.layout.sessions / ".hidden.json").write_text("{}")
    listing = store.list()
    assert [s.id for s in listing.sessions] == ["real"]
    assert listing.quarantined == [] and listing.refused == []


def test_list_on_a_root_whose_sessions_folder_vanished(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "r")
    shutil.rmtree(store.layout.sessions)
    assert store.list().sessions == []
    assert list(store.iter_session_files()) == []
