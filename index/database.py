"""Opening ``index.sqlite``: WAL, busy timeout, schema creation (via sqlite-utils).

Every table is derived from the session files and may be dropped at any time; a schema
change is handled by rebuilding, never by migrating.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

import sqlite_utils
from filelock import FileLock, Timeout

from index.merging import BULK_AUTOMERGE, BULK_CRISISMERGE, defer_merges, set_merge_settings
from store.schema import as_utc

# Bump when the tables change: an index with another user_version is dropped and rebuilt.
INDEX_SCHEMA_VERSION = 5
BUSY_TIMEOUT_MS = 30_000
# ``user_version`` while a full rebuild fills the tables with the FTS triggers off (see bulk_load).
BULK_LOADING_VERSION = 1_000_000 + INDEX_SCHEMA_VERSION
FTS_TABLES = ("messages_fts", "sessions_fts", "messages_trigram", "sessions_trigram")
WORD_TOKENIZER = "unicode61 remove_diacritics 2"
WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024

T = TypeVar("T")

# Full-text tables written by hand: sqlite-utils names its FTS table "<table>_fts", so it can
# make only one per table, and its enable_fts takes no prefix option. Same trigger shape as
# sqlite-utils' own.
_FTS_SQL = """
CREATE VIRTUAL TABLE IF NOT EXISTS "{fts}" USING FTS5 ("{column}", tokenize='{tokenize}', content="{table}"{options});
CREATE TRIGGER IF NOT EXISTS "{fts}_ai" AFTER INSERT ON "{table}" BEGIN
  INSERT INTO "{fts}" (rowid, "{column}") VALUES (new.rowid, new."{column}");
END;
CREATE TRIGGER IF NOT EXISTS "{fts}_ad" AFTER DELETE ON "{table}" BEGIN
  INSERT INTO "{fts}" ("{fts}", rowid, "{column}") VALUES ('delete', old.rowid, old."{column}");
END;
CREATE TRIGGER IF NOT EXISTS "{fts}_au" AFTER UPDATE ON "{table}" BEGIN
  INSERT INTO "{fts}" ("{fts}", rowid, "{column}") VALUES ('delete', old.rowid, old."{column}");
  INSERT INTO "{fts}" (rowid, "{column}") VALUES (new.rowid, new."{column}");
END;
"""

# ``files.sha256`` of a file indexed by a chat turn's append path, which does not hash the whole
# file: its rows were made from exactly the bytes this process wrote (whose stat the row holds).
# The watcher's event for that write stamps the real digest (``Indexer._index_one``, mode "hash").
PENDING_HASH = "pending"

# The messages' word table has two columns: ``text``, and ``meta``: one token for the role
# (``r`` + the role's UTF-8 in hex) and one for the model (``m`` + hex, ``mx`` for none), so a
# ``model``/``role`` filter is one more phrase FTS5 intersects with the query's doclists
# (``meta : m6770742d346f``) instead of a join per match. Searches scope the user's query to
# ``text`` and give ``meta`` weight 0 in bm25. The view is the external content, as for the
# trigram table. prefix='3' adds an index of every word's first three characters: a query such
# as ``mod*`` reads one doclist in rowid order, so the ranking window stops early, instead of
# merging the doclists of every word starting with ``mod``.
def message_meta_sql(row: str) -> str:
    """The ``meta`` column of a message row (``row`` = ``new.``, ``old.`` or ``""``)."""
    return f"'r' || lower(hex({row}role)) || ' m' || CASE WHEN {row}model IS NULL THEN 'x' ELSE lower(hex({row}model)) END"


_MESSAGES_WORDS_SQL = f"""
CREATE VIEW IF NOT EXISTS "messages_words" AS SELECT message_rowid, text, {message_meta_sql("")} AS meta FROM messages;
CREATE VIRTUAL TABLE IF NOT EXISTS "messages_fts" USING FTS5 (
  "text", "meta", tokenize='{WORD_TOKENIZER}', content="messages_words", content_rowid="message_rowid", prefix='3'
);
CREATE TRIGGER IF NOT EXISTS "messages_fts_ai" AFTER INSERT ON "messages" BEGIN
  INSERT INTO "messages_fts" (rowid, "text", "meta") VALUES (new.rowid, new."text", {message_meta_sql("new.")});
END;
CREATE TRIGGER IF NOT EXISTS "messages_fts_ad" AFTER DELETE ON "messages" BEGIN
  INSERT INTO "messages_fts" ("messages_fts", rowid, "text", "meta") VALUES ('delete', old.rowid, old."text", {message_meta_sql("old.")});
