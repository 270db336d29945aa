"""The index kept current while a server runs: the watcher started and stopped around it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def background_indexing(root: Path, indexer: Any = None) -> Iterator[Any]:
    """Run the index watcher (yielded) while the server runs (started on entry, stopped on exit).

    ``indexer``: the app's ``Indexer``, shared so the process has one index writer (one write
    connection, one WAL checkpointer); it is closed here on exit, after the watcher stopped.
    """
    from index import IndexWatcher

    watcher = IndexWatcher(root, indexer=indexer)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop()
        if indexer is not None:
            indexer.close()

