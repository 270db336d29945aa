"""Streamed answers: who hears them arrive, what a broken stream raises, and reading the events.

- :func:`listening` sets, for the calls made inside it (one ``chat`` turn), the
  :class:`StreamListener` an adapter tells about every piece of answer it receives. A context
  variable rather than a parameter of ``Adapter.complete``: an adapter that does not stream (a
  test double, ``stream = false``) simply tells nobody, and the one interface stays as it is.
- :class:`StreamInterrupted` is the :class:`~adapters.errors.ProviderError` of a stream that
  broke after the answer had begun (connection reset, timeout, an error event): never retried,
  since the provider already produced (and billed) part of an answer; ``partial_text`` holds
  what arrived.
- :func:`read_events` feeds a streamed HTTP response into a
  :class:`~adapters.stream_assembly.StreamAssembler` and returns the rebuilt non-streamed answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import httpx

from .errors import ProviderError
from .redact import redact
from .stream_assembly import StreamAssembler, StreamEventError


class StreamListener(Protocol):
    """Told about each piece of a streamed answer as it arrives."""

    def received(self, text: str, characters: int) -> None:
        """``text``: the answer text just added ("" for reasoning or tool-call pieces);
        ``characters``: every character of the answer received so far (only rises)."""
        ...


_listener: ContextVar[StreamListener | None] = ContextVar("stream_listener", default=None)


@contextmanager
def listening(listener: StreamListener | None) -> Iterator[None]:
    """Tell ``listener`` about the streamed answers of the adapter calls made inside the block."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def current_listener() -> StreamListener | None:
    """The listener set by the innermost :func:`listening`, or None."""
    return _listener.get()


class StreamInterrupted(ProviderError):
    """The stream broke after the answer had begun; ``partial_text`` is what arrived, ``reason`` why it stopped."""

    def __init__(self, message: str, *, reason: str, partial_text: str, provider: str | None, attempts: int = 1) -> None:
        super().__init__(message, status=None, retryable=False, provider=provider, attempts=attempts)
        self.reason = reason
        self.partial_text = partial_text


def interrupted(provider: str, reason: str, assembler: StreamAssembler, secrets: list[str | None], attempts: int) -> StreamInterrupted:
    """The error for a stream of ``provider`` that stopped for ``reason`` after some of the answer arrived."""
    partial = assembler.text()
    message = redact(
        f"{provider}'s answer stopped mid-stream ({reason}) after {assembler.characters:,} characters", secrets
    )
    return StreamInterrupted(message, reason=redact(reason, secrets), partial_text=redact(partial, secrets),
                             provider=provider, attempts=attempts)


def is_event_stream(response: httpx.Response) -> bool:
    """Whether ``response`` is server-sent events (an endpoint that ignores ``stream`` answers JSON)."""
    return "text/event-stream" in response.headers.get("content-type", "").partition(";")[0]


async def read_events(
    response: httpx.Response, assembler: StreamAssembler, *, provider: str, secrets: list[str | None], attempts: int
) -> dict[str, Any]:
    """Feed the events of ``response`` to ``assembler``; return the rebuilt answer.

    Raises :class:`StreamInterrupted` for an error event, an event that is not JSON, or a
    stream that ends before the provider finished the answer. Transport errors and timeouts
    propagate unchanged (the caller decides: nothing received yet may be retried).
    """
    listener = current_listener()
    try:
        async for name, data in sse_events(response):
            text = assembler.feed(name, data)
            if listener is not None:
                listener.received(text, assembler.characters)
    except StreamEventError as exc:
        raise interrupted(provider, str(exc), assembler, secrets, attempts) from None
    if not assembler.complete:
        raise interrupted(provider, "the stream ended before the answer was complete", assembler, secrets, attempts)
    return assembler.answer()


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """``(event name, data)`` of each server-sent event of ``response`` with data or a name of its own.

    The event-stream rules of the WHATWG HTML standard: lines end with CRLF, LF or CR; a blank
    line dispatches the event; ``data`` lines are joined by newlines; a ``:`` line is a comment;
    one space after the colon is dropped; the name defaults to ``message``; ``id`` and ``retry``
    are not needed here and ignored; an event not ended by a blank line is dropped. Read
    straight from the response's bytes in one loop: an answer arrives as hundreds of events,
    and the per-event layers of a general SSE client cost more than the decoding itself.
    """
    parser = _EventLines()
    pending = b""
    async for chunk in response.aiter_bytes():
        pending += chunk
        end = max(pending.rfind(b"\n"), pending.rfind(b"\r"))
        if end == len(pending) - 1 and pending[end] == 13:  # a CR that may be half of a CRLF
            end = max(pending.rfind(b"\n", 0, end), pending.rfind(b"\r", 0, end))
        if end < 0:
            continue
        complete, pending = pending[: end + 1], pending[end + 1 :]
        for event in parser.lines(complete):
            yield event
    if pending.endswith(b"\r"):  # the stream's last line ended with a CR after all
        for event in parser.lines(pending):
            yield event


class _EventLines:
    """The event-stream state between lines: the pending event's name and data."""

    def __init__(self) -> None:
        self.name = ""
        self.data: list[str] = []

    def lines(self, complete: bytes) -> list[tuple[str, str]]:
        """The events completed by ``complete`` (whole lines, each with its line end)."""
        events: list[tuple[str, str]] = []
        for raw in complete.splitlines():  # bytes split on CRLF, LF and CR only
            if not raw:
                joined = "\n".join(self.data)
                if joined or self.name not in ("", "message"):  # else a keep-alive: nothing to feed
                    events.append((self.name or "message", joined))
                self.name, self.data = "", []
                continue
            field, _, value = raw.decode("utf-8", "replace").partition(":")
            if not field:
                continue  # a comment (keep-alive)
            if value.startswith(" "):
                value = value[1:]
            if field == "data":
                self.data.append(value)
            elif field == "event":
                self.name = value
        return events
