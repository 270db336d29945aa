"""The rows of a chunk of files as one small SQLite database: how decode workers hand rows over.

A worker puts the rows it built (``index.rows``) into an in-memory database (``pack``) and sends
its bytes (``Connection.serialize``): one bytes object through the pipe instead of a million
pickled tuples, and the writer copies them with ``INSERT ... SELECT`` inside SQLite
(``ChunkTables.copy``) instead of binding every value from Python. Measured at 100,000 rows:
``executemany`` into ``messages`` 1.1-1.3 s of the writer's CPU, ``INSERT ... SELECT`` 0.2-0.3 s;
pickling and unpickling the rows cost more than both.

The chunk's tables have one more column, ``file_no`` (the file's place in its chunk), and no
declared types, so every value keeps the type it was built with and the index's own columns
apply their affinity exactly as when the same values are bound. Rows are copied in the order
they were built (``rowid``), so the index gets the same rows with the same rowids either way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from index.rows import MESSAGE_COLUMNS, SESSION_COLUMNS, SWITCH_COLUMNS

SCHEMA = "chunk_rows"
# (index table, chunk table, columns), in the order a file's rows are written.
_TABLES = (
    ("sessions", "sessions", SESSION_COLUMNS),
    ("messages", "messages", MESSAGE_COLUMNS),
    ("model_switches", "switches", SWITCH_COLUMNS),
)


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f'"{column}"' for column in columns)


def pack(files: Sequence[tuple[int, tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]]) -> bytes:
    """The database of ``(file_no, session row, message rows, switch rows)`` for each file, as bytes."""
    conn = sqlite3.connect(":memory:")
    try:
        for _, table, columns in _TABLES:
            conn.execute(f'CREATE TABLE "{table}" ("file_no", {_names(columns)})')
        marks = {table: ", ".join("?" for _ in range(len(columns) + 1)) for _, table, columns in _TABLES}
        conn.executemany(f'INSERT INTO "sessions" VALUES ({marks["sessions"]})', [(number, *session) for number, session, _, _ in files])
        conn.executemany(
            f'INSERT INTO "messages" VALUES ({marks["messages"]})',
            [(number, *row) for number, _, messages, _ in files for row in messages],
        )
        conn.executemany(
            f'INSERT INTO "switches" VALUES ({marks["switches"]})',
            [(number, *row) for number, _, _, switches in files for row in switches],
        )
        conn.commit()
        return conn.serialize()
    finally:
        conn.close()


class ChunkTables:
    """The writer's side: a database attached to its connection that holds one chunk at a time.

    ``attach`` before the load (outside a transaction), ``load`` each chunk's bytes, ``copy``
    the rows of a range of its files into the index, ``detach`` at the end.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._loaded: bytes | None = None

    def attach(self) -> None:
        if not self._attached():  # a load that failed mid-way may have left it attached
            self.conn.execute(f"ATTACH DATABASE ':memory:' AS \"{SCHEMA}\"")

    def detach(self) -> None:
        self._loaded = None
        if self._attached():
            self.conn.execute(f'DETACH DATABASE "{SCHEMA}"')

    def _attached(self) -> bool:
        return any(row[1] == SCHEMA for row in self.conn.execute("PRAGMA database_list"))

    def load(self, data: bytes) -> None:
        if data is not self._loaded:
            self.conn.deserialize(data, name=SCHEMA)
            self._loaded = data

    def copy(self, first: int, last: int) -> None:
        """Insert the rows of files ``first``..``last`` (``file_no``) of the loaded chunk, in order."""
        for index_table, table, columns in _TABLES:
            self.conn.execute(
                f'INSERT INTO "{index_table}" ({_names(columns)}) SELECT {_names(columns)} FROM "{SCHEMA}"."{table}"'
                " WHERE file_no BETWEEN ? AND ? ORDER BY rowid",
                (first, last),
            )
