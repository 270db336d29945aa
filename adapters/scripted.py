"""An in-process adapter with scripted replies, for unit tests and benchmarks (no network, instant).

Wire-level behaviour is tested against the loopback HTTP fakes in ``tests/fakes``; this
adapter is for code above the adapters (the chat core, compression, benchmarks) that needs a
model that answers predictably::

    adapter = ScriptedAdapter(["first answer", ProviderError("boom", status=500, retryable=True)])
    with registry.adapter_override("scripted-*", adapter):
        ...  # resolve("scripted-1") now returns this adapter

Each queued item is used once, in order: a ``str`` (the reply text), a :class:`ChatReply`
(returned with ``model``/``provider`` filled in), an ``Exception`` (raised), or a callable
``(ChatRequest) -> str | ChatReply`` (called). With nothing queued the reply is
``echo: <last user text>`` — the same default as the HTTP fakes. Every request is recorded
in ``.requests`` as the adapter received it: a copy with its own ``messages`` list (appending to
or replacing items of the caller's list later does not change it). The messages themselves are
shared, not deep-copied (that cost O(session) per call): the chat core never changes a message
after sending it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Union

from store.schema import Usage

from ._convert import content_text
from .base import ChatReply, ChatRequest
from .context_windows import estimate_text_tokens, estimate_tokens

ECHO_PREFIX = "echo: "
ScriptItem = Union[str, ChatReply, BaseException, Callable[[ChatRequest], Union[str, ChatReply]]]


def echo_reply_text(request: ChatRequest) -> str:
    """``echo: <text of the last user message>`` (empty text when there is none)."""
    for message in reversed(request.messages):
        if message.role == "user":
            return ECHO_PREFIX + content_text(message.content)
    return ECHO_PREFIX


class ScriptedAdapter:
    """An :class:`~adapters.base.Adapter` answering from a script; see the module docstring."""

    def __init__(self, script: Iterable[ScriptItem] = (), *, provider: str = "scripted") -> None:
        self.provider = provider
        self._script: deque[ScriptItem] = deque(script)
        self.requests: list[ChatRequest] = []

    def queue(self, *items: ScriptItem) -> None:
        """Append replies (or exceptions, or callables) to the script."""
        self._script.extend(items)

    @property
    def pending(self) -> int:
        """How many scripted items are left."""
        return len(self._script)

    async def complete(self, request: ChatRequest) -> ChatReply:
        self.requests.append(request.model_copy(update={"messages": list(request.messages)}))
        item: ScriptItem | None = self._script.popleft() if self._script else None
        if isinstance(item, BaseException):
            raise item
        if callable(item) and not isinstance(item, (str, ChatReply)):
            item = item(request)
        if item is None:
            item = echo_reply_text(request)
        if isinstance(item, str):
            usage = Usage(
                input_tokens=estimate_tokens(request.messages, request.system),
                output_tokens=estimate_text_tokens(item),
            )
            return ChatReply(text=item, usage=usage, finish_reason="stop", model=request.model, provider=self.provider)
        return item.model_copy(update={"model": request.model, "provider": self.provider})
