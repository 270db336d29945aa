"""Three-way merge of one session file: what git's ``llm-session`` merge driver runs.

Two machines that continued the same session each appended turns to one JSON file; a line
merge of that file conflicts (or worse, succeeds into invalid JSON). ``merge_sessions`` merges
the documents instead, losing nothing:

- messages are the union by id: the prefix both sides share, in its order, then the turns
  (a user or system message and the replies that follow it) added on either side, interleaved
  in ``(created_at, id)`` order of their first message without reordering either side's own;
- a message both sides changed differently keeps ours and carries theirs, whole, under
  ``extra["merge_theirs"]``; a message only one side changed takes that side's version;
- model switches and summaries are unions (their positions are moved to where their messages
  are in the merged list); tags are merged three-way: a tag added on either side is kept, a
  tag removed on one side (present in the common ancestor) stays removed;
- the title changed on one side wins; changed on both, the side updated later wins (ours on
  a tie); ``current_model`` is the model of the last message that names one (when none does,
  ours, else theirs);
- ``tool_state``, ``extensions`` and ``extra`` are merged key by key the same way (a value
  only one side changed wins, ours when both did).

Consecutive same-role turns that interleaving can produce (two user messages when one side's
call failed) are valid prompts: the OpenAI format accepts them and the Anthropic and Gemini
adapters merge consecutive same-role messages into one turn (see ``adapters/_convert.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from store.atomic import atomic_write_bytes
from store.codec import UnreadableSessionFile, decode_session, encode_session
from store.errors import UnsupportedSchemaVersion
from store.schema import Message, ModelSwitch, Session, Summary

THEIRS_KEY = "merge_theirs"
T = TypeVar("T", ModelSwitch, Summary)
_MISSING = object()


class UnmergeableSession(ValueError):
    """A side of the merge is not a session document this program can read (nothing is written)."""


@dataclass(frozen=True)
class MergeReport:
    """What :func:`merge_files` did (for the driver's one line on stderr)."""

    session_id: str
    messages: int
    from_ours: int
    from_theirs: int
    conflicts: int

    def describe(self) -> str:
        text = (
            f"llm-session merge of {self.session_id}: {self.messages} message(s), {self.from_ours} added only "
            f"on our side, {self.from_theirs} only on theirs"
        )
        if self.conflicts:
            text += f"; {self.conflicts} changed on both sides kept ours, theirs saved under extra.{THEIRS_KEY}"
        return text


def _dump(item: Any) -> Any:
    return item.model_dump(mode="json") if hasattr(item, "model_dump") else item


def _merge_values(base: Any, ours: Any, theirs: Any) -> Any:
    """Three-way merge of JSON-like values: one side's change wins, ours when both changed.

    Dicts are merged key by key; ``_MISSING`` stands for an absent key (a deletion).
    """
    if ours == theirs:
        return ours
    if ours == base:
        return theirs
    if theirs == base:
        return ours
    if isinstance(ours, dict) and isinstance(theirs, dict):
        base_dict = base if isinstance(base, dict) else {}
        merged: dict[str, Any] = {}
        for key in [*ours, *(key for key in theirs if key not in ours)]:
            value = _merge_values(base_dict.get(key, _MISSING), ours.get(key, _MISSING), theirs.get(key, _MISSING))
            if value is not _MISSING:
                merged[key] = value
        return merged
    return ours


def _merge_message(base: Message | None, ours: Message, theirs: Message) -> tuple[Message, bool]:
    """The merged version of one message present on both sides, and whether it was a conflict."""
    ours_data, theirs_data = _dump(ours), _dump(theirs)
    if ours_data == theirs_data:
        return ours, False
    base_data = _dump(base) if base is not None else _MISSING
    if ours_data == base_data:
        return theirs, False
    if theirs_data == base_data:
        return ours, False
    if ours.extra.get(THEIRS_KEY) == theirs_data:
        return ours, True
    return ours.model_copy(update={"extra": {**ours.extra, THEIRS_KEY: theirs_data}}), True


def _turns(messages: Sequence[Message]) -> list[list[Message]]:
    """Split messages into turns: a user (or system, then user) message and what follows it."""
    turns: list[list[Message]] = []
    for message in messages:
        starts = message.role in ("user", "system") and not (turns and turns[-1][-1].role == "system")
        if turns and not starts:
            turns[-1].append(message)
        else:
            turns.append([message])
    return turns


def _interleave(ours: list[list[Message]], theirs: list[list[Message]]) -> list[Message]:
    """Both sides' turns in (created_at, id) order of their first message, each side's order kept."""
    merged: list[Message] = []
    i = j = 0
    while i < len(ours) or j < len(theirs):
        take_ours = j >= len(theirs) or (
            i < len(ours) and (ours[i][0].created_at, ours[i][0].id) <= (theirs[j][0].created_at, theirs[j][0].id)
        )
        if take_ours:
            merged.extend(ours[i])
            i += 1
        else:
            merged.extend(theirs[j])
            j += 1
    return merged


@dataclass
class _MergedMessages:
    messages: list[Message]
    from_ours: int
    from_theirs: int
    conflicts: int


def merge_messages(base: Sequence[Message], ours: Sequence[Message], theirs: Sequence[Message]) -> _MergedMessages:
    """The union of both sides' messages by id, ordered as the module docstring says."""
    base_by_id = {message.id: message for message in base}
    ours_by_id = {message.id: message for message in ours}
    theirs_by_id = {message.id: message for message in theirs}
    conflicts = 0

    def resolved(message: Message) -> Message:
        nonlocal conflicts
        other = theirs_by_id.get(message.id)
        if other is None:
            return message
        result, conflict = _merge_message(base_by_id.get(message.id), message, other)
        conflicts += conflict
        return result

    shared = 0
    while shared < min(len(ours), len(theirs)) and ours[shared].id == theirs[shared].id:
        shared += 1
    placed = {message.id for message in ours}
    theirs_only = [message for message in theirs[shared:] if message.id not in placed]
    ours_rest = [resolved(message) for message in ours[shared:]]
    messages = [resolved(message) for message in ours[:shared]]
    messages += _interleave(_turns(ours_rest), _turns(theirs_only))
    from_ours = sum(1 for message in ours_rest if message.id not in theirs_by_id)
    return _MergedMessages(messages, from_ours, len(theirs_only), conflicts)


class _Positions:
    """Moves a side's message positions to the merged list (every side's id is in it)."""

    def __init__(self, side: Sequence[Message], merged: Sequence[Message]) -> None:
        self.side_ids = [message.id for message in side]
        self.merged_ids = [message.id for message in merged]
        self.index = {message_id: position for position, message_id in enumerate(self.merged_ids)}

    def at(self, position: int) -> int:
        """Where the side's message at ``position`` is; past its end: after its last message."""
        if 0 <= position < len(self.side_ids):
            return self.index[self.side_ids[position]]
        if not self.side_ids:
            return 0
        return self.index[self.side_ids[-1]] + 1

    def covered_prefix_end(self, first: int, last: int) -> int:
        """The last merged position of the run from 0 made only of the side's messages ``first..last``
        (and those before ``first``); the summary then still covers exactly what it summarised."""
        covered = set(self.side_ids[: last + 1])
        end = -1
        for message_id in self.merged_ids:
            if message_id not in covered:
                break
            end += 1
        start = self.at(first)
        return end if end >= start else self.at(last)


def _moved_switch(switch: ModelSwitch, positions: _Positions) -> ModelSwitch:
    return switch.model_copy(update={"at_message": positions.at(switch.at_message)})


def _moved_summary(summary: Summary, positions: _Positions) -> Summary:
    first, last = summary.covers
    start = positions.at(first)
    return summary.model_copy(update={"covers": (start, positions.covered_prefix_end(first, last))})


def _union(ours: Sequence[T], theirs: Sequence[T], key: Callable[[T], Any]) -> list[T]:
    seen = {key(item) for item in ours}
    return [*ours, *(item for item in theirs if key(item) not in seen)]


def _switch_key(switch: ModelSwitch) -> Any:
    return (switch.from_model, switch.to_model, switch.at, switch.warning)


def _summary_key(summary: Summary) -> Any:
    return (summary.text, summary.model, summary.created_at)


def _merge_title(base: Session | None, ours: Session, theirs: Session) -> str | None:
    base_title = base.title if base is not None else None
    if ours.title == theirs.title or theirs.title == base_title:
        return ours.title
    if ours.title == base_title:
        return theirs.title
    return theirs.title if theirs.updated_at > ours.updated_at else ours.title


def _merge_tags(base: Session | None, ours: Session, theirs: Session) -> list[str]:
    """Ours in order, then theirs' additions; a base tag either side removed stays removed."""
    base_tags = set(base.tags) if base is not None else set()
    removed = {tag for tag in base_tags if tag not in ours.tags or tag not in theirs.tags}
    return [tag for tag in dict.fromkeys([*ours.tags, *theirs.tags]) if tag not in removed]


def merge_sessions(base: Session | None, ours: Session, theirs: Session) -> tuple[Session, MergeReport]:
    """The three-way merge of one session (``base`` None: both sides added it independently)."""
    if ours.id != theirs.id:
        raise UnmergeableSession(f"the two sides are different sessions ({ours.id!r} and {theirs.id!r})")
    merged_messages = merge_messages(base.messages if base else [], ours.messages, theirs.messages)
    messages = merged_messages.messages
    ours_positions, theirs_positions = _Positions(ours.messages, messages), _Positions(theirs.messages, messages)
    switches = _union(
        [_moved_switch(item, ours_positions) for item in ours.model_switches],
        [_moved_switch(item, theirs_positions) for item in theirs.model_switches],
        _switch_key,
    )
    summaries = _union(
        [_moved_summary(item, ours_positions) for item in ours.summaries],
        [_moved_summary(item, theirs_positions) for item in theirs.summaries],
        _summary_key,
    )
    last_model = next((message.model for message in reversed(messages) if message.model), None)
    base_data = _dump(base) if base is not None else {}
    # From ours, so a field this module does not know yet keeps our value rather than vanishing.
    merged = ours.model_copy(
        update={
            "title": _merge_title(base, ours, theirs),
            "created_at": min(ours.created_at, theirs.created_at),
            "updated_at": max(ours.updated_at, theirs.updated_at),
            "tags": _merge_tags(base, ours, theirs),
            "current_model": last_model or ours.current_model or theirs.current_model,
            "models_used": list(dict.fromkeys([*ours.models_used, *theirs.models_used])),
            "messages": messages,
            "model_switches": sorted(switches, key=lambda item: (item.at_message, item.at)),
            "tool_state": _merge_values(base_data.get("tool_state", {}), ours.tool_state, theirs.tool_state),
            "summaries": sorted(summaries, key=lambda item: (item.covers[1], item.created_at)),
            "extensions": _merge_values(base_data.get("extensions", {}), ours.extensions, theirs.extensions),
            "extra": _merge_values(base_data.get("extra", {}), ours.extra, theirs.extra),
        }
    )
    for message in messages:
        merged.note_model(message.model)
    merged.note_model(merged.current_model)
    report = MergeReport(
        merged.id, len(messages), merged_messages.from_ours, merged_messages.from_theirs, merged_messages.conflicts
    )
    return merged, report


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UnmergeableSession(f"{name} ({path}) cannot be read: {exc.strerror or exc}") from exc


def _decode_side(data: bytes, path: Path, name: str) -> Session:
    try:
        return decode_session(data, path)
    except UnreadableSessionFile as exc:
        raise UnmergeableSession(f"{name} ({path}) is not a readable session file: {exc.reason}") from exc
    except UnsupportedSchemaVersion as exc:
        raise UnmergeableSession(f"{name}: {exc}") from exc


def merge_files(base: Path, ours: Path, theirs: Path) -> MergeReport:
    """Merge the three versions git hands a driver and write the result over ``ours`` atomically.

    Raises ``UnmergeableSession`` (and writes nothing) when a side does not parse; an empty
    ``base`` means there is no common ancestor.
    """
    base_data = _read_bytes(base, "the common ancestor (base)")
    # git passes an empty base when both sides added the file.
    base_session = _decode_side(base_data, base, "the common ancestor (base)") if base_data.strip() else None
    ours_session = _decode_side(_read_bytes(ours, "our version"), ours, "our version")
    theirs_session = _decode_side(_read_bytes(theirs, "their version"), theirs, "their version")
    merged, report = merge_sessions(base_session, ours_session, theirs_session)
    atomic_write_bytes(ours, encode_session(merged))
    return report
