"""``IndexWatcher``: a watchdog observer on ``sessions/`` feeding debounced batches to an ``Indexer``.

Events only say *which* files to look at; the indexer reads each file and decides. So a missed
or duplicated event can only delay the index, and a periodic stat-only sync (``reconcile_seconds``)
plus one after every large burst repairs what the kernel dropped (inotify queue overflow).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from index.files import is_session_file_name
from index.indexer import Indexer
from index.models import ReindexReport
from index.state import record_error

log = logging.getLogger(__name__)
# A burst this large may have overflowed the kernel's event queue: follow it with a sync.
BURST_SIZE = 500
# Under a continuous stream of events, still flush at least this often (the first pending event
# waits at most this long): a steady 100 writes/s never leaves a quiet debounce window.
MAX_DELAY_SECONDS = 0.15


# index_pending looks at the queued files one by one (a stat each) up to this many; a larger
# queue (a bulk copy) is counted as it is.
QUEUED_CHECK_LIMIT = 256
# Seconds of full-text merging after each batch or idle wake-up (a chat turn stops it sooner).
MERGE_SECONDS = 0.05
_CHANGE_EVENTS = frozenset({"created", "modified", "moved", "deleted", "closed"})


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: IndexWatcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Opens and read-only closes are our own reads: reacting to them would loop forever.
        if event.is_directory or event.event_type not in _CHANGE_EVENTS:
            return
        paths = [event.src_path, getattr(event, "dest_path", "") or ""]
        self._watcher._note([os.fsdecode(p) for p in paths if p])


class IndexWatcher:
    """Keeps ``<root>/index.sqlite`` current while it runs (a daemon thread plus the observer).

    On ``start`` it runs an incremental sync, then applies file events in batches: events are
    collected until ``debounce_seconds`` pass without a new one, or ``max_delay_seconds``
    after the first pending one (default: the larger of ``MAX_DELAY_SECONDS`` and the
    debounce), then all touched files are indexed in one transaction. ``indexer``: an existing
    ``Indexer`` of the same root to write through (it is left open on ``stop``; its owner closes
    it); by default the watcher opens and closes one of its own. If ``index.sqlite`` is
    deleted while running, it is recreated and rebuilt. Errors are logged, never raised into
    the server; ``last_error`` keeps the latest.
    """

    def __init__(
        self,
        root: Path | str,
        debounce_seconds: float = 0.05,
        reconcile_seconds: float = 120.0,
        max_delay_seconds: float | None = None,
        indexer: Indexer | None = None,
        start_delay_seconds: float = 0.0,
    ) -> None:
        self.root = Path(root)
        self.debounce_seconds = debounce_seconds
        self.max_delay_seconds = max(MAX_DELAY_SECONDS, debounce_seconds) if max_delay_seconds is None else max_delay_seconds
        self.reconcile_seconds = reconcile_seconds
        # The server waits this long before its catch-up (a stat of every file) competes with
        # answering the first requests; index_pending is at least 1 meanwhile.
        self.start_delay_seconds = start_delay_seconds
        # A server passes its own Indexer: one write connection and one checkpointer per process.
        self._owns_indexer = indexer is None
        self.indexer = Indexer(self.root) if indexer is None else indexer
        self.last_error: BaseException | None = None
        self.reports: list[ReindexReport] = []
        self.merges = 0  # merge slices done (index.merging)
        self._pending: set[str] = set()
        self._batch: list[str] = []  # the batch being applied (index_pending counts it)
        self._first_event = 0.0
        self._last_event = 0.0
        self._busy = False
        self._condition = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._observer: Observer | None = None  # type: ignore[valid-type]

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> IndexWatcher:
        """Sync once, start watching; returns ``self``. Calling it twice is an error."""
        if self._thread is not None:
            raise RuntimeError("the watcher is already running")
        self.indexer.layout.sessions.mkdir(parents=True, exist_ok=True)
        self._stopping = False
        observer = Observer()
        observer.schedule(_Handler(self), str(self.indexer.layout.sessions), recursive=False)
        observer.daemon = True
        # Watch first, then sync: a write between the two is seen by one or the other.
        observer.start()
        self._observer = observer
        self._busy = True
        self.indexer.pending.watch(self.queued)
        self._thread = threading.Thread(target=self._run, name="index-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the observer and the worker (pending events are applied first)."""
        observer, thread = self._observer, self._thread
        if observer is not None:
            observer.stop()
            observer.join(timeout)
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if thread is not None:
            thread.join(timeout)
        self._observer = None
        self._thread = None
        self.indexer.pending.watch(None)
        if self._owns_indexer:
            self.indexer.close()

    def __enter__(self) -> IndexWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- events ----------------------------------------------------------------------------

    def queued(self) -> int:
        """Files with events not applied yet (pending or in the batch being written), except a
        chat turn's own writes, which the turn indexed already (``Indexer.reflects``)."""
        with self._condition:
            paths = [*self._pending, *self._batch]
        if len(paths) > QUEUED_CHECK_LIMIT:
            return len(paths)
        return sum(1 for path in paths if not self.indexer.reflects(path))

    def _note(self, paths: list[str]) -> None:
        wanted = [p for p in paths if is_session_file_name(os.path.basename(p))]
        if not wanted:
            return
        with self._condition:
            now = time.monotonic()
            if not self._pending:
                self._first_event = now
            self._pending.update(wanted)
            self._last_event = now
            self._condition.notify_all()

    def _take_batch(self) -> list[str] | None:
        """Wait for a settled batch; None when stopping with nothing pending."""
        with self._condition:
            while True:
                if self._pending:
                    now = time.monotonic()
                    quiet_for = now - self._last_event
                    waited = now - self._first_event
                    if self._stopping or quiet_for >= self.debounce_seconds or waited >= self.max_delay_seconds:
                        batch = sorted(self._pending)
                        self._pending.clear()
                        self._batch = batch
                        self._busy = True
                        return batch
                    self._condition.wait(min(self.debounce_seconds - quiet_for, self.max_delay_seconds - waited))
                    continue
                if self._stopping:
                    return None
                self._busy = False
                self._condition.notify_all()
                # Wake up now and then to notice a deleted index file and to reconcile.
                self._condition.wait(0.25)
                if not self._pending and not self._stopping:
                    return []

    def _guarded(self, action: str, work: Callable[[], ReindexReport | None]) -> bool:
        """Run ``work``; log and remember a failure instead of raising. True if it succeeded."""
        try:
            report = work()
            if report is not None:
                self.reports.append(report)
                del self.reports[:-50]
            return True
        except Exception as exc:  # the watcher must outlive any single failure
            self.last_error = exc
            log.exception("index watcher: %s failed", action)
            record_error(self.indexer.layout, f"{action}: {type(exc).__name__}: {exc}")
            return False

    def _run(self) -> None:
        # The catch-up runs here, never on the start-up path: the tools answer meanwhile, with
        # index_pending saying how much is left (index.pending logs the progress).
        if self.start_delay_seconds > 0:
            self.indexer.pending.starting()
            with self._condition:
                self._condition.wait_for(lambda: self._stopping, timeout=self.start_delay_seconds)
        # After a failure, an incremental sync (at most once a second) catches up on what the
        # failed work would have done: the failed files' stat differs from the files table.
        resync = False
        if self._stopping:
            self.indexer.pending.end()
        else:
            resync = not self._guarded("initial sync", self.indexer.sync)
        last_reconcile = time.monotonic()
        while True:
            batch = self._take_batch()
            if batch is None:
                break
            if batch:
                applied = self._guarded("indexing a batch", lambda: self.indexer.index_paths(batch))
                with self._condition:
                    self._batch = []
                if not applied:
                    resync = True
                elif len(batch) >= BURST_SIZE:
                    resync = True
                    last_reconcile = 0.0
            else:
                self._guarded("checking the index file", self.indexer.rebuild_if_needed)
            # The writes leave FTS5's merging to us (index.merging): a little at a time, yielding to turns.
            self._guarded("merging full-text segments", self._merge_some)
            now = time.monotonic()
            due = now - last_reconcile >= (1.0 if resync else self.reconcile_seconds)
            if due:
                resync = not self._guarded("sync", self.indexer.sync)
                last_reconcile = time.monotonic()
            with self._condition:
                if not self._pending:
                    self._busy = False
                self._condition.notify_all()
        with self._condition:
            self._busy = False
            self._condition.notify_all()

    def _merge_some(self) -> None:
        self.merges += self.indexer.merge_deferred(MERGE_SECONDS)

    # -- for tests and benchmarks ----------------------------------------------------------

    def wait_until_idle(self, timeout: float = 10.0) -> bool:
        """Wait (bounded poll) until no events are pending, no batch is running, and every
        file in ``sessions/`` has the stat the index recorded. False if ``timeout`` passed first.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._condition:
                settled = (
                    not self._pending
                    and not self._busy
                    and time.monotonic() - self._last_event >= self.debounce_seconds
                )
            if settled and self.running and self._matches():
                return True
            time.sleep(0.02)
        return False

    def _matches(self) -> bool:
        return Indexer(self.root).signature_matches()
