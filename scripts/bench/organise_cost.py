"""What case-insensitive ids and near matches cost on a big store (docs/store.md).

On an existing corpus (``make_corpus.py --sessions N --messages M --root DIR``): the one-time
``by-casefold/`` backfill when a store made before the view is opened, the cost of one
``create`` (the clash check), and ``best_near_match`` with the default candidate source (one
``os.scandir`` of ``by-casefold/``) for a few new ids: a typo of a human id, of a generated id,
a short id, and one with no match. Each figure is the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from store import casefold  # noqa: E402
from store.near_match import best_near_match, casefold_view_ids  # noqa: E402
from store.session_store import SessionStore  # noqa: E402


def _median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, type=Path, help="a corpus made by make_corpus.py")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args(argv)
    root: Path = args.root
    shutil.rmtree(root / casefold.FOLDER, ignore_errors=True)
    start = time.perf_counter()
    store = SessionStore(root)  # builds by-casefold/ from the names
    figures: dict[str, object] = {"backfill_ms": round((time.perf_counter() - start) * 1000, 1)}
    names = casefold_view_ids(store.layout)()
    figures["sessions"] = len(names)
    figures["scandir_ms"] = round(_median_ms(lambda: casefold_view_ids(store.layout)(), args.repeat), 1)
    some = sorted(names)[len(names) // 2]
    counter = iter(range(10**6))
    figures["create_ms"] = round(_median_ms(lambda: store.create(f"bench-organise-{next(counter)}"), args.repeat), 2)
    store.create("refactor-auth")
    probes = {
        "typo_of_human_id": "refactr-auth",
        "typo_of_generated_id": some[:-1] + ("x" if some[-1] != "x" else "y"),
        "short_id": "dya1",
        "no_match": "a-new-topic-entirely",
    }
    for label, new_id in probes.items():
        match = best_near_match(store, new_id)
        figures[f"near_{label}_ms"] = round(_median_ms(lambda: best_near_match(store, new_id), args.repeat), 1)
        figures[f"near_{label}_found"] = match.id if match else None
    for session_id in ["refactor-auth", *(f"bench-organise-{i}" for i in range(next(counter)))]:
        store.trash(session_id)
    store.empty_trash()
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
