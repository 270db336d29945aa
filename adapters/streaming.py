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

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import httpx
from httpx_sse import EventSource

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
        async for event in EventSource(response).aiter_sse():
            if not event.data and event.event == "message":
                continue  # a comment or keep-alive line
            text = assembler.feed(event.event, event.data)
            if listener is not None:
                listener.received(text, assembler.characters)
    except StreamEventError as exc:
        raise interrupted(provider, str(exc), assembler, secrets, attempts) from None
    if not assembler.complete:
        raise interrupted(provider, "the stream ended before the answer was complete", assembler, secrets, attempts)
    return assembler.answer()
