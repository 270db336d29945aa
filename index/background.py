"""The index kept current while a server runs: the watcher started and stopped around it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def background_indexing(root: Path, indexer: Any = None, *, start_delay_seconds: float = 0.0) -> Iterator[Any]:
    """Run the index watcher (yielded) while the server runs (started on entry, stopped on exit).

    ``indexer``: the app's ``Indexer``, shared so the process has one index writer (one write
    connection, one WAL checkpointer); it is closed here on exit, after the watcher stopped.
    ``start_delay_seconds``: the catch-up over every file waits this long (the first requests first).
    """
    from index import IndexWatcher

    watcher = IndexWatcher(root, indexer=indexer, start_delay_seconds=start_delay_seconds)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop()
        if indexer is not None:
            indexer.close()

