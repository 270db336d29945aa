"""Fit a long conversation into a model's context window by summarising its oldest turns.

When the prompt built by ``chat.prompt`` would overflow ``window - output reserve``, the
oldest turns after the latest summary are summarised by a summariser model into a new
``Summary`` (cumulative: it also folds in the previous summary's text). The caller stores that
summary in the session; the original messages stay on disk, only the prompt gets shorter.

The cut is always made just before a user message, so a tool call is never separated from
its result and the kept part starts with a user turn (which every provider accepts).

Compression always converges: whenever the new message (with the system prompt) fits, the
prompt fits. A summary over its share of the budget (a model or proxy that ignores
``max_tokens``, an estimate that is off) is escalated, as in the LCM paper: it is summarised
again with the exact room it has, and if that is still too long it is cut deterministically;
if the verbatim recent turns leave no room for any summary they are folded into it too. The
stored ``Summary`` records how it was produced in ``extra["method"]``: ``"summarised"``,
``"resummarised"`` or ``"cut"`` (with ``extra["cut"]``: characters kept of how many; a
summary cut to nothing has an empty text and adds nothing to the prompt).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.base import Adapter, ChatReply, ChatRequest
from adapters.errors import ProviderError
from chat.prompt import (
    Estimator,
    Prompt,
    build_prompt,
    conversation_turns,
    effective_system,
    latest_summary,
    transcript,
)
from adapters.redact import scrub_reply
from chat.errors import PromptTooLarge
from store.schema import Message, Session, Summary

SUMMARISER_SYSTEM = (
    "You compress a conversation so that another model can continue it without the original. "
    "Write a concise but complete summary: the user's goals, facts and decisions, code "
    "identifiers, file names and numbers exactly as written, tool calls made and their results, "
    "and open questions. Do not add anything that is not in the transcript."
)
SUMMARY_MAX_TOKENS = 1024
# After compression the verbatim recent turns fill at most this share of the budget, so the
# next few exchanges fit without summarising again at every call.
KEEP_RATIO = 0.5
# Share of the summariser's window one chunk of transcript may fill.
CHUNK_RATIO = 0.6
# Appended to a summary cut to fit (the last level of the escalation), so the model knows.
CUT_MARK = " [summary cut to fit the context window]"


@dataclass
class Compression:
    """The prompt to send and the new summary to store (``None`` if nothing was compressed)."""

    prompt: Prompt
    summary: Summary | None


def choose_split(session: Session, pending: Sequence[Message], *, budget: int, estimate: Estimator) -> int | None:
    """Index of the first stored message kept verbatim; older turns after the last summary go.

    ``None`` if there is nothing to summarise. The kept turns (plus ``pending``) fill at most
    ``KEEP_RATIO`` of ``budget`` when possible; otherwise every stored turn is summarised.
    """
    summary = latest_summary(session)
    start = summary.covers[1] + 1 if summary else 0
    turns = conversation_turns(session, start)
    if not turns:
        return None
    sizes = [estimate([message]) for _, message in turns]
    pending_size = estimate(list(pending)) if pending else 0
    keep_budget = budget * KEEP_RATIO
    # A candidate cut keeps turns[position:]; position 0 would summarise nothing.
    kept = pending_size
    best = len(session.messages)
    for position in range(len(turns) - 1, 0, -1):
        kept += sizes[position]
        if kept > keep_budget:
            break
        if turns[position][1].role == "user":
            best = turns[position][0]
    return best


def _chunks(items: Sequence[tuple[int, Message]], budget: int, estimate: Estimator) -> list[list[tuple[int, Message]]]:
    chunks: list[list[tuple[int, Message]]] = [[]]
    used = 0
    for item in items:
        size = estimate([item[1]])
        if chunks[-1] and used + size > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(item)
        used += size
    return chunks


def summariser_input(previous: str | None, conversation: str) -> str:
    """The user message sent to the summariser for one chunk."""
    head = f"Summary so far:\n{previous}\n\n" if previous else ""
    return f"{head}Conversation to add to the summary:\n{conversation}\n\nWrite the updated summary."


async def summarise(
    adapter: Adapter,
    model: str,
    previous: Summary | None,
    items: Sequence[tuple[int, Message]],
    *,
    window: int,
    estimate: Estimator,
) -> Summary:
    """Summarise ``items`` (folding in ``previous``) with ``model``, chunk by chunk if needed."""
    chunk_budget = max(int((window - SUMMARY_MAX_TOKENS) * CHUNK_RATIO), 256)
    # ~3 characters per token is a safe lower bound for the character cut of one huge message.
    max_chars = chunk_budget * 3
    text = previous.text if previous else None
    input_tokens = output_tokens = 0
    calls = 0
    for chunk in _chunks(items, chunk_budget, estimate):
        request = ChatRequest(
            model=model,
            system=SUMMARISER_SYSTEM,
            messages=[Message(role="user", content=summariser_input(text, transcript(chunk, max_chars)))],
            max_tokens=SUMMARY_MAX_TOKENS,
        )
        reply = _redacted(scrub_reply(await adapter.complete(request), adapter))  # summaries are stored: no secret in them
        calls += 1
        if not reply.text.strip():
            raise ProviderError(f"the summariser model {model!r} returned an empty summary; set LLM_SUMMARY_MODEL to another model")
        text = reply.text.strip()
        if reply.usage:
            input_tokens += reply.usage.input_tokens or 0
            output_tokens += reply.usage.output_tokens or 0
    assert text is not None  # items is never empty here, so at least one call was made
    return Summary(
        covers=(previous.covers[0] if previous else 0, items[-1][0]),
        text=text,
        model=model,
        extra={
            "method": "summarised",
            "summariser_calls": calls,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        },
    )


def resummariser_input(text: str, room: int) -> str:
    """The user message asking the summariser to shorten a summary to about ``room`` tokens."""
    return (
        f"This summary is too long: it must fit in about {room:,} tokens (about {room * 3:,} characters). "
        "Rewrite it shorter, keeping the most important goals, decisions, identifiers and open questions.\n\n"
        f"Summary:\n{text}\n\nWrite the shorter summary."
    )


def _with_call(summary: Summary, reply: ChatReply, method: str) -> dict[str, Any]:
    """``summary.extra`` after one more summariser call (its usage added) and the new ``method``."""
    usage = dict(summary.extra.get("usage", {}))
    if reply.usage:
        usage["input_tokens"] = usage.get("input_tokens", 0) + (reply.usage.input_tokens or 0)
        usage["output_tokens"] = usage.get("output_tokens", 0) + (reply.usage.output_tokens or 0)
    return {**summary.extra, "method": method, "summariser_calls": summary.extra.get("summariser_calls", 0) + 1, "usage": usage}


def cut_to_fit(text: str, fits: Callable[[str], bool]) -> tuple[str, int]:
    """The longest ``text[:n] + CUT_MARK`` that ``fits``, and ``n``; ``("", 0)`` if not even the mark fits.

    Deterministic (a binary search on ``n``; ``fits`` must be monotonic in the length).
    """
    if not fits(CUT_MARK.strip()):
        return "", 0
    low, high = 0, len(text)  # text[:low] + mark fits (an empty head is the bare mark)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(text[:middle].rstrip() + CUT_MARK):
            low = middle
        else:
            high = middle - 1
    head = text[:low].rstrip()
    return (head + CUT_MARK if head else CUT_MARK.strip()), low


async def fit_prompt(
    session: Session,
    pending: Sequence[Message],
    *,
    model: str,
    window: int,
    reserve: int,
    estimate: Estimator,
    summariser: Callable[[], tuple[Adapter, str, int]],
    system_override: str | None = None,
) -> Compression:
    """Build the prompt for ``model``; compress older turns first if it would not fit.

    ``summariser()`` is called only when compression is needed and returns ``(adapter, model,
    window)`` of the summariser. Raises ``PromptTooLarge`` only if the new message with the
    system prompt does not fit by itself (before any summariser call), and whatever the
    summariser adapter raises.
    """
    budget = window - reserve
    prompt = build_prompt(session, pending, estimate=estimate, system_override=system_override)
    if prompt.estimated_tokens <= budget:
        return Compression(prompt=prompt, summary=None)
    system = system_override if system_override is not None else effective_system(session.messages)
    alone = build_prompt(Session(id=session.id), pending, estimate=estimate, system_override=system)
    split = choose_split(session, pending, budget=budget, estimate=estimate)
    if split is None or alone.estimated_tokens > budget:
        raise _too_large(model, window, reserve, alone.estimated_tokens if split is not None else prompt.estimated_tokens)
    previous = latest_summary(session)
    start = previous.covers[1] + 1 if previous else 0
    turns = conversation_turns(session, start)
    adapter, summary_model, summary_window = summariser()
    items = [item for item in turns if item[0] < split]
    summary = await summarise(adapter, summary_model, previous, items, window=summary_window, estimate=estimate)
    fitter = _Fitter(session, pending, budget=budget, estimate=estimate, system_override=system_override)
    rest = [item for item in turns if item[0] >= split]
    fitted = await fitter.shrink(summary, adapter, summary_model, may_empty=not rest)
    if fitted is None and rest:
        # The verbatim recent turns leave no room for a summary: fold them in too.
        folded = await summarise(adapter, summary_model, summary, rest, window=summary_window, estimate=estimate)
        calls = summary.extra["summariser_calls"] + folded.extra["summariser_calls"]
        usage = {key: summary.extra["usage"][key] + folded.extra["usage"][key] for key in ("input_tokens", "output_tokens")}
        summary = folded.model_copy(update={"extra": {**folded.extra, "summariser_calls": calls, "usage": usage, "folded_recent_turns": True}})
        fitted = await fitter.shrink(summary, adapter, summary_model, may_empty=True)
    if fitted is None:
        raise _too_large(model, window, reserve, fitter.prompt_with(summary.model_copy(update={"text": ""})).estimated_tokens)
    return fitted


class _Fitter:
    """Tries summaries in the prompt of one turn, escalating until one fits ``budget``."""

    def __init__(
        self, session: Session, pending: Sequence[Message], *, budget: int, estimate: Estimator, system_override: str | None
    ) -> None:
        self.session = session
        self.pending = pending
        self.budget = budget
        self.estimate = estimate
        self.system_override = system_override

    def prompt_with(self, summary: Summary) -> Prompt:
        compressed = self.session.model_copy(update={"summaries": [*self.session.summaries, summary]})
        return build_prompt(compressed, self.pending, estimate=self.estimate, system_override=self.system_override)

    def fits(self, summary: Summary) -> bool:
        return self.prompt_with(summary).estimated_tokens <= self.budget

    async def shrink(self, summary: Summary, adapter: Adapter, model: str, *, may_empty: bool) -> Compression | None:
        """``summary`` as is, else summarised again, else cut; ``None`` if no summary fits.

        With ``may_empty`` a summary may be cut to nothing (the prompt then has no summary
        block); ``None`` then only if the prompt does not fit even without a summary.
        """
        prompt = self.prompt_with(summary)
        if prompt.estimated_tokens <= self.budget:
            return Compression(prompt=prompt, summary=summary)
        room = self.budget - self.prompt_with(summary.model_copy(update={"text": ""})).estimated_tokens
        if room < 0 or (not may_empty and not self.fits(summary.model_copy(update={"text": CUT_MARK.strip()}))):
            return None
        extra, source = summary.extra, summary.text
        if room > 0:
            request = ChatRequest(
                model=model,
                system=SUMMARISER_SYSTEM,
                messages=[Message(role="user", content=resummariser_input(summary.text, room))],
                max_tokens=min(room, SUMMARY_MAX_TOKENS),
            )
            reply = _redacted(scrub_reply(await adapter.complete(request), adapter))  # summaries are stored: no secret in them
            extra = _with_call(summary, reply, "resummarised")
            shorter = summary.model_copy(update={"text": reply.text.strip(), "extra": extra})
            if shorter.text:
                prompt = self.prompt_with(shorter)
                if prompt.estimated_tokens <= self.budget:
                    return Compression(prompt=prompt, summary=shorter)
                if len(shorter.text) < len(source):
                    source = shorter.text
        text, kept = cut_to_fit(source, lambda candidate: self.fits(summary.model_copy(update={"text": candidate})))
        cut = summary.model_copy(update={"text": text, "extra": {**extra, "method": "cut", "cut": {"kept_chars": kept, "of_chars": len(source)}}})
        return Compression(prompt=self.prompt_with(cut), summary=cut)


def _too_large(model: str, window: int, reserve: int, needed: int) -> PromptTooLarge:
    return PromptTooLarge(
        f"the prompt needs about {needed:,} tokens but {model!r} has a context window of {window:,} "
        f"tokens ({reserve:,} kept for the answer), even after summarising older turns: shorten the "
        "prompt or the system prompt, lower max_tokens, or use a model with a larger context window"
    )


def _redacted(reply: ChatReply) -> ChatReply:
    from chat.secrets.policy import redact_reply  # the detector loads with the first turn, not at start-up

    return redact_reply(reply)[0]
