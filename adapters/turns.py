"""Strictly alternating user/assistant turns (Anthropic ``content`` blocks, Gemini ``parts``), built in parts.

A request to these APIs is a list of turns ``{"role": role, <items_key>: items}`` in which roles
alternate, the tool results of a user turn come first and the first turn is a user turn.
:class:`TurnShape` builds them from ``(role, items)`` pieces, one piece per message, in three
steps so that a chat turn can reuse the turns of the conversation it already sent
(:class:`adapters.message_memo.SentPrefixes`): :meth:`TurnShape.merge` (one part of the
conversation), :meth:`TurnShape.join` (two parts, merged where they meet) and
:meth:`TurnShape.finish` (the whole request). None of them modifies its input: turns and item
lists given to them may be shared with earlier requests and with per-message memos.

:class:`SentHistory` is what converting a part of the conversation leaves for the next part.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from store.schema import Message

from .errors import AdapterError

Turn = dict[str, Any]


@dataclass(frozen=True)
class TurnShape:
    """How one wire format spells a turn: the key of its items, which items are tool results,
    and the item of the user turn put in front of a conversation that starts with the assistant."""

    items_key: str
    is_result: Callable[[dict[str, Any]], bool]
    placeholder: dict[str, Any]

    def merge(self, pieces: Iterable[tuple[str, list[dict[str, Any]]]]) -> list[Turn]:
        """Turns from ``(role, items)`` pieces in order: pieces without items are dropped, consecutive
        pieces of one role are merged into one turn, in every user turn the tool results come first."""
        key = self.items_key
        turns: list[Turn] = []
        for role, items in pieces:
            if not items:
                continue
            if turns and turns[-1]["role"] == role:
                turns[-1][key].extend(items)
            else:
                turns.append({"role": role, key: list(items)})
        for turn in turns:
            if turn["role"] == "user":
                turn[key] = self._results_first(turn[key])
        return turns

    def join(self, head: list[Turn], more: list[Turn]) -> list[Turn]:
        """``merge`` of the pieces of ``head`` followed by those of ``more`` (two merged parts), as a new list."""
        if not head or not more or head[-1]["role"] != more[0]["role"]:
            return head + more
        key = self.items_key
        role = more[0]["role"]
        items = head[-1][key] + more[0][key]
        # A stable partition of two partitioned lists is the partition of the whole.
        met = {"role": role, key: self._results_first(items) if role == "user" else items}
        return [*head[:-1], met, *more[1:]]

    def finish(self, turns: list[Turn]) -> list[Turn]:
        """The request's turns: a placeholder user turn in front when the first is not a user turn;
        AdapterError when there is no turn at all."""
        if not turns:
            raise AdapterError("the conversation has no message to send")
        if turns[0]["role"] != "user":
            return [{"role": "user", self.items_key: [self.placeholder]}, *turns]
        return turns

    def _results_first(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        is_result = self.is_result
        return [i for i in items if is_result(i)] + [i for i in items if not is_result(i)]


@dataclass(frozen=True)
class SentHistory:
    """What the converted messages of a conversation leave for converting the messages after them.

    ``renamed``: tool-call ids renamed by :func:`adapters._convert.normalize_from` so far;
    ``tool_names``: the tools called so far, in order of first use;
    ``tool_ids``: the tool ids sent so far (for a wire format that wants them unique in a request).
    """

    renamed: int = 0
    tool_names: tuple[str, ...] = ()
    tool_ids: frozenset[str] = frozenset()

    def after(self, normalized: list[Message], renamed: int, tool_ids: frozenset[str] | None = None) -> SentHistory:
        """The state after ``normalized`` (a part normalised with ``renamed`` ids renamed in all)."""
        names = list(self.tool_names)
        for message in normalized:
            for call in message.tool_calls or []:
                if call.name not in names:
                    names.append(call.name)
        return SentHistory(renamed, tuple(names), self.tool_ids if tool_ids is None else tool_ids)
