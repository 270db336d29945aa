"""FTS5 segment merges moved off the writes that a chat turn waits for.

Every FTS5 transaction writes a new small segment (b-tree) and, with the default ``automerge``
of 4, then does merge work proportional to what it wrote times the number of levels. Now and
then that lands on one small write: measured on a 100,000-message index, two-message
transactions took 0.6 ms at the median but 31 ms at the p99 and up to 170-870 ms, all of it
merging. With ``automerge`` 0 the same transactions took 1.3 ms at the p99, 1.7 ms at most.

So the index's full-text tables are kept at ``automerge`` 0 (:func:`defer_merges`: a persistent
setting in each table's ``_config``), and the merging is done by :func:`merge_slice`, in small
slices, when nobody waits: by the index watcher after each batch and when idle, and at the end
of an incremental sync (see ``Indexer.merge_deferred``). A slice merges only where a level holds
at least ``usermerge`` (4) segments, as automerge would, so the shape of the index stays the
same. Should the slices fall behind, FTS5's ``crisismerge`` (16 segments on a level) still
merges inside the write (raised from 16 to :data:`DEFERRED_CRISISMERGE`). A full rebuild builds
with FTS5's defaults (:data:`BULK_AUTOMERGE`, :data:`BULK_CRISISMERGE`) and defers again when it ends.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

DEFERRED_AUTOMERGE = 0
#: Segments on one level that make a write merge them at once (FTS5's default: 16). A full
#: rebuild leaves its few large segments on level 0, beside which every later write puts its
#: small one; 16 on the level made the 13th small write after a rebuild merge them all
#: (660 ms measured at 100,000 messages). 64 leaves the slices time to merge them first.
DEFERRED_CRISISMERGE = 64
#: FTS5's defaults, for a full rebuild: its own writes merge as they go (nobody waits for them).
BULK_AUTOMERGE = 4
BULK_CRISISMERGE = 16
#: Pages of merge output per slice: ~5 ms at the median on this 2-core machine (14 ms at most).
MERGE_SLICE_PAGES = 16


def merge_settings(conn: sqlite3.Connection, table: str) -> tuple[int | None, int | None]:
    """(``automerge``, ``crisismerge``) of an FTS5 table; None where it has FTS5's default."""
    rows = dict(conn.execute(f"SELECT k, v FROM \"{table}_config\" WHERE k IN ('automerge', 'crisismerge')").fetchall())
    return rows.get("automerge"), rows.get("crisismerge")


def set_merge_settings(conn: sqlite3.Connection, tables: Iterable[str], automerge: int, crisismerge: int) -> None:
    """Set ``automerge`` and ``crisismerge`` of each FTS5 table in ``tables`` (writes; persistent)."""
    for table in tables:
        for name, value in (("automerge", automerge), ("crisismerge", crisismerge)):
            conn.execute(f"INSERT INTO \"{table}\" (\"{table}\", rank) VALUES (?, ?)", (name, value))


def defer_merges(conn: sqlite3.Connection, tables: Iterable[str]) -> None:
    """Give the tables the deferred settings where they do not have them yet (writes only what changes)."""
    wanted = (DEFERRED_AUTOMERGE, DEFERRED_CRISISMERGE)
    pending = [table for table in tables if merge_settings(conn, table) != wanted]
    if pending:
        set_merge_settings(conn, pending, *wanted)


def merge_slice(conn: sqlite3.Connection, table: str, pages: int = MERGE_SLICE_PAGES) -> bool:
    """Merge up to about ``pages`` pages of ``table``'s segments; True if there was work to do.

    Runs in the caller's transaction. FTS5 reports no result: a merge that did nothing changes
    fewer than two rows (its documented test).
    """
    before = conn.total_changes
    conn.execute(f"INSERT INTO \"{table}\" (\"{table}\", rank) VALUES ('merge', ?)", (pages,))
    return conn.total_changes - before >= 2
