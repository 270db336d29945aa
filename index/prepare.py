"""Reading session files into what the index writes, here or in worker processes.

``decode_file`` reads, hashes and decodes one file: the one rule every sync and ``check`` use.
``prepared_chunks`` does that for a full rebuild over chunks of files and adds the rows each
file gives, in a pool of worker processes when there are enough files: decoding (JSON, schema
validation, row building) is most of a full rebuild's CPU time, and the one writer connection
stays in the calling process. A worker hands a chunk's rows back as one small SQLite database
(``index.chunk_tables``) that the writer copies from inside SQLite. Chunks come back in order,
a few ahead of the writer, so the rows are written in file-name order (as without workers) and
memory stays bounded.
"""

from __future__ import annotations

import errno
import hashlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.blob_text import BlobTexts
from index.chunk_tables import pack
from index.rows import message_rows, session_row, switch_rows
from store.codec import UnreadableSessionFile, decode_session, read_file_no_follow
from store.errors import UnsupportedSchemaVersion
from store.schema import Session

SYMLINK_REASON = "the session file is a symlink; symlinks in sessions/ are not followed"
# Chunks handed to the pool and not yet written, per worker: enough to keep the workers busy
# while the writer fills the full-text tables (a batch of FTS_BATCH_CHUNKS chunks takes as long
# as decoding about five chunks), few enough to bound the rows held in memory (~8 MB a chunk).
CHUNKS_AHEAD_PER_WORKER = 8
# Chunks this process may decode itself, ahead of the one being written, while it waits.
LOCAL_CHUNKS_AHEAD = 4
# How often a worker checks that the process that started it is still there.
PARENT_CHECK_SECONDS = 0.5


@dataclass(frozen=True)
class Decoded:
    data: bytes
    sha256: str
    stat: os.stat_result
    session: Session | None
    problem: str | None  # why it is unreadable
    refused: str | None  # newer schema: why it is left alone


@dataclass(frozen=True)
class Rows:
    """The rows one readable session file gives (``index.rows``)."""

    session: tuple[Any, ...]
    messages: list[tuple[Any, ...]]
    switches: list[tuple[Any, ...]]


@dataclass(frozen=True)
class PreparedFile:
    """One file as a worker saw it: ``decoded`` is None if it vanished; ``rows`` is set if it is
    readable (then ``decoded`` carries neither the bytes nor the session, which stay in the worker)."""

    rel: str
    decoded: Decoded | None
    rows: Rows | None


@dataclass(frozen=True)
class PreparedChunk:
    """A chunk's files in order. When a worker decoded them, their rows are in ``tables`` (an
    ``index.chunk_tables`` database, ``file_no`` = the place in ``files``) instead of ``rows``."""

    files: list[PreparedFile]
    tables: bytes | None = None