END;
CREATE TRIGGER IF NOT EXISTS "messages_fts_au" AFTER UPDATE ON "messages" BEGIN
  INSERT INTO "messages_fts" ("messages_fts", rowid, "text", "meta") VALUES ('delete', old.rowid, old."text", {message_meta_sql("old.")});
  INSERT INTO "messages_fts" (rowid, "text", "meta") VALUES (new.rowid, new."text", {message_meta_sql("new.")});
END;
"""

# Messages go into the trigram table only if their text holds CJK characters (``cjk`` = 1,
# set by index.rows): only they can match a query with a CJK term, the one use of that table.
# Trigram rows are ~5x the cost of word rows to build and were half the index when every
# message had them. The view is the table's external content, so 'rebuild' and
# 'integrity-check' see exactly the rows that belong in it.
_MESSAGES_TRIGRAM_SQL = """
CREATE VIEW IF NOT EXISTS "messages_cjk" AS SELECT message_rowid, text FROM messages WHERE cjk = 1;
CREATE VIRTUAL TABLE IF NOT EXISTS "messages_trigram" USING FTS5 (
  "text", tokenize='trigram', content="messages_cjk", content_rowid="message_rowid"
);
CREATE TRIGGER IF NOT EXISTS "messages_trigram_ai" AFTER INSERT ON "messages" WHEN new.cjk = 1 BEGIN
  INSERT INTO "messages_trigram" (rowid, "text") VALUES (new.rowid, new."text");
END;
CREATE TRIGGER IF NOT EXISTS "messages_trigram_ad" AFTER DELETE ON "messages" WHEN old.cjk = 1 BEGIN
  INSERT INTO "messages_trigram" ("messages_trigram", rowid, "text") VALUES ('delete', old.rowid, old."text");
END;
CREATE TRIGGER IF NOT EXISTS "messages_trigram_au" AFTER UPDATE ON "messages" BEGIN
  INSERT INTO "messages_trigram" ("messages_trigram", rowid, "text") SELECT 'delete', old.rowid, old."text" WHERE old.cjk = 1;
  INSERT INTO "messages_trigram" (rowid, "text") SELECT new.rowid, new."text" WHERE new.cjk = 1;
