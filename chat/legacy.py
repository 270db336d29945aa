"""``kimi_chat``: the tool of the older Kimi-only server, through the unified core or, with
``LLM_UNIFIED=0``, exactly as it was (``.kimi_sessions/<id>.json``)."""

from __future__ import annotations

import os
from typing import Any

import anyio

from chat.answer import stored_answer
from chat.app import App
from chat.errors import ChatFailed
from chat.legacy_migration import migrate_if_legacy
from chat.options import TurnOptions, check_prompt, check_session_id
from chat.prompt import effective_system, repair_tool_pairs
from chat.turn import result_usage, run_turn
from adapters.base import ChatRequest
from adapters.redact import scrub_reply
from store import Message, new_session_id
from store.legacy import LegacyKimiStore
from utils.feature_flags import llm_unified_enabled

KIMI_MODEL_ENV = "KIMI_MODEL"
DEFAULT_KIMI_MODEL = "kimi-k2-0711-preview"


def kimi_default_model() -> str:
    return os.environ.get(KIMI_MODEL_ENV) or DEFAULT_KIMI_MODEL


def is_kimi_model(model: str | None) -> bool:
    return bool(model) and model.lower().startswith(("kimi-", "moonshot-"))  # type: ignore[union-attr]


async def kimi_chat(app: App, prompt: str, session_id: str | None) -> dict[str, Any]:
    """``kimi_chat``: the unified core, or the legacy store when ``LLM_UNIFIED`` is off."""
    if llm_unified_enabled():
        return await _kimi_unified(app, prompt, session_id)
    return await _chat_legacy(app, prompt, session_id)


def _current_kimi_model(app: App, session_id: str) -> str | None:
    if not app.store.exists(session_id):
        return None
    current = app.store.snapshot(session_id).session.current_model
    return current if is_kimi_model(current) else None


async def _kimi_unified(app: App, prompt: str, session_id: str | None) -> dict[str, Any]:
    """The session's own Kimi model is kept; otherwise the default Kimi model is used."""
    check_prompt(prompt)
    model = kimi_default_model()
    if session_id is not None:
        check_session_id(session_id)
        app.resolve_adapter(model)  # fail before migrating if the key is missing
        session_id = await migrate_if_legacy(app, session_id)
        model = await anyio.to_thread.run_sync(_current_kimi_model, app, session_id) or model
    return (await run_turn(app, prompt, model, session_id, TurnOptions())).as_dict()


async def _chat_legacy(app: App, prompt: str, session_id: str | None) -> dict[str, Any]:
    """``kimi_chat`` as it was before the unified store: ``.kimi_sessions/<id>.json``."""
    from chat.secrets import redact_reply, redact_request_text  # the detector loads with the first turn

    check_prompt(prompt)
    legacy = LegacyKimiStore(app.legacy_root)
    session_id = check_session_id(session_id) or new_session_id()
    existing = await anyio.to_thread.run_sync(legacy.load, session_id)
    prompt, _, warnings = redact_request_text(prompt, None, False, context="kimi_chat")
    model = existing.model if existing is not None and is_kimi_model(existing.model) else kimi_default_model()
    adapter = app.resolve_adapter(model)
    history = existing.to_unified_messages() if existing is not None else []
    turns = [message for message in history if message.role != "system"]
    turns.append(Message(role="user", content=prompt))
    request = ChatRequest(model=model, messages=repair_tool_pairs(turns), system=effective_system(history))
    try:
        reply, echoed = redact_reply(scrub_reply(await adapter.complete(request), adapter))
        warnings += echoed
    except Exception as exc:
        await anyio.to_thread.run_sync(legacy.append_exchange, session_id, model, [{"role": "user", "content": prompt}])
        raise ChatFailed(session_id, exc) from exc
    exchange = [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply.text}]
    await anyio.to_thread.run_sync(legacy.append_exchange, session_id, model, exchange)
    usage = result_usage(stored_answer(reply, model))
    return {"session_id": session_id, "model": model, "reply": reply.text, "warnings": warnings, "usage": usage}