def decode_file(path: Path) -> Decoded | None:
    """Read and decode ``path``; None if it vanished. Never raises for bad content."""
    try:
        st = os.lstat(path)
        data = read_file_no_follow(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            st = os.lstat(path)
            return Decoded(b"", "", st, None, SYMLINK_REASON, None)
        raise
    digest = hashlib.sha256(data).hexdigest()
    try:
        session = decode_session(data, path)
    except UnreadableSessionFile as exc:
        return Decoded(data, digest, st, None, exc.reason, None)
    except UnsupportedSchemaVersion as exc:
        return Decoded(data, digest, st, None, None, str(exc))
    if session.id != path.stem:
        problem = f"the file name says id {path.stem!r} but the document says {session.id!r}"
        return Decoded(data, digest, st, None, problem, None)
    return Decoded(data, digest, st, session, None, None)


def prepare_files(root: Path, rels: Sequence[str], attachment_text: BlobTexts) -> list[PreparedFile]:
    """Decode the files ``rels`` (``sessions/<name>`` under ``root``) and build their rows."""
    prepared = []
    for rel in rels:
        decoded = decode_file(root / rel)
        if decoded is None or decoded.session is None:
            slim = decoded if decoded is None else Decoded(b"", decoded.sha256, decoded.stat, None, decoded.problem, decoded.refused)
            prepared.append(PreparedFile(rel, slim, None))
            continue
        session = decoded.session
        rows = Rows(session_row(session, rel), message_rows(session, attachment_text=attachment_text), switch_rows(session))
        prepared.append(PreparedFile(rel, Decoded(b"", decoded.sha256, decoded.stat, None, None, None), rows))
    return prepared


# In a worker process: one attachment-text cache per root, kept across chunks.
_worker_texts: dict[str, BlobTexts] = {}


def _prepare_in_worker(root: str, rels: list[str]) -> PreparedChunk:
    texts = _worker_texts.get(root)
    if texts is None:
        texts = _worker_texts[root] = BlobTexts(root)
    prepared = prepare_files(Path(root), rels, texts)
    tables = pack(
        [(number, item.rows.session, item.rows.messages, item.rows.switches) for number, item in enumerate(prepared) if item.rows]
    )
    return PreparedChunk([PreparedFile(item.rel, item.decoded, None) for item in prepared], tables)


def _start_worker(parent: int) -> None:
    # Ctrl-C reaches the whole process group: the parent alone handles it (and stops the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A worker waits for work on a pipe it holds both ends of: if the parent is killed, nothing
    # would ever wake it. It leaves when it is handed to another parent.
    threading.Thread(target=_exit_with_parent, args=(parent,), name="exit-with-parent", daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


class _Ahead:
    """A chunk handed to the pool, or decoded here (``result``) while its turn had not come."""

    def __init__(self, chunk: Sequence[str], future: Future[PreparedChunk]) -> None:
        self.chunk = chunk
        self.future = future
        self.result: PreparedChunk | None = None

    def ready(self) -> bool:
        return self.result is not None or self.future.done()

    def take(self) -> PreparedChunk:
        return self.result if self.result is not None else self.future.result()


def prepared_chunks(
    root: Path, chunks: Sequence[Sequence[str]], workers: int, attachment_text: BlobTexts
) -> Iterator[PreparedChunk]:
    """``prepare_files`` of each chunk, in order, by ``workers`` processes: this one and
    ``workers - 1`` worker processes (none if ``workers`` <= 1).

    The caller writes each chunk before asking for the next. When the next chunk is not ready,
    this process decodes one that no worker has started yet (the last queued) instead of
    waiting, so it shares the decoding whenever writing leaves it time. Close the iterator
    (``contextlib.closing``) if you stop early: that stops the pool.
    """
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield PreparedChunk(prepare_files(root, chunk, attachment_text))
        return
    helpers = workers - 1
    pool = ProcessPoolExecutor(
        max_workers=helpers, mp_context=_start_method(), initializer=_start_worker, initargs=(os.getpid(),)
    )
    # The pool marks up to 2 * helpers + 1 chunks as started (one running per worker, the rest in
    # its call queue); the ones beyond stay cancellable, for this process to take. Whatever this
    # process takes is handed back to the pool at once (``fill``): taking from the pool's queue
    # must never leave a worker idle (the writer's own work is the longer part).
    pooled = helpers * CHUNKS_AHEAD_PER_WORKER + 1
    try:
        waiting: deque[_Ahead] = deque()
        upcoming = iter(chunks)

        def fill() -> None:
            while sum(1 for item in waiting if item.result is None) < pooled:
                chunk = next(upcoming, None)
                if chunk is None:
                    return
                waiting.append(_Ahead(chunk, pool.submit(_prepare_in_worker, str(root), list(chunk))))

        def take_one() -> bool:
            """Decode here the next chunk no worker has started; False if there is none (or enough
            are decoded here already)."""
            if sum(1 for item in waiting if item.result is not None) >= LOCAL_CHUNKS_AHEAD:
                return False
            # The nearest one: it is written soon, so the chunks decoded here wait least.
            queued = next((item for item in waiting if item.result is None and item.future.cancel()), None)
            if queued is None:
                return False
            queued.result = PreparedChunk(prepare_files(root, queued.chunk, attachment_text))
            fill()
            return True

        fill()
        while waiting:
            while not waiting[0].ready() and take_one():
                pass
            yield waiting.popleft().take()
            fill()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _start_method() -> multiprocessing.context.BaseContext:
    """Fork when this process runs one thread: workers start in milliseconds and nothing is
    imported again (a caller's unguarded ``__main__`` would be, by "spawn"). With other threads
    running, a forked child could inherit a lock one of them holds: spawn then."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def default_workers(files: int, chunk: int) -> int:
    """Processes that decode a full rebuild of ``files`` files (this one included): one per usable
    CPU, or this one alone when there are too few files to pay for starting workers."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return cpus if files >= 4 * chunk else 1
