"""Turn a stored session plus the new user message into the prompt an adapter sends.

The prompt is: the effective system prompt (the latest ``system`` message of the session),
followed by the latest ``Summary`` (if older turns were compressed), then every turn after the
summary, then the new user message. The session on disk is never shortened; only the prompt.

Also the one place for the limits of the ``chat`` arguments (``validate_chat_args``).
"""

from __future__ import annotations

import json
import operator
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from store.blobs import FILE_PART, IMAGE_PART
from store.schema import FAILED_MARK, INCOMPLETE_MARK, Message, Session, Summary, message_text

# Output tokens reserved in the context window when the caller does not pass ``max_tokens``.
DEFAULT_OUTPUT_RESERVE = 4096

# A message the provider never answered (its call failed, ``FAILED_MARK`` in its extra) is
# kept on disk but left out of later prompts, so a retry does not send the same question twice.
NO_RESULT_TEXT = "[no result was recorded for this tool call]"


#: Estimated tokens of a prompt's messages. An estimator that is a sum over the messages says
#: so with a ``per_message`` attribute (the count of one message): :func:`build_prompt` then
#: counts only the messages it has not counted for the session before.
Estimator = Callable[[Sequence[Message]], int]


@dataclass
class Prompt:
    """What an adapter receives: ``system`` and ``messages`` as in ``ChatRequest``."""

    system: str | None
    messages: list[Message]
    summary: Summary | None
    estimated_tokens: int


def effective_system(messages: Sequence[Message]) -> str | None:
    """The text of the latest ``system`` message, or ``None`` (a later one replaces earlier ones)."""
    for message in reversed(messages):
        if message.role == "system":
            return message_text(message)
    return None


def latest_summary(session: Session) -> Summary | None:
    """The summary that covers the most messages (summaries are cumulative from message 0)."""
    if not session.summaries:
        return None
    return max(session.summaries, key=lambda summary: (summary.covers[1], summary.created_at))


def summary_block(summary: Summary) -> str:
    first, last = summary.covers
    return (
        f"Summary of the earlier conversation (messages {first + 1}-{last + 1}, "
        f"written by {summary.model}):\n{summary.text}"
    )


def system_text(system: str | None, summary: Summary | None) -> str | None:
    """The system prompt actually sent: the session's system prompt, then the summary block.

    A summary with no text (cut to nothing: the last resort of ``chat.compression``) adds
    no block.
    """
    parts = [part for part in (system, summary_block(summary) if summary and summary.text else None) if part]
    return "\n\n".join(parts) if parts else None


def conversation_turns(session: Session, start: int = 0) -> list[tuple[int, Message]]:
    """``(index, message)`` of the messages from ``start`` that belong in a prompt.

    System messages are left out (they form ``system``), and so are user messages whose
    delivery failed and incomplete answers.
    """
    turns: list[tuple[int, Message]] = []
    for index, message in enumerate(session.messages[start:], start=start):
        if message.role == "system" or message.extra.get(FAILED_MARK) or message.extra.get(INCOMPLETE_MARK):
            continue
        turns.append((index, message))
    return turns


def repair_tool_pairs(messages: Sequence[Message]) -> list[Message]:
    """Make tool calls and results pair up as every provider requires.

    An assistant tool call without a result before the next turn gets a placeholder result;
    a tool result that answers no earlier call becomes a plain user message with its text.
    """
    repair = ToolPairRepair()
    for message in messages:
        repair.add(message)
    return repair.finish()


class ToolPairRepair:
    """:func:`repair_tool_pairs` one message at a time: ``add`` each, then ``finish`` (which closes
    the calls still open); ``copy`` continues a shared prefix without redoing it."""

    def __init__(self) -> None:
        self.repaired: list[Message] = []
        self.open_calls: dict[str, str] = {}

    def copy(self) -> ToolPairRepair:
        twin = ToolPairRepair()
        twin.repaired, twin.open_calls = list(self.repaired), dict(self.open_calls)
        return twin

    def add(self, message: Message) -> None:
        if message.role == "tool":
            if message.tool_call_id in self.open_calls:
                self.open_calls.pop(message.tool_call_id)
                self.repaired.append(message)
            else:
                label = message.name or "tool"
                self.repaired.append(Message(role="user", content=f"[result of {label}]\n{message_text(message)}"))
            return
        self._close_open_calls()
        self.repaired.append(message)
        for call in message.tool_calls or []:
            self.open_calls[call.id] = call.name

    def finish(self) -> list[Message]:
        """The repaired messages (this object is spent)."""
        self._close_open_calls()
        return self.repaired

    def _close_open_calls(self) -> None:
        for call_id, name in self.open_calls.items():
            self.repaired.append(Message(role="tool", tool_call_id=call_id, name=name, content=NO_RESULT_TEXT))
        self.open_calls.clear()


@dataclass
class _Folded:
    """The prompt work done over ``upto`` (a session's first messages): see :class:`_PromptFolds`.

    ``counted``: ``(per_message, n, tokens)``, the tokens of the first ``n`` repaired messages
    by an additive estimator's ``per_message`` (see :func:`build_prompt`), once asked for.
    """

    upto: list[Message]
    start: int
    repair: ToolPairRepair
    system: str | None
    counted: tuple[Callable[[Message], int], int, int] | None = None

    def tokens(self, per_message: Callable[[Message], int]) -> int:
        """The tokens of ``repair.repaired`` by ``per_message`` (counting only what was not counted before)."""
        repaired = self.repair.repaired
        done, total = 0, 0
        if self.counted is not None and self.counted[0] is per_message:
            done, total = self.counted[1], self.counted[2]
        total += sum(map(per_message, repaired[done:]))
        self.counted = (per_message, len(repaired), total)
        return total


