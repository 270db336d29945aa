"""Build, update, check or watch the search index (<root>/index.sqlite) from the session files.

A thin command line over ``index.Indexer`` / ``index.IndexWatcher``; run with ``--help``.
Exit codes: 0 done (or --check found no difference); 1 --check found differences or some
file could not be handled; 2 usage error; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

if __package__ in (None, ""):  # run as `python scripts/reindex.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from index import Indexer, IndexWatcher, ReindexReport  # noqa: E402
from index.check import index_file_problem  # noqa: E402
from store import SessionStore  # noqa: E402
from utils.progress import ProgressBar  # noqa: E402
from store.existing_root import NoStore, require_store  # noqa: E402
from store.paths import SESSIONS_DIR_ENV, Layout, resolve_root  # noqa: E402

# The progress bar (on a terminal only) appears once the work has taken this long.
PROGRESS_AFTER_SECONDS = 1.0

DESCRIPTION = f"""\
The session files (<root>/sessions/*.json) are the truth; <root>/index.sqlite is a derived
SQLite FTS5 mirror used by search. This command brings the index up to date.

  (default)  incremental: index new and changed files, drop rows of deleted ones; files whose
             size and modification time are unchanged are skipped without being read
  --full     re-read every file and rebuild every table and full-text index (the files are
             decoded by one process per CPU: --jobs)
  --check    compare the index with the files without changing anything; prints each
             difference and exits 1 if there is any
  --watch    keep the index current as files change (Ctrl-C stops)
  --views    also rebuild the by-model/ and by-date/ symlink views from the files (after a
             git pull brought sessions written on another machine; reads every file)

Deleting index.sqlite is always safe: the next run rebuilds it with identical results.
Unreadable session files are moved to <root>/quarantine/ (with a .reason.txt) and reported;
files written by a newer version of this program are skipped and left in place.
The root is --root, else ${SESSIONS_DIR_ENV}, else ./.llm_sessions; except with --watch it must
hold a store (a sessions/ folder): none is created (exit 2, naming the folder looked at).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reindex.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--root", metavar="DIR", help=f"session root (default: ${SESSIONS_DIR_ENV}, else ./.llm_sessions)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="re-read every file and rebuild the index completely")
    mode.add_argument("--check", action="store_true", help="report differences between index and files; exit 1 if any")
    mode.add_argument("--watch", action="store_true", help="keep the index current until Ctrl-C")
    parser.add_argument(
        "--views", action="store_true",
        help="after indexing, rebuild the by-model/ and by-date/ views from the files (not with --check/--watch)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout (for machines)")
    parser.add_argument(
        "--jobs", type=int, default=None, metavar="N",
        help="with --full: processes that decode the files, this one included (default: one per CPU; 1: no workers)",
    )
    parser.add_argument(
        "--debounce", type=float, default=0.2, metavar="SECONDS",
        help="with --watch: wait this long after the last file event before indexing (default 0.2)",
    )
    return parser


def _print_report(report: ReindexReport, as_json: bool, out: TextIO, err: TextIO) -> None:
    if as_json:
        out.write(report.model_dump_json() + "\n")
        return
    out.write(report.summary() + "\n")
    for record in report.quarantined:
        err.write(f"quarantined {record.original_path} -> {record.quarantined_path}: {record.reason}\n")
    for reason in report.refused:
        err.write(f"skipped: {reason}\n")
    for error in report.errors:
        err.write(f"error: {error}\n")


def run_sync(root: Path, full: bool, as_json: bool, out: TextIO, err: TextIO, jobs: int | None = None) -> int:
    bar = ProgressBar(err, "rebuilding" if full else "indexing", after_seconds=PROGRESS_AFTER_SECONDS)
    with Indexer(root) as indexer:
        report = indexer.sync(full=full, progress=bar, workers=jobs)
    bar.finish()
    _print_report(report, as_json, out, err)
    return 1 if report.errors else 0


def run_check(root: Path, as_json: bool, out: TextIO) -> int:
    problem = index_file_problem(Layout(root).index)
    if problem is not None:
        differences = [problem]
    else:
        with Indexer(root) as indexer:
            differences = indexer.check()
    if as_json:
        out.write(json.dumps({"differences": [d.model_dump() for d in differences]}, ensure_ascii=False) + "\n")
    else:
        for difference in differences:
            out.write(difference.describe() + "\n")
        out.write(
            f"{len(differences)} difference(s) between the index and the files"
            + ("; run scripts/reindex.py to fix them\n" if differences else "\n")
        )
    return 1 if differences else 0


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop()


def run_watch(root: Path, debounce: float, as_json: bool, out: TextIO, err: TextIO) -> int:
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    watcher = IndexWatcher(root, debounce_seconds=debounce)
    started = time.monotonic()
    try:
        watcher.start()
        err.write(f"watching {watcher.indexer.layout.sessions} (Ctrl-C stops)\n")
        err.flush()
        while True:
            time.sleep(0.2)
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)  # a second SIGTERM while stopping ends the process
        watcher.stop()
    total = ReindexReport()
    for report in watcher.reports:
        total.merge(report)
    total.seconds = time.monotonic() - started
    if as_json:
        out.write(total.model_dump_json() + "\n")
    else:
        out.write("stopped watching; " + total.summary() + "\n")
    if watcher.last_error is not None:
        err.write(f"error while watching: {watcher.last_error}\n")
        return 1
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    if args.debounce < 0 or args.debounce > 60:
        err.write("reindex.py: error: --debounce must be between 0 and 60 seconds\n")
        return 2
    if args.jobs is not None and not (args.full and 1 <= args.jobs <= 64):
        err.write("reindex.py: error: --jobs goes with --full and must be between 1 and 64\n")
        return 2
    root = resolve_root(args.root)
    if root.exists() and not root.is_dir():
        err.write(f"reindex.py: error: --root {root} is not a directory\n")
        return 2
    if not args.watch:  # --watch may start before the server made the store: it waits for files
        try:
            require_store(args.root)  # indexing no store is a mistake (the wrong folder): never create one
        except NoStore as exc:
            err.write(f"reindex.py: error: {exc}\n")
            return 2
    if args.views and (args.check or args.watch):
        err.write("reindex.py: error: --views rebuilds the views after indexing: use it without --check and --watch\n")
        return 2
    if args.watch:
        return run_watch(root, args.debounce, args.json, out, err)
    try:
        if args.check:
            return run_check(root, args.json, out)
        code = run_sync(root, args.full, args.json, out, err, args.jobs)
        if args.views:
            listing = SessionStore(root).rebuild_views()
            # With --json stdout holds the report alone.
            (err if args.json else out).write(f"views rebuilt for {len(listing.sessions)} session(s)\n")
            for ids in listing.clashes:
                # Two spellings of one id (made on case-sensitive machines, met through git).
                err.write(
                    f"reindex.py: ids differ only in letter case: {', '.join(ids)}; on macOS and Windows they "
                    "would be one file: rename one (move the file and change its \"id\")\n"
                )
        return code
    except KeyboardInterrupt:
        # Each committed chunk is consistent; the next run carries on from there.
        err.write("\ninterrupted; the index holds what was done so far, run again to finish\n")
        return 130
    except BrokenPipeError:
        raise  # stdout closed early (`| head`): run_command exits quietly
    except OSError as exc:  # e.g. a root that cannot be created
        where = f" {exc.filename}" if exc.filename else ""
        err.write(f"reindex.py: error: cannot use{where}: {exc.strerror or exc}\n")
        return 2


if __name__ == "__main__":
    from utils.closed_pipe import run_command

    sys.exit(run_command(main))
