"""Helpers for the chat-core tests: an ``App`` wired to scripted in-process providers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from adapters.base import ChatReply, ChatRequest
from chat.compression import SUMMARISER_SYSTEM
from adapters.errors import MissingApiKey, UnknownModel
from adapters.scripted import ScriptedAdapter
from store import Message, SessionStore, WriteReceipt, message_text

import server

PROVIDERS = {"gpt-test": "openai", "claude-test": "anthropic", "small-test": "openai", "kimi-k2-0711-preview": "moonshot", "kimi-latest": "moonshot"}


class ScriptedProvider(ScriptedAdapter):
    """The project's ``ScriptedAdapter`` (queued replies, else ``echo: <last user text>``) that
    also answers summarisation requests (``chat.compression``) with ``summary_text``."""

    def __init__(self, model: str, provider: str) -> None:
        super().__init__(provider=provider)
        self.model = model
        self.summary_text = f"summary by {model}"

    async def complete(self, request: ChatRequest) -> ChatReply:
        if request.system == SUMMARISER_SYSTEM and not self.pending:
            self.requests.append(request)
            return ChatReply(text=self.summary_text, model=request.model, provider=self.provider)
        return await super().complete(request)


class RecordingIndex:
    """An ``IndexWriter`` that records the paths it was asked to index."""

    def __init__(self, indexed: list[list[Path]]) -> None:
        self.indexed = indexed

    def on_written(self, receipt: Any) -> None:
        self.indexed.append([receipt.path])

    def index_paths(self, paths: Sequence[Path]) -> None:
        self.indexed.append(list(paths))


def simple_estimate(messages: Sequence[Message]) -> int:
    return sum(4 + len(message_text(message)) // 4 for message in messages)


class RecordingIndex:
    """A ``server.IndexWriter`` that records the paths it is told of, one list per call."""

    def __init__(self, indexed: list[list[Path]]) -> None:
        self.indexed = indexed

    def on_written(self, receipt: WriteReceipt[Any]) -> None:
        self.indexed.append([receipt.path])

    def index_paths(self, paths: Iterable[Path]) -> None:
        self.indexed.append(list(paths))


def make_app(tmp_path: Path, windows: dict[str, int] | None = None) -> tuple[server.App, dict[str, ScriptedProvider]]:
    providers = {model: ScriptedProvider(model, provider) for model, provider in PROVIDERS.items()}
    sizes = {"small-test": 200, **(windows or {})}

    def resolve(model: str) -> ScriptedProvider:
        if model == "gemini-nokey":
            raise MissingApiKey("GEMINI_API_KEY", model)
        if model not in providers:
            raise UnknownModel(model)
        return providers[model]

    indexed: list[list[Path]] = []
    app = server.App(
        store=SessionStore(tmp_path / "root"),
        legacy_root=tmp_path / "legacy",
        resolve_adapter=resolve,
        context_window=lambda model: sizes.get(model, 100_000),
        estimate_tokens=simple_estimate,
        index=RecordingIndex(indexed),
        extra={"indexed": indexed},
    )
    return app, providers


def make_indexed_app(tmp_path: Path, windows: dict[str, int] | None = None) -> tuple[server.App, dict[str, ScriptedProvider]]:
    """``make_app`` plus the real SQLite index, the real lazy migration and a model list."""
    from index import Indexer, SearchIndex
    from store.legacy.migration import migrate_legacy_session

    app, providers = make_app(tmp_path, windows)
    root = app.store.root
    indexer = Indexer(root)
    searcher = SearchIndex(root)
    app.index = indexer
    app.reader = searcher
    app.migrate_legacy = migrate_legacy_session
    app.list_models = lambda: [{"pattern": model, "provider": provider, "configured": True} for model, provider in PROVIDERS.items()]
    app.extra["closers"] = [indexer.close, searcher.close]
    return app, providers


def loopback_app(root: Path, adapters: dict[str, Any], window: int = 100_000, estimate: Any = None) -> server.App:
    """An ``App`` whose models are the given real adapters (pointed at loopback fakes), no index."""
    from adapters.context_windows import estimate_tokens

    return server.App(
        store=SessionStore(root),
        legacy_root=root.parent / "legacy",
        resolve_adapter=lambda model: adapters[model],
        context_window=lambda model: window,
        estimate_tokens=estimate or estimate_tokens,
    )


def unified_turn(app: server.App, prompt: str, model: str, session_id: str | None, system: str | None = None) -> dict[str, Any]:
    """One ``chat`` turn through ``server._chat_unified``; its result."""
    import anyio

    return anyio.run(lambda: chat_unified(app, prompt, model, session_id, system))


async def chat_unified(
    app: server.App,
    prompt: str,
    model: str,
    session_id: str | None = None,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    reasoning_effort: str | None = None,
    progress: Any = None,
    watch: Any = None,
    files: list[str] | None = None,
    images: list[str] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """One turn through ``chat.run_turn`` with the options spelled out, as the ``chat`` tool passes them."""
    from chat import TurnOptions, run_turn

    options = TurnOptions.checked(system=system, temperature=temperature, max_tokens=max_tokens,
                                  reasoning_effort=reasoning_effort, files=files, images=images, title=title)
    return (await run_turn(app, prompt, model, session_id, options, progress=progress, watch=watch)).as_dict()
