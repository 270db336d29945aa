"""Calling the model and turning what it answered into the message that is stored."""

from __future__ import annotations

from typing import Any

import anyio

from adapters.base import Adapter, ChatReply, ChatRequest
from adapters.redact import adapter_key, redact_secrets_deep
from adapters.streaming import listening
from chat.progress import AnswerWatch, ProgressSender, report_progress
from chat.prompt import INCOMPLETE_MARK
from store import Message, utc_now


async def call_model(adapter: Adapter, request: ChatRequest, watch: AnswerWatch, progress: ProgressSender | None) -> ChatReply:
    """``adapter.complete(request)`` heard by ``watch``, with progress sent meanwhile when asked for."""
    with listening(watch):
        if progress is None:
            return await adapter.complete(request)
        outcome: list[ChatReply] = []
        failure: list[Exception] = []
        async with anyio.create_task_group() as group:
            group.start_soon(report_progress, progress, [(request.model, watch)])
            try:
                outcome.append(await adapter.complete(request))
            except Exception as exc:  # raised below, outside the group (no ExceptionGroup for callers)
                failure.append(exc)
            finally:
                group.cancel_scope.cancel()
        if failure:
            raise failure[0]
        return outcome[0]


def stored_answer(reply: ChatReply, model: str) -> Message:
    """The stored answer; its ``usage.cost_usd`` is the price at the time of the call (None: unknown)."""
    extra: dict[str, Any] = {}
    if reply.provider_extra:
        extra[reply.provider] = reply.provider_extra
    if reply.finish_reason:
        extra["finish_reason"] = reply.finish_reason
    at = utc_now()
    usage = None
    if reply.usage is not None:
        from chat.pricing import cost_usd  # genai-prices: loaded by the server after start-up

        usage = reply.usage.model_copy(update={"cost_usd": cost_usd(reply.provider, reply.model, reply.usage, at)})
    return Message(
        role="assistant",
        content=reply.text,
        model=model,
        provider=reply.provider,
        created_at=at,
        tool_calls=reply.tool_calls or None,
        usage=usage,
        latency_ms=reply.latency_ms,
        extra=extra,
    )


def incomplete_answer(text: str, model: str, provider: str | None, reason: str, adapter: object) -> Message:
    """The part of an answer that arrived before the call stopped, marked incomplete with ``reason``."""
    from chat.secrets import redact_partial_answer  # a rare path: the detector is loaded by the first turn

    content = redact_partial_answer(str(redact_secrets_deep(text, [adapter_key(adapter)])))
    mark = {"reason": reason, "characters": len(text), "at": utc_now().isoformat()}
    return Message(role="assistant", content=content, model=model, provider=provider, extra={INCOMPLETE_MARK: mark})
