"""The three-way merge of session files (``store/merge.py``, ``sessions.py merge-driver``).

Example tests of each rule, the driver's exit codes on real files, the merged conversation
sent to every wire format's loopback fake, and hypothesis properties: no message is lost,
the merge is idempotent, and the message set does not depend on which side is "ours".
"""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import ChatRequest, resolve
from adapters.context_windows import estimate_tokens
from chat.prompt import FAILED_MARK, build_prompt
from scripts import sessions as sessions_cli
from store.codec import decode_session, encode_session
from store.merge import THEIRS_KEY, UnmergeableSession, merge_files, merge_sessions
from store.schema import Message, ModelSwitch, Session, Summary
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI, fake_anthropic, fake_gemini, fake_openai  # noqa: F401

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def user(mid: str, minutes: float, text: str | None = None) -> Message:
    return Message(id=mid, role="user", content=text or f"question {mid}", created_at=at(minutes))


def reply(mid: str, minutes: float, model: str = "gpt-4o", text: str | None = None) -> Message:
    return Message(id=mid, role="assistant", content=text or f"answer {mid}", model=model, provider="openai", created_at=at(minutes))


def session(messages: list[Message], **fields: object) -> Session:
    data: dict[str, object] = {"id": "shared", "created_at": T0, "updated_at": at(100), "messages": messages}
    data.update(fields)
    built = Session(**data)  # type: ignore[arg-type]
    for message in messages:
        built.note_model(message.model)
    if built.current_model is None:
        built.current_model = next((m.model for m in reversed(messages) if m.model), None)
    return built


BASE = [user("u1", 0), reply("a1", 1)]


def ids(value: Session) -> list[str]:
    return [message.id for message in value.messages]


# ------------------------------------------------------------------------------ rules


def test_two_machines_continuing_one_session_interleave_by_time_each_turn_kept_whole() -> None:
    base = session(BASE)
    ours = session([*BASE, user("u2", 10), reply("a2", 11, model="claude-sonnet-4-5")])
    theirs = session([*BASE, user("u3", 5), reply("a3", 6, model="gemini-2.5-pro")])
    merged, report = merge_sessions(base, ours, theirs)
    assert ids(merged) == ["u1", "a1", "u3", "a3", "u2", "a2"]
    assert merged.current_model == "claude-sonnet-4-5"  # the last message's model
    assert merged.models_used == ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro"]
    assert (report.messages, report.from_ours, report.from_theirs, report.conflicts) == (6, 2, 2, 0)
    assert "2 added only on our side, 2 only on theirs" in report.describe()


def test_a_turn_is_not_split_even_when_the_other_side_wrote_in_between() -> None:
    ours = session([*BASE, user("u2", 10), reply("a2", 30)])
    theirs = session([*BASE, user("u3", 20), reply("a3", 21)])
    assert ids(merge_sessions(session(BASE), ours, theirs)[0]) == ["u1", "a1", "u2", "a2", "u3", "a3"]


def test_equal_times_are_ordered_by_id_and_a_system_message_stays_with_its_user_turn() -> None:
    system = Message(id="s9", role="system", content="be terse", created_at=at(5))
    ours = session([*BASE, system, user("zz", 5), reply("a2", 6)])
    theirs = session([*BASE, user("bb", 5), reply("a3", 6)])
    assert ids(merge_sessions(None, ours, theirs)[0]) == ["u1", "a1", "bb", "a3", "s9", "zz", "a2"]


def test_a_message_changed_on_one_side_takes_that_change() -> None:
    edited = reply("a1", 1, text="answer a1, corrected")
    merged, report = merge_sessions(session(BASE), session([BASE[0], edited]), session([*BASE, user("u3", 5)]))
    assert merged.messages[1].content == "answer a1, corrected" and report.conflicts == 0
    merged, _ = merge_sessions(session(BASE), session([*BASE, user("u3", 5)]), session([BASE[0], edited]))
    assert merged.messages[1].content == "answer a1, corrected"


def test_a_message_changed_on_both_sides_keeps_ours_and_records_theirs() -> None:
    ours = session([BASE[0], reply("a1", 1, text="ours")])
    theirs_version = reply("a1", 1, text="theirs")
    merged, report = merge_sessions(session(BASE), ours, session([BASE[0], theirs_version]))
    assert merged.messages[1].content == "ours"
    assert merged.messages[1].extra[THEIRS_KEY] == theirs_version.model_dump(mode="json")
    assert report.conflicts == 1 and f"extra.{THEIRS_KEY}" in report.describe()


