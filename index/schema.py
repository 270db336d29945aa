"""The tables of ``index.sqlite``: their SQL, creation, and the marks in ``user_version``.

Every table is derived from the session files and may be dropped at any time; a schema
change is handled by rebuilding, never by migrating.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from filelock import FileLock, Timeout

from index.merging import defer_merges

# Bump when the tables change: an index with another user_version is dropped and rebuilt.
INDEX_SCHEMA_VERSION = 6
# ``user_version`` while a full rebuild fills the tables with the FTS triggers off (see bulk_load).
BULK_LOADING_VERSION = 1_000_000 + INDEX_SCHEMA_VERSION
FTS_TABLES = ("messages_fts", "sessions_fts", "messages_trigram", "sessions_trigram", "sessions_names")
WORD_TOKENIZER = "unicode61 remove_diacritics 2"

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
# The watcher's event for that write stamps the real digest (``index.file_sync.index_one``, mode "hash").
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
# What a listing shows and filters on is in ``sessions``; ``session_models`` and ``session_tags``
# hold one row per (model or tag, session), keyed so that each filter is one index range read
# newest first (``index.listing``). ``sessions_names`` is the full-text table of the title and
# the id's words (``list_sessions(query=...)``). Triggers keep them equal to ``sessions``; a
# bulk load (triggers off) fills them at its end (``FILL_SESSION_KEYS_SQL``).
# (table, key column, the keys of one row as (FROM/WHERE of the sessions row ``s``, key value)).
_SESSION_KEY_ROWS = {
    "session_models": ("model", (("json_each(s.models_used) j", "j.value"), ("(SELECT 1) WHERE s.current_model IS NOT NULL", "s.current_model"))),
    "session_tags": ("tag", (("json_each(s.tags) j", "j.value"),)),
}
# The ``sessions`` columns a key table is made from: when none changed (a chat turn), only the
# rows' ``updated_at`` moves (no delete and insert, no count changes).
_SESSION_KEY_COLUMNS = {"session_models": ("models_used", "current_model"), "session_tags": ("tags",)}


def _keys_of(row: str, source: str, value: str) -> str:
    # In a trigger the row is ``new``; in a bulk fill it is every row of ``sessions``.
    return f"SELECT {value.replace('s.', row)}, {row}updated_at, {row}session_id FROM {source.replace('s.', row)}"


def _changed(table: str) -> str:
    return " OR ".join(f"old.{column} IS NOT new.{column}" for column in _SESSION_KEY_COLUMNS[table])


SESSION_KEY_TABLES = (*_SESSION_KEY_ROWS, "listing_counts")
_SESSION_KEYS_SQL = "".join(
    f"""