class _PromptFolds:
    """The turns of a session's prompt, resumed from what the previous prompt of the session did.

    A session grows by appending, and the store shares the unchanged message objects between
    one turn's session and the next; so the repaired turns (and the system prompt) of the
    previous turn's messages are kept, per session id, for the last four sessions (as many as the
    store keeps decoded), and reused
    when the session's first messages are those very objects (checked by identity; an edit,
    a re-read file or another summary start does the work afresh). O(new messages) a turn.
    """

    def __init__(self, sessions: int = 4) -> None:
        self.sessions = sessions
        self._saved: dict[str, _Folded] = {}
        self._lock = threading.Lock()

    def fold(self, session: Session, start: int) -> _Folded:
        messages = session.messages
        with self._lock:
            saved = self._saved.get(session.id)
        if (saved is not None and saved.start == start and len(saved.upto) <= len(messages)
                and all(map(operator.is_, saved.upto, messages))):
            done, repair, system, counted = len(saved.upto), saved.repair.copy(), saved.system, saved.counted
        else:
            done, repair, system, counted = 0, ToolPairRepair(), None, None
        for index in range(done, len(messages)):
            message = messages[index]
            if message.role == "system":
                system = message_text(message)
            elif index >= start and not (message.extra.get(FAILED_MARK) or message.extra.get(INCOMPLETE_MARK)):
                repair.add(message)
        folded = _Folded(upto=list(messages), start=start, repair=repair, system=system, counted=counted)
        with self._lock:
            self._saved.pop(session.id, None)
            self._saved[session.id] = folded
            while len(self._saved) > self.sessions:
                del self._saved[next(iter(self._saved))]
        return folded


_FOLDS = _PromptFolds()


def build_prompt(
    session: Session,
    pending: Sequence[Message],
    *,
    estimate: Estimator,
    system_override: str | None = None,
) -> Prompt:
    """The prompt for ``session`` followed by ``pending`` (the new messages, not yet stored).

    ``system_override`` replaces the session's system prompt for this prompt (it is the one
    the caller just passed and that will be stored with the exchange). The same as
    :func:`conversation_turns` then :func:`repair_tool_pairs`, done for the session's messages
    not seen by the previous prompt of the session only (:class:`_PromptFolds`).
    """
    summary = latest_summary(session)
    start = summary.covers[1] + 1 if summary else 0
    folded = _FOLDS.fold(session, start)
    repair = folded.repair.copy()
    for message in pending:
        if message.role != "system":
            repair.add(message)
    messages = repair.finish()
    system = system_override if system_override is not None else folded.system
    sent_system = system_text(system, summary)
    counted = list(messages)
    if sent_system:
        counted.append(Message(role="system", content=sent_system))
    per_message: Callable[[Message], int] | None = getattr(estimate, "per_message", None)
    if per_message is None:
        tokens = estimate(counted)
    else:  # a sum over the messages: the session's part is counted once (ToolPairRepair only appends)
        tokens = folded.tokens(per_message) + sum(map(per_message, counted[len(folded.repair.repaired):]))
    return Prompt(system=sent_system, messages=messages, summary=summary, estimated_tokens=tokens)


def output_reserve(max_tokens: int | None, window: int) -> int:
    """Tokens of the window kept free for the answer."""
    if max_tokens is not None:
        return max_tokens
    return min(DEFAULT_OUTPUT_RESERVE, max(window // 4, 1))


def transcript(messages: Sequence[tuple[int, Message]], max_chars_per_message: int | None = None) -> str:
    """A plain-text rendering of messages for a summariser: one numbered block per message."""
    blocks: list[str] = []
    for index, message in messages:
        label = message.role
        if message.role == "assistant" and message.model:
            label = f"assistant ({message.model})"
        if message.role == "tool":
            label = f"tool result ({message.name or message.tool_call_id or 'tool'})"
        text = message_text(message)
        if max_chars_per_message is not None and len(text) > max_chars_per_message:
            text = text[:max_chars_per_message] + " [...truncated]"
        lines = [f"[{index + 1}] {label}: {text}"] if text else [f"[{index + 1}] {label}:"]
        for call in message.tool_calls or []:
            arguments = json.dumps(call.arguments, ensure_ascii=False, sort_keys=True)
            lines.append(f"    called tool {call.name} with {arguments}")
        lines += [f"    {line}" for line in attachment_lines(message)]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def attachment_lines(message: Message) -> list[str]:
    """One line per file or image a message attached (the summariser sees what was shown, not its text)."""
    if not isinstance(message.content, list):
        return []
    lines = []
    for part in message.content:
        if part.get("type") == FILE_PART:
            lines.append(f"attached file {part.get('path')} ({part.get('lines', '?')} lines)")
        elif part.get("type") == IMAGE_PART:
            lines.append(f"attached image {part.get('path') or part.get('media_type') or ''}".rstrip())
    return lines
