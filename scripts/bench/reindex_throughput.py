"""Full reindex throughput (sessions/s, messages/s) and the time of a no-op incremental reindex.

Deletes ``<root>/index.sqlite`` (derived, safe to delete), rebuilds it with
``Indexer(root).sync(full=True)``, then runs ``Indexer(root).sync()`` with nothing changed, in a
fresh ``Indexer`` as a new process would. The corpus is written first if ``--root`` has none.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pydantic import BaseModel  # noqa: E402

from scripts.bench.corpus import default_jobs, stderr_progress  # noqa: E402
from scripts.bench.machine import describe, save_results  # noqa: E402
from scripts.bench.workloads import add_corpus_arguments, ensure_corpus  # noqa: E402
from store.paths import Layout, resolve_root  # noqa: E402


class ReindexFigures(BaseModel):
    sessions: int
    messages: int
    full_seconds: float
    sessions_per_second: float
    messages_per_second: float
    noop_seconds: float
    index_bytes: int
    corpus_bytes: int


def remove_index(root: Path) -> None:
    """Delete the derived index files (the database and its WAL/SHM companions)."""
    index = Layout(root).index
    for path in (index, index.with_name(index.name + "-wal"), index.with_name(index.name + "-shm")):
        path.unlink(missing_ok=True)


def full_reindex(root: Path, progress: bool = True) -> float:
    """Seconds to build the index of ``root`` from scratch."""
    from index import Indexer

    remove_index(root)
    started = time.perf_counter()
    with Indexer(root) as indexer:
        report = indexer.sync(full=True, progress=stderr_progress("reindex") if progress else None)
    elapsed = time.perf_counter() - started
    if report.errors or report.quarantined:
        raise RuntimeError(f"reindex reported problems: {report.summary()}")
    return elapsed


def noop_reindex(root: Path) -> float:
    """Seconds of an incremental sync that finds nothing changed (fresh ``Indexer``)."""
    from index import Indexer

    started = time.perf_counter()
    with Indexer(root) as indexer:
        report = indexer.sync()
    elapsed = time.perf_counter() - started
    if report.indexed:
        raise RuntimeError(f"a no-op sync indexed {report.indexed} files: {report.summary()}")
    return elapsed


def _size(paths: Sequence[Path]) -> int:
    return sum(path.stat().st_size for path in paths if path.exists())


def measure(root: Path, sessions: int, messages: int) -> ReindexFigures:
    full = full_reindex(root)
    noop = noop_reindex(root)
    layout = Layout(root)
    index_files = [layout.index, layout.index.with_name(layout.index.name + "-wal")]
    return ReindexFigures(
        sessions=sessions,
        messages=sessions * messages,
        full_seconds=full,
        sessions_per_second=sessions / full,
        messages_per_second=sessions * messages / full,
        noop_seconds=noop,
        index_bytes=_size(index_files),
        corpus_bytes=_size(list(layout.sessions.iterdir())),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reindex_throughput.py", description=__doc__.split("\n\n")[0])
    add_corpus_arguments(parser, sessions=10_000)
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.sessions < 1 or args.messages < 1:
        print("reindex_throughput.py: --sessions and --messages must be >= 1", file=sys.stderr)
        return 2
    machine = describe()
    root = resolve_root(args.root)
    ensure_corpus(root, args.sessions, args.messages, args.seed, jobs=default_jobs(), progress=stderr_progress("corpus"))
    figures = measure(root, args.sessions, args.messages)
    print(machine.line())
    print(
        f"full reindex of {figures.sessions:,} sessions / {figures.messages:,} messages: {figures.full_seconds:.1f} s "
        f"({figures.sessions_per_second:,.0f} sessions/s, {figures.messages_per_second:,.0f} messages/s); "
        f"index {figures.index_bytes / 1e6:.0f} MB for {figures.corpus_bytes / 1e6:.0f} MB of JSON"
    )
    print(f"no-op incremental reindex: {figures.noop_seconds:.2f} s")
    if args.json:
        save_results(args.json, machine, figures=figures)
    return 0


if __name__ == "__main__":
    from scripts.bench.corpus import cli_exit_code

    sys.exit(cli_exit_code(main))
