"""The derived search index: SQLite FTS5 mirror of the session files (see docs/search-index.md).

``Indexer`` writes it, ``IndexWatcher`` keeps it current from file events, ``SearchIndex``
queries it. Deleting ``index.sqlite`` loses nothing: it is rebuilt from ``sessions/``.
``Indexer`` is a facade over one module per job: ``connection`` (opening, recovery),
``sync`` (incremental), ``rebuild`` and ``bulk_load`` (full), ``turn`` (after a chat turn's
write, from the store's ``WriteReceipt``), ``maintenance`` (merges), ``schema`` (the tables),
``listing`` (every listing's page), ``pending`` (``index_pending``), ``state`` (``status``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index.indexer import Indexer
    from index.models import IndexDifference, IndexStats, InvalidQuery, ReindexReport, SearchHit, SwitchRecord
    from index.query import SearchIndex
    from index.watcher import IndexWatcher

# Imported on first use (PEP 562): ``from index.models import InvalidQuery`` at the server's
# start-up must not pull in SQLite, sqlite-utils and watchdog before the first request.
_HOMES = {
    "IndexDifference": "index.models",
    "IndexStats": "index.models",
    "InvalidQuery": "index.models",
    "ReindexReport": "index.models",
    "SearchHit": "index.models",
    "SwitchRecord": "index.models",
    "Indexer": "index.indexer",
    "SearchIndex": "index.query",
    "IndexWatcher": "index.watcher",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'index' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = sorted(_HOMES)
