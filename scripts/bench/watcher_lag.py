"""Watcher lag: the time from a session file written (atomic rename done) to its new message
being in the index, at a sustained write rate, p50/p95/p99.

A writer thread appends one message to a random corpus session every ``1/rate`` seconds
through ``SessionStore.append_message`` (the same path the server uses) for ``--seconds``;
``IndexWatcher`` runs in the same process, as in the server. The main thread polls the index
(read-only SQLite connection, every 5 ms) for the written message ids. At the end a sample of
the probe words is looked up with ``SearchIndex.search`` to confirm "in the index" means
"searchable".
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pydantic import BaseModel  # noqa: E402

from scripts.bench.corpus import default_jobs, stderr_progress  # noqa: E402
from scripts.bench.machine import describe, save_results  # noqa: E402
from scripts.bench.measure import Latency, format_table, summarize  # noqa: E402
from scripts.bench.workloads import add_corpus_arguments, ensure_corpus  # noqa: E402
from store.paths import Layout, resolve_root  # noqa: E402
from store.schema import Message  # noqa: E402
from store.session_store import SessionStore  # noqa: E402

POLL_SECONDS = 0.005


class LagFigures(BaseModel):
    rate_wanted: float
    rate_achieved: float
    seconds: float
    writes: int
    unseen: int
    write: Latency
    lag: Latency
    searchable_checked: int


class _Write(BaseModel):
    session_id: str
    message_id: str
    probe: str
    done_at: float


def _probe(number: int) -> str:
    return f"lagprobe{number:07d}"


def _writer(store: SessionStore, ids: list[str], rate: float, seconds: float, seed: int, out: list[_Write], durations: list[float]) -> None:
    rng = random.Random(seed)
    total = int(rate * seconds)
    started = time.perf_counter()
    for number in range(total):
        due = started + number / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        session_id = rng.choice(ids)
        message = Message(role="user", content=f"{_probe(number)} is the watcher keeping up? 观察者")
        begun = time.perf_counter()
        store.append_message(session_id, message)
        done = time.perf_counter()
        durations.append(done - begun)
        out.append(_Write(session_id=session_id, message_id=message.id, probe=_probe(number), done_at=done))


def measure_lag(root: Path, rate: float, seconds: float, seed: int = 1, deadline_seconds: float = 30.0) -> LagFigures:
    """Run the workload against ``root`` (a corpus; its index is created or brought up to date)."""
    from index import IndexWatcher, SearchIndex

    layout = Layout(root)
    store = SessionStore(root)
    ids = sorted(path.stem for path in layout.sessions.iterdir() if path.suffix == ".json")
    if not ids:
        raise ValueError(f"no sessions under {layout.sessions}: write a corpus first")
    watcher = IndexWatcher(root)
    watcher.start()
    try:
        if not watcher.wait_until_idle(timeout=600):
            raise RuntimeError("the watcher did not finish its start-up sync within 600 s")
        writes: list[_Write] = []
        write_durations: list[float] = []
        thread = threading.Thread(
            target=_writer, args=(store, ids, rate, seconds, seed, writes, write_durations), name="bench-writer", daemon=True
        )
        seen_at: dict[str, float] = {}
        conn = sqlite3.connect(f"file:{layout.index}?mode=ro", uri=True, check_same_thread=False)
        started = time.perf_counter()
        thread.start()
        end = started + seconds + deadline_seconds
        try:
            while time.perf_counter() < end:
                pending = [write for write in list(writes) if write.message_id not in seen_at]
                if pending:
                    marks = ",".join("?" * len(pending))
                    rows = conn.execute(
                        f"SELECT message_id FROM messages WHERE session_id IN ({marks}) AND message_id IN ({marks})",
                        [w.session_id for w in pending] + [w.message_id for w in pending],
                    ).fetchall()
                    now = time.perf_counter()
                    for (message_id,) in rows:
                        seen_at.setdefault(message_id, now)
                elif not thread.is_alive():
                    break
                time.sleep(POLL_SECONDS)
        finally:
            conn.close()
        thread.join(timeout=5)
        elapsed = (writes[-1].done_at - started) if writes else seconds
        lags = [seen_at[w.message_id] - w.done_at for w in writes if w.message_id in seen_at]
        sample = writes[:: max(1, len(writes) // 20)]
        with SearchIndex(root) as index:
            for write in sample:
                hits = index.search(write.probe, session_id=write.session_id)
                if not any(hit.message_id == write.message_id for hit in hits):
                    raise RuntimeError(f"{write.probe} is in the messages table but not searchable")
    finally:
        watcher.stop()
    if not lags:
        raise RuntimeError("no write became visible in the index")
    return LagFigures(
        rate_wanted=rate,
        rate_achieved=len(writes) / elapsed if elapsed > 0 else 0.0,
        seconds=seconds,
        writes=len(writes),
        unseen=len(writes) - len(lags),
        write=summarize("append_message (writer)", write_durations),
        lag=summarize("written -> in index", lags),
        searchable_checked=len(sample),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="watcher_lag.py", description=__doc__.split("\n\n")[0])
    add_corpus_arguments(parser, sessions=2_000)
    parser.add_argument("--rate", type=float, default=100.0, help="writes per second (default: 100)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to write (default: 10)")
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.sessions < 1 or args.messages < 1 or args.rate <= 0 or args.seconds <= 0:
        print("watcher_lag.py: --sessions, --messages must be >= 1 and --rate, --seconds > 0", file=sys.stderr)
        return 2
    machine = describe()
    root = resolve_root(args.root)
    ensure_corpus(root, args.sessions, args.messages, args.seed, jobs=default_jobs(), progress=stderr_progress("corpus"))
    figures = measure_lag(root, args.rate, args.seconds, seed=args.seed)
    print(machine.line())
    print(
        f"{figures.writes} writes in {figures.seconds:.0f} s ({figures.rate_achieved:.1f}/s achieved, "
        f"{figures.rate_wanted:.0f}/s wanted), {figures.unseen} never seen, "
        f"{figures.searchable_checked} checked searchable"
    )
    print(format_table([figures.write.row(), figures.lag.row()]))
    if args.json:
        save_results(args.json, machine, figures=figures)
    return 0


if __name__ == "__main__":
    from scripts.bench.corpus import cli_exit_code

    sys.exit(cli_exit_code(main))
