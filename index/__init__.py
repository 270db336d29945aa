"""The derived search index: SQLite FTS5 mirror of the session files (see docs/search-index.md).

``Indexer`` writes it, ``IndexWatcher`` keeps it current from file events, ``SearchIndex``
queries it. Deleting ``index.sqlite`` loses nothing: it is rebuilt from ``sessions/``.
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
