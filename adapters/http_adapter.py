"""What the three HTTP wire-format adapters share: settings, one timed POST with retries, reply errors.

:class:`HttpAdapter` is the base of :class:`~adapters.openai_compat.OpenAICompatAdapter`,
:class:`~adapters.anthropic.AnthropicAdapter` and :class:`~adapters.gemini.GeminiAdapter`.
It holds the connection settings every provider needs, and its :meth:`HttpAdapter.complete`
is the one send path: build the body, POST it with retries (:func:`adapters.retry.post_json`),
measure the latency, parse the answer. A provider module supplies only its wire format:
:meth:`~HttpAdapter.build_body`, :meth:`~HttpAdapter.endpoint`, :meth:`~HttpAdapter.auth_headers`,
:meth:`~HttpAdapter.reasoning_plan` and :meth:`~HttpAdapter.read_reply`, and for streaming (on unless ``stream=False``)
:meth:`~HttpAdapter.new_assembler` plus, where the wire format asks for a stream differently,
:meth:`~HttpAdapter.stream_endpoint` and :meth:`~HttpAdapter.stream_body`. A streamed answer is
rebuilt into the non-streamed JSON answer (:mod:`adapters.stream_assembly`) and read by the same
:meth:`~HttpAdapter.read_reply`, so both give the same reply.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import httpx

from .base import ChatReply, ChatRequest
from .errors import ProviderError
from .reasoning import ReasoningPlan
from .redact import redact
from .retry import RetryPolicy, post_json
from .stream_assembly import StreamAssembler


# eq=False: adapters compare by identity, as plain objects do; repr=False: a repr must never show the key.
@dataclass(kw_only=True, eq=False, repr=False)
class HttpAdapter(ABC):
    """Connection settings and the send path of an HTTP provider adapter (all arguments keyword-only).

    ``base_url`` is kept without a trailing ``/``; ``upstream_model`` (when set) is the model name
    sent to the provider instead of the one in the request; ``policy`` defaults to
    :meth:`RetryPolicy.from_env` at send time; ``transport`` is passed to httpx (tests);
    ``stream`` (default True) asks for a streamed answer (``stream = false`` in the config file
    for an endpoint that cannot stream).
    """

    provider: str
    base_url: str
    api_key: str | None
    key_variable: str | None = None
    upstream_model: str | None = None
    policy: RetryPolicy | None = None
    transport: httpx.AsyncBaseTransport | None = None
    stream: bool = True

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")

    # ------------------------------------------------------------ what a provider supplies
    @abstractmethod
    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body sent for ``request`` (pure; no I/O); AdapterError when it cannot be expressed."""

    @abstractmethod
    def endpoint(self, request: ChatRequest) -> str:
        """The URL ``request`` is POSTed to."""

    @abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """The provider's own headers (authentication, API version, extra headers)."""

    @abstractmethod
    def reasoning_plan(self, request: ChatRequest) -> ReasoningPlan:
        """How ``request.reasoning_effort`` (and what it rules out) is sent (pure; see adapters/reasoning.py)."""

    @abstractmethod
    def read_reply(self, data: dict[str, Any], request: ChatRequest, latency_ms: float) -> ChatReply:
        """The reply for ``request`` from the provider's JSON answer ``data``."""

    @abstractmethod
    def new_assembler(self) -> StreamAssembler:
        """A fresh assembler for this wire format's stream events."""

    def stream_endpoint(self, request: ChatRequest) -> str:
        """The URL a streamed ``request`` is POSTed to (default: :meth:`endpoint`)."""
        return self.endpoint(request)

    def stream_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` asking for a stream (default: unchanged)."""
        return body

    # ------------------------------------------------------------ shared
    def headers(self) -> dict[str, str]:
        """Every header sent: JSON content type, then :meth:`auth_headers` (which may override it)."""
        return {"Content-Type": "application/json", **self.auth_headers()}

    async def complete(self, request: ChatRequest) -> ChatReply:
        """Send ``request``; return the reply, or raise ProviderError after the retries.

        The body is built before anything is sent, so a conversation the wire format cannot
        express raises AdapterError without a request. ``latency_ms`` covers the whole POST,
        retries and waits included (for a stream: until its last event). A stream that breaks
        mid-answer raises :class:`~adapters.streaming.StreamInterrupted`.
        """
        body = self.build_body(request)
        started = time.perf_counter()
        data = await post_json(
            self.stream_endpoint(request) if self.stream else self.endpoint(request),
            headers=self.headers(),
            body=self.stream_body(body) if self.stream else body,
            provider=self.provider,
            secrets=[self.api_key],
            key_variable=self.key_variable,
            policy=self.policy,
            transport=self.transport,
            stream=self.new_assembler if self.stream else None,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        return self.read_reply(data, request, latency_ms)

    def no_reply(self, what: str) -> ProviderError:
        """The error for a 2xx answer that holds no reply: ``"<provider> returned no <what>"``, key redacted."""
        return ProviderError(redact(f"{self.provider} returned no {what}", [self.api_key]), provider=self.provider)
