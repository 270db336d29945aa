"""Fit a long conversation into a model's context window by summarising its oldest turns.

When the prompt built by ``adapters.prompt`` would overflow ``window - output reserve``, the
oldest turns after the latest summary are summarised by a summariser model into a new
``Summary`` (cumulative: it also folds in the previous summary's text). The caller stores that
summary in the session; the original messages stay on disk, only the prompt gets shorter.

The cut is always made just before a user message, so a tool call is never separated from
its result and the kept part starts with a user turn (which every provider accepts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adapters.base import Adapter, ChatRequest
from adapters.errors import ProviderError
from adapters.prompt import Estimator, Prompt, PromptTooLarge, build_prompt, conversation_turns, latest_summary, transcript
from adapters.redact import scrub_reply
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
        reply = scrub_reply(await adapter.complete(request), adapter)
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
        extra={"summariser_calls": calls, "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}},
    )


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
    window)`` of the summariser. Raises ``PromptTooLarge`` if even the compressed prompt does
    not fit, and whatever the summariser adapter raises.
    """
    budget = window - reserve
    prompt = build_prompt(session, pending, estimate=estimate, system_override=system_override)
    if prompt.estimated_tokens <= budget:
        return Compression(prompt=prompt, summary=None)
    split = choose_split(session, pending, budget=budget, estimate=estimate)
    if split is None:
        raise _too_large(model, window, reserve, prompt.estimated_tokens)
    previous = latest_summary(session)
    start = previous.covers[1] + 1 if previous else 0
    items = [item for item in conversation_turns(session, start) if item[0] < split]
    adapter, summary_model, summary_window = summariser()
    summary = await summarise(adapter, summary_model, previous, items, window=summary_window, estimate=estimate)
    compressed = session.model_copy(update={"summaries": [*session.summaries, summary]})
    prompt = build_prompt(compressed, pending, estimate=estimate, system_override=system_override)
    if prompt.estimated_tokens > budget:
        raise _too_large(model, window, reserve, prompt.estimated_tokens)
    return Compression(prompt=prompt, summary=summary)


def _too_large(model: str, window: int, reserve: int, needed: int) -> PromptTooLarge:
    return PromptTooLarge(
        f"the prompt needs about {needed:,} tokens but {model!r} has a context window of {window:,} "
        f"tokens ({reserve:,} kept for the answer), even after summarising older turns: shorten the "
        "prompt or the system prompt, lower max_tokens, or use a model with a larger context window"
    )