CREATE TABLE IF NOT EXISTS "{table}" (
  "{key}" TEXT NOT NULL, "updated_at" TEXT NOT NULL, "session_id" TEXT NOT NULL,
  PRIMARY KEY ("{key}", "updated_at", "session_id")
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "idx_{table}_session_id" ON "{table}" ("session_id");
CREATE TRIGGER IF NOT EXISTS "{table}_ai" AFTER INSERT ON "sessions" BEGIN
{"".join(f'  INSERT OR IGNORE INTO "{table}" {_keys_of("new.", source, value)};' for source, value in sources)}
END;
CREATE TRIGGER IF NOT EXISTS "{table}_ad" AFTER DELETE ON "sessions" BEGIN
  DELETE FROM "{table}" WHERE session_id = old.session_id;
END;
CREATE TRIGGER IF NOT EXISTS "{table}_au" AFTER UPDATE ON "sessions" WHEN {_changed(table)} BEGIN
  DELETE FROM "{table}" WHERE session_id = old.session_id;
{"".join(f'  INSERT OR IGNORE INTO "{table}" {_keys_of("new.", source, value)};' for source, value in sources)}
END;
CREATE TRIGGER IF NOT EXISTS "{table}_au_time" AFTER UPDATE OF "updated_at" ON "sessions"
WHEN NOT ({_changed(table)}) AND old.updated_at IS NOT new.updated_at BEGIN
  UPDATE "{table}" SET updated_at = new.updated_at WHERE session_id = old.session_id;
END;
"""
    for table, (key, sources) in _SESSION_KEY_ROWS.items()
)
FILL_SESSION_KEYS_SQL = [
    statement
    for table, (key, sources) in _SESSION_KEY_ROWS.items()
    for statement in (
        f'DELETE FROM "{table}"',
        *(f'INSERT OR IGNORE INTO "{table}" SELECT {value}, s.updated_at, s.session_id FROM sessions s, {source}' for source, value in sources),
    )
]
# ``listing_counts``: how many sessions each listing without a range has (key '' for all,
# 'm:<model>', 't:<tag>', 'g:<group id>'), so its ``total`` is one lookup instead of a count of
# thousands of index entries. Kept by triggers on ``sessions`` and the key tables; a bulk load
# fills it at its end (``FILL_LISTING_COUNTS_SQL``).
_COUNT = "INSERT INTO listing_counts SELECT {key}, {delta} WHERE {when} ON CONFLICT (key) DO UPDATE SET sessions = sessions + {delta};"
_LISTING_COUNTS_SQL = f"""
CREATE TABLE IF NOT EXISTS "listing_counts" ("key" TEXT PRIMARY KEY, "sessions" INTEGER NOT NULL) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS "listing_counts_sessions_ai" AFTER INSERT ON "sessions" BEGIN
  {_COUNT.format(key="''", delta=1, when="1")}
  {_COUNT.format(key="'g:' || new.group_id", delta=1, when="new.group_id IS NOT NULL")}
END;
CREATE TRIGGER IF NOT EXISTS "listing_counts_sessions_ad" AFTER DELETE ON "sessions" BEGIN
  {_COUNT.format(key="''", delta=-1, when="1")}
  {_COUNT.format(key="'g:' || old.group_id", delta=-1, when="old.group_id IS NOT NULL")}
END;
CREATE TRIGGER IF NOT EXISTS "listing_counts_sessions_au" AFTER UPDATE OF "group_id" ON "sessions"
WHEN old.group_id IS NOT new.group_id BEGIN
  {_COUNT.format(key="'g:' || old.group_id", delta=-1, when="old.group_id IS NOT NULL")}
  {_COUNT.format(key="'g:' || new.group_id", delta=1, when="new.group_id IS NOT NULL")}
END;
""" + "".join(
    f"""
CREATE TRIGGER IF NOT EXISTS "listing_counts_{table}_ai" AFTER INSERT ON "{table}" BEGIN
  {_COUNT.format(key=f"'{prefix}:' || new.{key}", delta=1, when="1")}
END;
CREATE TRIGGER IF NOT EXISTS "listing_counts_{table}_ad" AFTER DELETE ON "{table}" BEGIN
  {_COUNT.format(key=f"'{prefix}:' || old.{key}", delta=-1, when="1")}
END;
"""
    for table, key, prefix in (("session_models", "model", "m"), ("session_tags", "tag", "t"))
)
FILL_LISTING_COUNTS_SQL = [
    'DELETE FROM "listing_counts"',
    "INSERT INTO listing_counts SELECT '', count(*) FROM sessions",
    "INSERT INTO listing_counts SELECT 'g:' || group_id, count(*) FROM sessions WHERE group_id IS NOT NULL GROUP BY group_id",
    "INSERT INTO listing_counts SELECT 'm:' || model, count(*) FROM session_models GROUP BY model",
    "INSERT INTO listing_counts SELECT 't:' || tag, count(*) FROM session_tags GROUP BY tag",
]
_SESSION_NAMES_SQL = f"""
CREATE VIEW IF NOT EXISTS "sessions_name_words" AS SELECT session_rowid, coalesce(title, '') || ' ' || session_id AS words FROM sessions;
CREATE VIRTUAL TABLE IF NOT EXISTS "sessions_names" USING FTS5 (
  "words", tokenize='{WORD_TOKENIZER}', content="sessions_name_words", content_rowid="session_rowid", prefix='2 3'
);
CREATE TRIGGER IF NOT EXISTS "sessions_names_ai" AFTER INSERT ON "sessions" BEGIN
  INSERT INTO "sessions_names" (rowid, "words") VALUES (new.session_rowid, coalesce(new.title, '') || ' ' || new.session_id);
END;
CREATE TRIGGER IF NOT EXISTS "sessions_names_ad" AFTER DELETE ON "sessions" BEGIN
  INSERT INTO "sessions_names" ("sessions_names", rowid, "words") VALUES ('delete', old.session_rowid, coalesce(old.title, '') || ' ' || old.session_id);
END;
CREATE TRIGGER IF NOT EXISTS "sessions_names_au" AFTER UPDATE OF "title" ON "sessions" WHEN old.title IS NOT new.title BEGIN
  INSERT INTO "sessions_names" ("sessions_names", rowid, "words") VALUES ('delete', old.session_rowid, coalesce(old.title, '') || ' ' || old.session_id);
  INSERT INTO "sessions_names" (rowid, "words") VALUES (new.session_rowid, coalesce(new.title, '') || ' ' || new.session_id);
END;
"""

FILL_TIME_BLOCKS_SQL = (
    'INSERT OR REPLACE INTO "message_time_blocks" SELECT message_rowid >> {bits}, min(created_at), max(created_at)'
    " FROM messages GROUP BY 1"
)



def is_bulk_loading(conn: sqlite3.Connection) -> bool:
    """True while a full rebuild (this connection's or another process's) fills the tables."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0]) == BULK_LOADING_VERSION



def _quoted(name: str) -> str:
    return f'"{name}"'


def create_schema(conn: sqlite3.Connection) -> None:
    import sqlite_utils  # 50 ms of import: only when the tables are created, never on a server's start-up path

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
            "cost_usd": float,
            "unpriced_answers": int,
            "group_id": str,
            "forked_from": str,
        },
        pk="session_rowid",
        not_null={"session_id", "created_at", "updated_at", "file_path"},
    )
    db["sessions"].create_index(["session_id"], unique=True)
    # Every listing is ordered by (updated_at DESC, session_id DESC): these read it in order.
    conn.execute('CREATE INDEX "idx_sessions_updated_at" ON "sessions" ("updated_at", "session_id")')
    conn.execute('CREATE INDEX "idx_sessions_group_id" ON "sessions" ("group_id", "updated_at", "session_id")')
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
    # model_switch_history pages newest first, filtered by either side of the switch.
    for columns in (("switched_at",), ("from_model", "switched_at"), ("to_model", "switched_at")):
        conn.execute(
            f'CREATE INDEX "idx_model_switches_{columns[0]}" ON "model_switches"'
            f" ({', '.join(_quoted(column) for column in columns)}, \"session_id\", \"position\")"
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
    conn.executescript(_SESSION_KEYS_SQL)
    conn.executescript(_LISTING_COUNTS_SQL)
    conn.executescript(_SESSION_NAMES_SQL)
    defer_merges(conn, FTS_TABLES)
    conn.execute(f"PRAGMA user_version = {INDEX_SCHEMA_VERSION}")


def drop_everything(conn: sqlite3.Connection) -> None:
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


def bulk_lock_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".bulk")


