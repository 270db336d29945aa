"""The derived search index: SQLite FTS5 mirror of the session files (see docs/search-index.md).

``Indexer`` writes it, ``IndexWatcher`` keeps it current from file events, ``SearchIndex``
queries it. Deleting ``index.sqlite`` loses nothing: it is rebuilt from ``sessions/``.
``Indexer`` is a facade over one module per job: ``connection`` (opening, recovery),
``sync`` (incremental), ``rebuild`` and ``bulk_load`` (full), ``turn`` (after a chat turn's
write, from the store's ``WriteReceipt``), ``maintenance`` (merges), ``schema`` (the tables).
"""

from __future__ import annotations

from index.indexer import Indexer
from index.models import (
    IndexDifference,
    IndexStats,
    InvalidQuery,
    ReindexReport,
    SearchHit,
    SwitchRecord,
)
from index.query import SearchIndex
from index.watcher import IndexWatcher

__all__ = [
    "IndexDifference",
    "IndexStats",
    "IndexWatcher",
    "Indexer",
    "InvalidQuery",
    "ReindexReport",
    "SearchHit",
    "SearchIndex",
    "SwitchRecord",
]