END;
"""


# ``message_time_blocks``: for every block of 2**TIME_BLOCK_BITS message rowids, the earliest and
# latest ``created_at`` in it. A search with ``since``/``until`` turns them into a rowid range
# that holds every message in the time range (so FTS5 walks only that part of its doclists
# instead of joining every newer match to test its time). Deleted messages leave the block's
# range as it was: wider than needed, never too narrow.
TIME_BLOCK_BITS = 12
# Widen the new row's block to take in its time (both triggers).
_WIDEN_TIME_BLOCK_SQL = """
  INSERT INTO "message_time_blocks" VALUES (new.message_rowid >> {bits}, new.created_at, new.created_at)
  ON CONFLICT ("block") DO UPDATE SET "min_created_at" = min("min_created_at", excluded."min_created_at"),
    "max_created_at" = max("max_created_at", excluded."max_created_at");"""
_TIME_BLOCKS_SQL = f"""
CREATE TABLE IF NOT EXISTS "message_time_blocks" (
  "block" INTEGER PRIMARY KEY, "min_created_at" TEXT NOT NULL, "max_created_at" TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS "message_time_blocks_ai" AFTER INSERT ON "messages" BEGIN{_WIDEN_TIME_BLOCK_SQL}
END;
CREATE TRIGGER IF NOT EXISTS "message_time_blocks_au" AFTER UPDATE OF "created_at" ON "messages" BEGIN{_WIDEN_TIME_BLOCK_SQL}
END;
"""
_FILL_TIME_BLOCKS_SQL = (
    'INSERT OR REPLACE INTO "message_time_blocks" SELECT message_rowid >> {bits}, min(created_at), max(created_at)'
    " FROM messages GROUP BY 1"
)


def iso(value: datetime) -> str:
    """How times are stored: UTC, fixed width, so text order is time order (``...Z``)."""
    # A validated session's times are already UTC (``store.schema`` converts them): skip the
    # conversion, which is most of this function's cost in a full reindex.
    utc = value if value.tzinfo is timezone.utc else as_utc(value)
    if utc.year < 1000:
        # strftime's %Y does not pad these years to four digits here: keep what it always wrote.
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # What strftime("%Y-%m-%dT%H:%M:%S.%fZ") gives, in a fifth of the time (a full reindex
    # formats ~1.2 million times).
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond
    )


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def is_busy(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


# SQLite primary result codes that mean the file itself is damaged (not merely busy).
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


def is_damaged(error: BaseException) -> bool:
    """True if ``error`` says the index file is corrupt or not a database at all.

    Such a file is useless (it is derived data): callers drop it and rebuild from the files.
    """
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    if isinstance(error, sqlite3.OperationalError) and is_busy(error):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return True
    text = str(error).lower()
    return "not a database" in text or "malformed" in text


def discard_damaged(path: Path, lock_path: Path, identity: tuple[int, int] | None) -> bool:
    """Delete the damaged index file at ``path`` if it is still the file that failed.

    ``identity`` is the (device, inode) of the file that raised the damage error; if another
    process already replaced it (a fresh index), nothing is deleted. The -wal/-shm files are
    dropped by the next ``open_database``. Returns True if the file was deleted.
    """
    with FileLock(str(lock_path), timeout=60):
        if identity is None or file_identity(path) != identity:
            return False
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True


def _retry(
    action: Callable[[], T], should_retry: Callable[[sqlite3.OperationalError], bool], deadline_seconds: float, max_delay: float
) -> T:
    """Run ``action``, retrying with doubling sleeps while ``should_retry(error)``, up to the deadline."""
    stop = time.monotonic() + deadline_seconds
    delay = 0.01
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not should_retry(exc) or time.monotonic() > stop:
                raise
            time.sleep(delay)
            delay = min(delay * 2, max_delay)


def retry_busy(action: Callable[[], T], deadline_seconds: float = 120.0) -> T:
    """Run ``action``, retrying while SQLite says the database is locked (busy_timeout aside)."""
    return _retry(action, is_busy, deadline_seconds, max_delay=0.5)


def is_bulk_loading(conn: sqlite3.Connection) -> bool:
    """True while a full rebuild (this connection's or another process's) fills the tables."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0]) == BULK_LOADING_VERSION


def is_rebuilding(error: sqlite3.OperationalError) -> bool:
    """True if a table is missing for a moment because another process is rebuilding (``--full``)."""
    text = str(error).lower()
    return "no such table" in text or "vtable constructor failed" in text or "schema has changed" in text


def retry_rebuilding(action: Callable[[], T], deadline_seconds: float = 20.0) -> T:
    """Run a read, retrying while the tables are being dropped and recreated by a full rebuild.

    ``reindex.py --full`` drops and recreates every table; a search arriving in that window
    waits for the new tables instead of failing with "no such table". A table still missing
    after ``deadline_seconds`` is a real error and is raised.
    """
    return _retry(action, is_rebuilding, deadline_seconds, max_delay=0.2)


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back if the body raises.

    IMMEDIATE takes the write lock before anything is read, so two indexers (server and
    watcher) apply their reads of the files in the order they commit.
    """
    retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite may already have rolled back (e.g. on SQLITE_CORRUPT)
            conn.execute("ROLLBACK")
        raise
    retry_busy(lambda: conn.execute("COMMIT"))


def _create_schema(conn: sqlite3.Connection) -> None:
    db = sqlite_utils.Database(conn)
    db["sessions"].create(
        {
            "session_rowid": int,
            "session_id": str,
            "title": str,
            "created_at": str,
            "updated_at": str,
            "current_model": str,
            "models_used": str,
            "tags": str,
            "message_count": int,
            "switch_count": int,
            "file_path": str,
        },
        pk="session_rowid",
        not_null={"session_id", "created_at", "updated_at", "file_path"},
    )
    db["sessions"].create_index(["session_id"], unique=True)
    db["messages"].create(
        {
            "message_rowid": int,
            "session_id": str,
            "position": int,
            "message_id": str,
            "role": str,
            "model": str,
            "provider": str,
            "created_at": str,
            "text": str,
            "tool_names": str,
            "tool_call_id": str,
            "input_tokens": int,
            "output_tokens": int,
            "cost_usd": float,
            "latency_ms": float,
            "turn_status": str,
            "turn_model": str,
            "turn_provider": str,
            "cjk": int,
        },
        pk="message_rowid",
        not_null={"session_id", "position", "message_id", "role", "created_at", "text", "cjk"},
        defaults={"cjk": 0},
    )
    db["messages"].create_index(["session_id", "position"], unique=True)
    db["messages"].create_index(["model"])
    db["messages"].create_index(["created_at"])
    db["model_switches"].create(
        {
            "session_id": str,
            "position": int,
            "at_message": int,
            "from_model": str,
            "to_model": str,
            "switched_at": str,
            "warning": str,
        },
        pk=("session_id", "position"),
        not_null={"at_message", "to_model", "switched_at"},
    )
    db["files"].create(
        {
            "path": str,
            "session_id": str,
            "mtime_ns": int,
            "size": int,
            "inode": int,
            "sha256": str,
            "status": str,
            "detail": str,
            "indexed_at": str,
        },
        pk="path",
        not_null={"session_id", "mtime_ns", "size", "sha256", "status", "indexed_at"},
    )
    conn.executescript(_MESSAGES_WORDS_SQL)
    db["sessions"].enable_fts(["title"], tokenize=WORD_TOKENIZER, create_triggers=True)
    conn.executescript(_MESSAGES_TRIGRAM_SQL)
    conn.executescript(_FTS_SQL.format(fts="sessions_trigram", table="sessions", column="title", tokenize="trigram", options=""))
    conn.executescript(_TIME_BLOCKS_SQL.format(bits=TIME_BLOCK_BITS))
    defer_merges(conn, FTS_TABLES)
    conn.execute(f"PRAGMA user_version = {INDEX_SCHEMA_VERSION}")


def _drop_everything(conn: sqlite3.Connection) -> None:
    rows = conn.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'trigger') AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    for kind, name in rows:
        if kind == "trigger":
            conn.execute(f'DROP TRIGGER IF EXISTS "{name}"')
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'").fetchall():
        conn.execute(f'DROP VIEW IF EXISTS "{name}"')
    for kind, name in conn.execute("SELECT type, name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'").fetchall():
        conn.execute(f'DROP TABLE IF EXISTS "{name}"')
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").fetchall():
        conn.execute(f'DROP TABLE IF EXISTS "{name}"')


def _bulk_lock_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".bulk")


def abandoned_bulk_load(conn: sqlite3.Connection, lock_path: Path) -> bool:
    """True if the index is marked as being bulk loaded but no process is loading it any more.

    Such an index (a ``reindex.py --full`` killed mid-way) has no FTS triggers and incomplete
    full-text tables: it must be dropped and rebuilt. While the loader runs it holds the bulk
    lock, and the index is used as it is (its final FTS rebuild covers every row written meanwhile).
    """
    if not is_bulk_loading(conn):
        return False
    probe = FileLock(str(_bulk_lock_path(lock_path)))
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return False  # the loader is alive
    try:
        # Re-read under the lock: the loader may have finished between the two reads.
        return is_bulk_loading(conn)
    finally:
        probe.release()


def ensure_schema(conn: sqlite3.Connection, lock_path: Path | None = None) -> bool:
    """Create the tables if needed (or rebuild them after a schema change); True if created."""
    # Runs under open_database's file lock; sqlite-utils commits as it goes, so no outer BEGIN.
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    has_tables = {"files", "sessions", "messages", "model_switches", "message_time_blocks", *FTS_TABLES} <= names
    if version == INDEX_SCHEMA_VERSION and has_tables:
        return False
    if version == BULK_LOADING_VERSION and has_tables and lock_path is not None and not abandoned_bulk_load(conn, lock_path):
        return False  # a full rebuild is filling it right now
    _drop_everything(conn)
    _create_schema(conn)
    return True


def reset_schema(conn: sqlite3.Connection, lock_path: Path) -> None:
    """Drop every table and create them empty: the start of a rebuild that no damage survives."""
    with FileLock(str(lock_path), timeout=60):
        _drop_everything(conn)
        _create_schema(conn)


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
    with FileLock(str(_bulk_lock_path(lock_path))):

        def start() -> tuple[list[str], list[str]]:
            with FileLock(str(lock_path), timeout=60):
                # Mark first: the drops below commit one by one, and a process killed among
                # them must leave an index that the next open recognises as abandoned.
                conn.execute(f"PRAGMA user_version = {BULK_LOADING_VERSION}")
                _drop_everything(conn)
                _create_schema(conn)
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
                conn.execute(_FILL_TIME_BLOCKS_SQL.format(bits=TIME_BLOCK_BITS))
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


def open_database(path: Path, lock_path: Path, *, autocheckpoint: bool = True) -> tuple[sqlite3.Connection, bool]:
    """Open (creating if needed) the index at ``path``; return the connection and "was created".

    The connection is in autocommit mode (transactions are explicit), WAL, ``synchronous=NORMAL``
    (commits do not fsync: the index is derived and rebuildable), with a busy timeout.
    ``autocheckpoint=False`` turns off SQLite's checkpoint inside ``COMMIT``: the caller then
    checkpoints itself (see ``index.checkpointer``). Creation runs under a file lock so two
    processes never both set up a fresh file.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_path), timeout=60):
        if not path.exists():
            # A -wal left by a deleted index must not be replayed into the new file.
            for suffix in ("-wal", "-shm", "-journal"):
                try:
                    os.unlink(str(path) + suffix)
                except FileNotFoundError:
                    pass
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA synchronous = NORMAL")
        # After a checkpoint resets it, a WAL grown by a big rebuild is cut back to this size.
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
        if not autocheckpoint:
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        created = ensure_schema(conn, lock_path)
    return conn, created


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of ``path``, or None if it does not exist: tells a recreated file apart."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)
