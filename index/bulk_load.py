"""A full rebuild's bulk load: fresh tables filled with the triggers and the non-unique
indexes off, the full-text tables filled in large batches, everything restored at the end."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from index.database import retry_busy, write_transaction
from index.merging import BULK_AUTOMERGE, BULK_CRISISMERGE, defer_merges, set_merge_settings
from index import schema
from index.schema import (
    BULK_LOADING_VERSION,
    FILL_LISTING_COUNTS_SQL,
    FILL_SESSION_KEYS_SQL,
    FILL_TIME_BLOCKS_SQL,
    FTS_TABLES,
    INDEX_SCHEMA_VERSION,
    bulk_lock_path,
    create_schema,
    drop_everything,
)

# A full rebuild's connection: a page cache big enough for the B-trees being filled (instead
# of SQLite's 2 MB), and FTS5 tables that keep this much pending text in memory before writing a
# segment (instead of 1 MB): fewer, larger segments, so much less merging (measured at 1M
# messages: the word table built in 10.7 s instead of 25.5 s). Both are put back afterwards.
BULK_CACHE_KIB = 256 * 1024
BULK_FTS_HASH_BYTES = 64 * 1024 * 1024
FTS_DEFAULT_HASH_BYTES = 1024 * 1024
# The messages' full-text tables, filled during the load (``BulkLoad.index_new_rows``), each from
# its content view (which picks the rows and computes the columns, as the triggers do).
_MESSAGE_FTS = (
    ("messages_fts", "messages_words", '"text", "meta"'),
    ("messages_trigram", "messages_cjk", '"text"'),
)


class BulkLoad:
    """What the body of ``bulk_load`` may do while it fills the tables.

    ``index_new_rows`` puts the messages written since its last call into the messages'
    full-text tables, so that work overlaps the decoding of the next files instead of
    waiting for the end. That is only right while this connection alone writes the tables:
    another writer's deletes would not reach the full-text tables (their triggers are off).
    ``PRAGMA data_version`` changes when another connection commits; once it has, the end of the
    load rebuilds every full-text table from its content as a plain rebuild would.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.indexed_rowid = 0
        self._data_version = self._version()
        self._others_wrote = False

    def _version(self) -> int:
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def others_wrote(self) -> bool:
        """True once another connection has committed since the load began (sticky)."""
        if not self._others_wrote and self._version() != self._data_version:
            self._others_wrote = True
        return self._others_wrote

    def index_new_rows(self) -> None:
        """Inside a write transaction: index the messages written since the last call."""
        if self.others_wrote():
            return
        last = self.conn.execute("SELECT max(message_rowid) FROM messages").fetchone()[0] or 0
        if last <= self.indexed_rowid:
            return
        for table, content, columns in _MESSAGE_FTS:
            self.conn.execute(
                f'INSERT INTO "{table}" (rowid, {columns}) SELECT message_rowid, {columns} FROM "{content}"'
                " WHERE message_rowid > ? AND message_rowid <= ?",
                (self.indexed_rowid, last),
            )
        self.indexed_rowid = last


def _deferred_indexes(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(name, sql) of the indexes a bulk load creates after filling the tables: every explicit
    index but the unique ones (they keep rows from colliding while the tables fill)."""
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall()
    return [(name, sql) for name, sql in rows if not sql.upper().startswith("CREATE UNIQUE")]


@contextmanager
def bulk_load(conn: sqlite3.Connection, lock_path: Path) -> Iterator[BulkLoad]:
    """A full rebuild: fresh empty tables, filled with the triggers and the non-unique indexes
    off, then the full-text tables completed, the indexes created, the time blocks computed
    and the triggers restored, in one transaction.

    Row by row, the triggers write every message into the word and the trigram table; indexing
    the rows in large batches (``BulkLoad.index_new_rows``) or one rebuild at the end does the
    same work several times faster and gives the same tables. Meanwhile the index is marked
    (``BULK_LOADING_VERSION``) and the bulk lock is held: other writers may keep writing (then
    the end rebuilds every full-text table, covering their rows); if this process dies, the
    next open sees the mark without a loader and rebuilds from scratch (``abandoned_bulk_load``).
    If the body raises, the triggers, indexes and full-text tables are still restored.
    """
    with FileLock(str(bulk_lock_path(lock_path))):

        def start() -> tuple[list[str], list[str]]:
            with FileLock(str(lock_path), timeout=60):
                # Mark first: the drops below commit one by one, and a process killed among
                # them must leave an index that the next open recognises as abandoned.
                conn.execute(f"PRAGMA user_version = {BULK_LOADING_VERSION}")
                drop_everything(conn)
                create_schema(conn)
                rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
                for name, _ in rows:
                    conn.execute(f'DROP TRIGGER "{name}"')
                indexes = _deferred_indexes(conn)
                for name, _ in indexes:
                    conn.execute(f'DROP INDEX "{name}"')
                set_merge_settings(conn, FTS_TABLES, BULK_AUTOMERGE, BULK_CRISISMERGE)
                conn.execute(f"PRAGMA user_version = {BULK_LOADING_VERSION}")
                return [sql for _, sql in rows], [sql for _, sql in indexes]

        # Before the tables are made: a commit of another writer right after start() (rows in
        # the new, empty tables) must count as "others wrote", or the load's rows collide with them.
        load = BulkLoad(conn)
        triggers, indexes = retry_busy(start)
        cache_size = conn.execute("PRAGMA cache_size").fetchone()[0]
        conn.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")

        def set_hash_size(size: int) -> None:
            for table, _, _ in _MESSAGE_FTS:
                conn.execute(f"INSERT INTO \"{table}\" (\"{table}\", rank) VALUES ('hashsize', {size})")

        def finish(completed: bool) -> None:
            with write_transaction(conn):
                if completed and not load.others_wrote():
                    load.index_new_rows()
                    rebuilt = [table for table in FTS_TABLES if table not in {fts for fts, _, _ in _MESSAGE_FTS}]
                else:
                    rebuilt = list(FTS_TABLES)
                for table in rebuilt:
                    conn.execute(f"INSERT INTO \"{table}\" (\"{table}\") VALUES ('rebuild')")
                set_hash_size(FTS_DEFAULT_HASH_BYTES)
                defer_merges(conn, FTS_TABLES)
                for sql in indexes:
                    conn.execute(sql)
                for sql in triggers:
                    conn.execute(sql)
                conn.execute(FILL_TIME_BLOCKS_SQL.format(bits=schema.TIME_BLOCK_BITS))
                for sql in (*FILL_SESSION_KEYS_SQL, *FILL_LISTING_COUNTS_SQL):
                    conn.execute(sql)
                conn.execute(f"PRAGMA user_version = {INDEX_SCHEMA_VERSION}")
            conn.execute(f"PRAGMA cache_size = {cache_size}")

        completed = False
        try:
            with write_transaction(conn):
                set_hash_size(BULK_FTS_HASH_BYTES)
            yield load
            completed = True
        finally:
            finish(completed)