def abandoned_bulk_load(conn: sqlite3.Connection, lock_path: Path) -> bool:
    """True if the index is marked as being bulk loaded but no process is loading it any more.

    Such an index (a ``reindex.py --full`` killed mid-way) has no FTS triggers and incomplete
    full-text tables: it must be dropped and rebuilt. While the loader runs it holds the bulk
    lock, and the index is used as it is (its final FTS rebuild covers every row written meanwhile).
    """
    if not is_bulk_loading(conn):
        return False
    probe = FileLock(str(bulk_lock_path(lock_path)))
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
    has_tables = {"files", "sessions", "messages", "model_switches", "message_time_blocks", *SESSION_KEY_TABLES, *FTS_TABLES} <= names
    if version == INDEX_SCHEMA_VERSION and has_tables:
        return False
    if version == BULK_LOADING_VERSION and has_tables and lock_path is not None and not abandoned_bulk_load(conn, lock_path):
        return False  # a full rebuild is filling it right now
    drop_everything(conn)
    create_schema(conn)
    return True


def reset_schema(conn: sqlite3.Connection, lock_path: Path) -> None:
    """Drop every table and create them empty: the start of a rebuild that no damage survives."""
    with FileLock(str(lock_path), timeout=60):
        drop_everything(conn)
        create_schema(conn)
