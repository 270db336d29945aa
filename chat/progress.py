"""Watching answers stream in, and telling an MCP client how far they got.

:class:`AnswerWatch` is the :class:`~adapters.streaming.StreamListener` of one model call: it
keeps the answer text received so far (what is saved when the stream breaks or the call is
cancelled) and the count of every character received. :func:`report_progress` runs beside the
calls and sends progress for one or more watches (``ask_models`` asks several models at once):

- at most one notification per ``fastest`` seconds (0.25: about 4 a second), and at least one
  every ``slowest`` seconds (0.75) even when nothing arrives — while waiting for the first
  token too, so a client that resets its timeout on progress keeps waiting;
- ``progress`` is the characters received by all the watches; MCP requires it to rise with
  every notification, so when no character arrived since the last one it rises by 0.001
  (it stays within a few hundredths of the character count); no ``total`` (unknown);
- ``message`` per model: ``claude-sonnet-4-5: 1,240 characters``, or
  ``claude-sonnet-4-5: waiting for the first token (3 s)``, joined with ``; ``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn

import anyio

log = logging.getLogger(__name__)

#: ``send(progress, message)``: one ``notifications/progress`` (e.g. ``Context.report_progress``)
ProgressSender = Callable[[float, str], Awaitable[None]]
_STEP = 0.001


class AnswerWatch:
    """The streamed answer of one call as it arrives (a :class:`~adapters.streaming.StreamListener`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._texts: list[str] = []
        self.started = clock()
        self.characters = 0

    def received(self, text: str, characters: int) -> None:
        if text:
            self._texts.append(text)
        self.characters = max(self.characters, characters)

    @property
    def text(self) -> str:
        """The answer text received so far."""
        return "".join(self._texts)

    def describe(self, label: str) -> str:
        if self.characters:
            return f"{label}: {self.characters:,} characters"
        return f"{label}: waiting for the first token ({self._clock() - self.started:.0f} s)"


async def report_progress(
    send: ProgressSender,
    watches: Sequence[tuple[str, AnswerWatch]],
    *,
    fastest: float = 0.25,
    slowest: float = 0.75,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> NoReturn:
    """Send progress for ``watches`` (label, watch) until cancelled; see the module docstring.

    A failed send (the client went away) is logged and does not stop the calls. ``clock`` and
    ``sleep`` are for tests.
    """
    sent = -1.0  # progress of the last notification
    sent_characters = -1
    sent_at = -float("inf")
    while True:
        characters = sum(watch.characters for _, watch in watches)
        now = clock()
        if characters != sent_characters or now - sent_at >= slowest:
            progress = float(characters) if characters > sent else round(sent + _STEP, 3)
            message = "; ".join(watch.describe(label) for label, watch in watches)
            try:
                await send(progress, message)
            except Exception:  # the answer matters more than its progress
                log.debug("could not send a progress notification", exc_info=True)
            sent, sent_characters, sent_at = progress, characters, now
        await sleep(fastest)