def test_a_message_deleted_on_one_side_is_kept() -> None:
    merged, _ = merge_sessions(session(BASE), session([BASE[1]]), session(BASE))
    assert sorted(ids(merged)) == ["a1", "u1"]


def test_title_rules() -> None:
    def title(base: str | None, ours: str | None, theirs: str | None, ours_later: bool = False) -> str | None:
        merged, _ = merge_sessions(
            session(BASE, title=base),
            session(BASE, title=ours, updated_at=at(200 if ours_later else 100)),
            session(BASE, title=theirs, updated_at=at(150)),
        )
        return merged.title

    assert title("old", "old", "new") == "new"
    assert title("old", "mine", "old") == "mine"
    assert title("old", "mine", "theirs") == "theirs"  # theirs was updated later
    assert title("old", "mine", "theirs", ours_later=True) == "mine"
    assert title(None, "same", "same") == "same"


def test_tags_switches_summaries_and_dicts_are_unions() -> None:
    switch_ours = ModelSwitch(at_message=3, from_model="gpt-4o", to_model="claude-sonnet-4-5", at=at(10))
    switch_theirs = ModelSwitch(at_message=3, from_model="gpt-4o", to_model="gemini-2.5-pro", at=at(5))
    shared_switch = ModelSwitch(at_message=1, from_model="a", to_model="gpt-4o", at=at(0))
    summary = Summary(covers=(0, 1), text="they greeted", model="gpt-4o", created_at=at(2))
    base = session(BASE, tags=["x"], model_switches=[shared_switch], summaries=[summary], extensions={"openai": {"a": 1}})
    ours = session(
        [*BASE, user("u2", 10), reply("a2", 11, model="claude-sonnet-4-5")],
        tags=["x", "mine"], model_switches=[shared_switch, switch_ours], summaries=[summary],
        extensions={"openai": {"a": 1, "b": 2}}, tool_state={"pending": []}, extra={"k": "ours"},
    )
    theirs = session(
        [*BASE, user("u3", 5), reply("a3", 6, model="gemini-2.5-pro")],
        tags=["theirs", "x"], model_switches=[shared_switch, switch_theirs], summaries=[summary],
        extensions={"openai": {"a": 1, "c": 3}, "gemini": {"z": 0}}, extra={"k": "theirs", "t": 1},
    )
    merged, _ = merge_sessions(base, ours, theirs)
    assert merged.tags == ["x", "mine", "theirs"]
    # Each switch now points at the merged position of the message it came before.
    assert [(s.to_model, s.at_message) for s in merged.model_switches] == [
        ("gpt-4o", 1), ("gemini-2.5-pro", 3), ("claude-sonnet-4-5", 5)
    ]
    assert merged.summaries == [summary]
    assert merged.extensions == {"openai": {"a": 1, "b": 2, "c": 3}, "gemini": {"z": 0}}
    assert merged.tool_state == {"pending": []}
    assert merged.extra == {"k": "ours", "t": 1}


def test_a_summary_written_after_the_fork_stops_before_the_other_sides_turns() -> None:
    ours_messages = [*BASE, user("u2", 10), reply("a2", 11)]
    late = Summary(covers=(0, 3), text="four messages", model="gpt-4o", created_at=at(12))
    ours = session(ours_messages, summaries=[late])
    theirs = session([*BASE, user("u3", 5), reply("a3", 6)])
    merged, _ = merge_sessions(session(BASE), ours, theirs)
    assert ids(merged) == ["u1", "a1", "u3", "a3", "u2", "a2"]
    # The summary may not cover u3/a3 (it never saw them): it ends at a1, so they stay in the prompt.
    assert merged.summaries[0].covers == (0, 1)


def test_a_switch_after_a_sides_last_message_stays_after_it() -> None:
    # Recorded with no message after it yet (the next turn had not been written).
    pending = ModelSwitch(at_message=4, from_model="gpt-4o", to_model="claude-sonnet-4-5", at=at(20))
    ours = session([*BASE, user("u2", 30), reply("a2", 31)], model_switches=[pending])
    theirs = session([*BASE, user("u3", 5), reply("a3", 6)])
    merged, _ = merge_sessions(session(BASE), ours, theirs)
    assert ids(merged) == ["u1", "a1", "u3", "a3", "u2", "a2"]
    assert merged.model_switches[0].at_message == 6
    empty_side = session([], model_switches=[ModelSwitch(at_message=0, from_model="a", to_model="b", at=at(0))])
    merged, _ = merge_sessions(None, empty_side, session([]))
    assert merged.model_switches[0].at_message == 0 and merged.messages == []


