"""What a turn and the tools work with: the store, the models, the index — injectable for tests.

Each collaborator is a small typed protocol, so a test or a benchmark can hand in a scripted
adapter, an in-memory index or none at all; :func:`default_app` is the production wiring.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from adapters.base import Adapter
from chat.prompt import Estimator
from store import Session, SessionStore, resolve_legacy_root
from store.receipt import WriteReceipt

log = logging.getLogger("llm_mcp_server")


class IndexWriter(Protocol):
    """Keeps the derived index current with what the store wrote (read-your-writes for search)."""

    def on_written(self, receipt: WriteReceipt[Any]) -> object: ...

    def index_paths(self, paths: Sequence[Path]) -> object: ...


class IndexReader(Protocol):
    """The queries every listing and search is served by (``index.SearchIndex``)."""

    def search(self, query: str, **filters: Any) -> list[Any]: ...

    def model_switch_history(self, **filters: Any) -> list[Any]: ...

    def recent_sessions(self, limit: int) -> list[Any]: ...

    def list_sessions(self, filters: Any = None, limit: int = 50, offset: int = 0) -> Any: ...

    def model_switch_page(self, session_id: str | None = None, model: str | None = None, limit: int | None = 100, offset: int = 0) -> Any: ...


LegacyMigrator = Callable[[Path, SessionStore, str], Session | None]


@dataclass
class App:
    """Everything the tools use. ``index``/``reader`` are None when no index is configured."""

    store: SessionStore
    legacy_root: Path
    resolve_adapter: Callable[[str], Adapter]
    context_window: Callable[[str], int]
    estimate_tokens: Estimator
    index: IndexWriter | None = None
    reader: IndexReader | None = None
    list_models: Callable[[], list[Any]] | None = None
    migrate_legacy: LegacyMigrator | None = None
    #: Session files written but not yet in the index (``Indexer.pending_files``): ``index_pending``.
    pending: Callable[[], int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def index_pending(self) -> int:
        """What the listing and search results report as ``index_pending`` (0 when current)."""
        return self.pending() if self.pending is not None else 0

    def indexed(self, receipt: WriteReceipt[Any]) -> None:
        """Mirror what was just written into the index; a failure is logged, never raised
        (the background watcher catches up, and the write itself succeeded)."""
        if self.index is None:
            return
        try:
            self.index.on_written(receipt)
        except Exception:
            log.warning("indexing %s failed; the background watcher will retry", receipt.path, exc_info=True)


class _LazyReader:
    """``index.SearchIndex`` opened on first use (tools run on worker threads: opened once).

    Opened with ``build=False``: a read never syncs (the watcher catches up in the background).
    """

    def __init__(self, root: Path, pending: Any = None) -> None:
        self._root = root
        self._pending = pending  # the writer's index.pending.PendingFiles
        self._opening = threading.Lock()
        self._index: Any = None

    def _open(self) -> Any:
        with self._opening:
            if self._index is None:
                from index import SearchIndex

                self._index = SearchIndex(self._root, build=False, pending=self._pending)
            return self._index

    def search(self, query: str, **filters: Any) -> list[Any]:
        return self._open().search(query, **filters)

    def model_switch_history(self, **filters: Any) -> list[Any]:
        return self._open().model_switch_history(**filters)

    def recent_sessions(self, limit: int) -> list[Any]:
        return self._open().recent_sessions(limit)

    def list_sessions(self, filters: Any = None, limit: int = 50, offset: int = 0) -> Any:
        return self._open().list_sessions(filters, limit, offset)

    def model_switch_page(self, session_id: str | None = None, model: str | None = None, limit: int | None = 100, offset: int = 0) -> Any:
        return self._open().model_switch_page(session_id, model, limit, offset)


def _resolve(model: str) -> Adapter:
    from adapters import registry

    return registry.resolve(model)


def _context_window(model: str) -> int:
    from adapters import context_windows

    return context_windows.context_window(model)


def _estimate_tokens(messages: Sequence[Any]) -> int:
    from adapters import context_windows

    return context_windows.estimate_tokens(messages)


def _list_models(**filters: Any) -> Any:
    from adapters import catalog

    return catalog.model_catalog(**filters)


def _migrate_legacy(root: Path, store: SessionStore, session_id: str) -> Session | None:
    from store.legacy import migrate_legacy_session

    return migrate_legacy_session(root, store, session_id)


def default_app(root: Path, legacy_root: Path | None = None) -> App:
    """The production wiring: the provider registry, the token table and the SQLite index.

    One ``Indexer`` (the process's one index writer, shared with the background watcher) and
    one lazily opened ``SearchIndex`` serve the whole process, so start-up never waits for a rebuild.
    """
    from index.indexer import Indexer

    # The providers' modules are imported by the first call that needs them, not at start-up.
    indexer = Indexer(root)
    return App(
        store=SessionStore(root),
        legacy_root=legacy_root or resolve_legacy_root(),
        resolve_adapter=_resolve,
        context_window=_context_window,
        estimate_tokens=_estimate_tokens,
        index=indexer,
        reader=_LazyReader(root, indexer.pending),
        pending=indexer.pending_files,
        list_models=_list_models,
        migrate_legacy=_migrate_legacy,
    )
