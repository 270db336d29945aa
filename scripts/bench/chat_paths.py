"""The chat paths the per-turn benchmark drives, wired with an instant in-process provider.

``bench_app`` builds a ``server.App`` over a real ``SessionStore`` and the real SQLite index
(``Indexer.on_written``: a turn's message is searchable when the call returns), with every
model resolved to ``InstantAdapter`` so only the session layer's own cost is measured.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from adapters.base import ChatReply, ChatRequest
from scripts.bench.corpus import generate_session
from store.schema import Message, Usage, message_text

LEGACY_MODEL = "kimi-k2-0711-preview"


class InstantAdapter:
    """Answers at once with a fixed short reply (no network, no sleep)."""

    provider = "bench"

    async def complete(self, request: ChatRequest) -> ChatReply:
        return ChatReply(text="Noted: the index stays in step.", model=request.model, provider=self.provider, usage=Usage(input_tokens=12, output_tokens=7))


def simple_estimate(messages: Sequence[Message]) -> int:
    """About four characters per token (used only if the production estimator is missing)."""
    return sum(4 + len(message_text(message)) // 4 for message in messages)


def _token_functions() -> tuple[Callable[[str], int], Callable[[Sequence[Message]], int]]:
    try:
        from adapters import context_windows  # type: ignore[attr-defined]

        return context_windows.context_window, context_windows.estimate_tokens
    except ImportError:
        return (lambda model: 128_000), simple_estimate


def bench_app(root: Path, legacy_root: Path, *, index: bool = True) -> Any:
    """A ``chat.App`` with the instant adapter, the production token table and the real index."""
    from chat import App
    from store.session_store import SessionStore

    adapter = InstantAdapter()
    window, estimate = _token_functions()
    app = App(
        store=SessionStore(root),
        legacy_root=legacy_root,
        resolve_adapter=lambda model: adapter,
        context_window=window,
        estimate_tokens=estimate,
    )
    if index:
        from index import Indexer

        indexer = Indexer(root)
        app.index = indexer  # as default_app wires it: the turn hands its write receipt to the indexer
        app.extra["indexer"] = indexer
    return app


def close_app(app: Any) -> None:
    indexer = app.extra.get("indexer")
    if indexer is not None:
        indexer.close()


def unified_turn(app: Any, session_id: str, model: str) -> Callable[[int], Coroutine[Any, Any, dict[str, Any]]]:
    """A coroutine factory: one ``chat.run_turn`` turn on ``session_id`` with ``model``."""
    from chat import TurnOptions, run_turn

    async def turn(number: int) -> dict[str, Any]:
        prompt = f"Turn {number}: does the watcher debounce atomic renames? 索引"
        return (await run_turn(app, prompt, model, session_id, TurnOptions())).as_dict()

    return turn


def legacy_turn(app: Any, session_id: str) -> Callable[[int], Coroutine[Any, Any, dict[str, Any]]]:
    """A coroutine factory: one legacy ``kimi_chat`` turn (``_chat_legacy``, what the tool runs with ``LLM_UNIFIED=0``)."""
    from chat.legacy import _chat_legacy

    def turn(number: int) -> Coroutine[Any, Any, dict[str, Any]]:
        return _chat_legacy(app, f"Turn {number}: does the watcher debounce atomic renames? 索引", session_id)

    return turn


def write_legacy_session(legacy_root: Path, seed: int, index: int, messages: int) -> str:
    """A legacy ``.kimi_sessions/<id>.json`` with the user/assistant text of corpus session ``index``."""
    from store.legacy import LegacyKimiStore

    session = generate_session(seed, index, messages)
    items = [
        {"role": message.role if message.role in ("user", "assistant", "system") else "assistant", "content": message_text(message)}
        for message in session.messages
    ]
    store = LegacyKimiStore(legacy_root)
    session_id = f"legacy-{session.id}"
    if store.path_for(session_id).exists():
        store.path_for(session_id).unlink()
    store.append_exchange(session_id, os.environ.get("KIMI_MODEL") or LEGACY_MODEL, items)
    return session_id


class LoopRunner:
    """Runs coroutines one at a time on one event loop (as the server does), from sync code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()