def test_different_sessions_are_not_merged() -> None:
    with pytest.raises(UnmergeableSession, match="different sessions"):
        merge_sessions(None, session(BASE), session(BASE, id="other"))


# ------------------------------------------------------------------------------ the driver on files


def _write(path: Path, value: Session) -> Path:
    path.write_bytes(encode_session(value))
    return path


def _driver(*paths: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = sessions_cli.main(["merge-driver", *(str(p) for p in paths)], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_the_driver_writes_ours_and_exits_0(tmp_path: Path) -> None:
    base = _write(tmp_path / "base", session(BASE))
    ours = _write(tmp_path / "ours", session([*BASE, user("u2", 10)]))
    theirs = _write(tmp_path / "theirs", session([*BASE, user("u3", 5)]))
    code, out, _ = _driver(base, ours, theirs)
    assert code == 0 and "llm-session merge of shared: 4 message(s)" in out
    assert ids(decode_session(ours.read_bytes(), ours)) == ["u1", "a1", "u3", "u2"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_an_empty_base_means_both_sides_added_the_file(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.write_bytes(b"")
    ours = _write(tmp_path / "ours", session([user("o1", 1)]))
    theirs = _write(tmp_path / "theirs", session([user("t1", 2)]))
    assert _driver(base, ours, theirs)[0] == 0
    assert ids(decode_session(ours.read_bytes(), ours)) == ["o1", "t1"]


@pytest.mark.parametrize("broken", ["base", "ours", "theirs"])
def test_a_side_that_does_not_parse_exits_1_and_writes_nothing(tmp_path: Path, broken: str) -> None:
    paths = {
        "base": _write(tmp_path / "base", session(BASE)),
        "ours": _write(tmp_path / "ours", session([*BASE, user("u2", 10)])),
        "theirs": _write(tmp_path / "theirs", session([*BASE, user("u3", 5)])),
    }
    paths[broken].write_bytes(b'{"id": "shared", "messages": [<<<<<<< HEAD')
    before = paths["ours"].read_bytes()
    code, _, err = _driver(paths["base"], paths["ours"], paths["theirs"])
    assert code == 1
    assert "cannot merge" in err and "invalid JSON" in err and "left as it was" in err
    assert paths["ours"].read_bytes() == before


def test_a_missing_side_exits_1(tmp_path: Path) -> None:
    ours = _write(tmp_path / "ours", session(BASE))
    code, _, err = _driver(tmp_path / "nope", ours, ours)
    assert code == 1 and "cannot be read" in err


def test_merge_files_refuses_a_newer_schema(tmp_path: Path) -> None:
    base = _write(tmp_path / "base", session(BASE))
    ours = _write(tmp_path / "ours", session(BASE))
    theirs = tmp_path / "theirs"
    theirs.write_text('{"schema_version": 99, "id": "shared"}')
    with pytest.raises(UnmergeableSession, match="their version"):
        merge_files(base, ours, theirs)


# ------------------------------------------------------------------------------ every wire format


@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro"])
def test_the_merged_conversation_is_a_valid_prompt_for_every_wire_format(
    model: str, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, fake_gemini: FakeGemini
) -> None:
    # Ours: a question whose call failed, then one never answered; theirs: a full turn in between.
    failed = Message(id="uf", role="user", content="lost call", created_at=at(3), extra={FAILED_MARK: True})
    ours = session([*BASE, failed, user("u2", 10, "unanswered question")])
    theirs = session([*BASE, user("u3", 5), reply("a3", 6)])
    merged, _ = merge_sessions(session(BASE), ours, theirs)
    assert ids(merged) == ["u1", "a1", "uf", "u3", "a3", "u2"]
    prompt = build_prompt(merged, [Message(role="user", content="next question")], estimate=estimate_tokens)
    roles = [message.role for message in prompt.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user", "user"]  # two user turns in a row
    request = ChatRequest(model=model, messages=prompt.messages, system=prompt.system)
    answer = asyncio.run(resolve(model).complete(request))
    assert "next question" in answer.text
    fake = {"gpt-4o": fake_openai, "claude-sonnet-4-5": fake_anthropic, "gemini-2.5-pro": fake_gemini}[model]
    assert fake.requests[-1].rejected is None


# ------------------------------------------------------------------------------ properties

MODELS = st.sampled_from(["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro"])


@st.composite
def added_messages(draw: st.DrawFn, side: str) -> list[Message]:
    count = draw(st.integers(0, 6))
    messages = []
    for position in range(count):
        minutes = draw(st.integers(2, 12))  # few distinct times: ties are common
        role = draw(st.sampled_from(["user", "assistant", "system"]))
        shared = draw(st.booleans()) and draw(st.booleans())  # the same new message on both sides
        mid = f"new{position}" if shared else f"{side}{position}"
        if role == "assistant":
            messages.append(reply(mid, minutes, model=draw(MODELS)))
        else:
            messages.append(Message(id=mid, role=role, content=f"text {mid}", created_at=at(minutes)))
    return messages


@st.composite
def three_versions(draw: st.DrawFn) -> tuple[Session, Session, Session]:
    base_messages = [user("u1", 0), reply("a1", 1), user("u2", 1)][: draw(st.integers(0, 3))]

    def side(name: str) -> Session:
        kept = [
            message.model_copy(update={"content": f"{message.content} edited by {name}"})
            if draw(st.booleans()) and draw(st.booleans()) else message
            for message in base_messages
        ]
        return session(
            kept + draw(added_messages(name)),
            title=draw(st.sampled_from([None, "base", name])),
            tags=draw(st.lists(st.sampled_from(["a", "b", name]), unique=True)),
            updated_at=at(draw(st.integers(50, 60))),
        )

    return session(base_messages, title="base"), side("o"), side("t")


PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _messages_without_merge_notes(value: Session) -> list[dict[str, object]]:
    dumped = []
    for message in value.messages:
        data = message.model_dump(mode="json")
        data["extra"].pop(THEIRS_KEY, None)
        dumped.append(data)
    return dumped


@PROPERTIES
@given(three_versions())
def test_no_message_is_lost_and_none_is_doubled(versions: tuple[Session, Session, Session]) -> None:
    base, ours, theirs = versions
    merged, _ = merge_sessions(base, ours, theirs)
    merged_ids = ids(merged)
    assert len(merged_ids) == len(set(merged_ids))
    assert set(merged_ids) == set(ids(ours)) | set(ids(theirs))
    # Every message is one side's version, the other's recorded when both changed it.
    versions_by_id: dict[str, list[dict[str, object]]] = {}
    for side in (ours, theirs):
        for message in side.messages:
            versions_by_id.setdefault(message.id, []).append(message.model_dump(mode="json"))
    for data in _messages_without_merge_notes(merged):
        assert data in versions_by_id[str(data["id"])]
    # Our side's messages keep their order.
    assert [mid for mid in merged_ids if mid in set(ids(ours))] == ids(ours)
    # The result is a valid session file.
    assert decode_session(encode_session(merged), Path("merged.json")) == merged


@PROPERTIES
@given(three_versions())
def test_the_merge_is_idempotent(versions: tuple[Session, Session, Session]) -> None:
    base, ours, theirs = versions
    merged, _ = merge_sessions(base, ours, theirs)
    again, report = merge_sessions(base, merged, theirs)
    assert again.model_dump(mode="json") == merged.model_dump(mode="json")
    assert report.from_theirs == 0
    same, _ = merge_sessions(base, merged, merged)
    assert same.model_dump(mode="json") == merged.model_dump(mode="json")


@PROPERTIES
@given(three_versions())
def test_the_message_set_does_not_depend_on_which_side_is_ours(versions: tuple[Session, Session, Session]) -> None:
    base, ours, theirs = versions
    one, _ = merge_sessions(base, ours, theirs)
    other, _ = merge_sessions(base, theirs, ours)
    assert sorted(ids(one)) == sorted(ids(other))
    assert one.tags == list(dict.fromkeys([*ours.tags, *theirs.tags]))
    assert set(one.tags) == set(other.tags)
    assert one.current_model == next((m.model for m in reversed(one.messages) if m.model), ours.current_model or theirs.current_model)
