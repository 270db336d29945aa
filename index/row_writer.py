"""Writing one session's rows (``sessions``, ``messages``, ``model_switches``) and dropping them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from index.blob_text import BlobTexts
from index.rows import MESSAGE_COLUMNS, SESSION_COLUMNS, SWITCH_COLUMNS, message_rows, session_row, switch_rows
from store.schema import Session


def _placeholders(columns: tuple[str, ...]) -> str:
    return ", ".join("?" for _ in columns)


INSERT_SESSION_SQL = f"INSERT INTO sessions ({', '.join(SESSION_COLUMNS)}) VALUES ({_placeholders(SESSION_COLUMNS)})"
_INSERT_MESSAGE_SQL = f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) VALUES ({_placeholders(MESSAGE_COLUMNS)})"
_INSERT_SWITCH_SQL = f"INSERT INTO model_switches ({', '.join(SWITCH_COLUMNS)}) VALUES ({_placeholders(SWITCH_COLUMNS)})"
_UPDATE_SESSION_SQL = f"UPDATE sessions SET {', '.join(f'{column} = ?' for column in SESSION_COLUMNS[1:])} WHERE session_id = ?"


def delete_rows(conn: sqlite3.Connection, session_id: str) -> None:
    conn.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
    conn.execute("DELETE FROM model_switches WHERE session_id = ?", (session_id,))
    conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))


def forget(conn: sqlite3.Connection, rel: str) -> None:
    """Drop the rows of the file ``rel`` and its ``files`` row."""
    delete_rows(conn, Path(rel).stem)
    conn.execute("DELETE FROM files WHERE path = ?", (rel,))


def insert_messages(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.executemany(_INSERT_MESSAGE_SQL, rows)


def insert_switches(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.executemany(_INSERT_SWITCH_SQL, rows)


def write_session(
    conn: sqlite3.Connection, rel: str, session: Session, attachment_text: BlobTexts, fresh: bool = False
) -> None:
    """Make the rows of ``session`` equal to what a rebuild would write.

    Incremental: the stored message rows are compared with the new ones and only the rows
    from the first difference on are replaced (a turn appends two messages, so usually only
    those are inserted). ``fresh`` (full sync) skips the comparison: every row is written anew.
    """
    new_session = session_row(session, rel)
    new_messages = message_rows(session, attachment_text=attachment_text)
    new_switches = switch_rows(session)
    stored = None if fresh else conn.execute(
        f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE session_id = ?", (session.id,)
    ).fetchone()
    if stored is None:
        # Stray rows (a crash, another writer during a full rebuild) must not collide.
        delete_rows(conn, session.id)
        conn.execute(INSERT_SESSION_SQL, new_session)
        insert_messages(conn, new_messages)
        insert_switches(conn, new_switches)
        return
    if tuple(stored) != new_session:
        conn.execute(_UPDATE_SESSION_SQL, (*new_session[1:], session.id))
    old_messages = conn.execute(
        f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM messages WHERE session_id = ? ORDER BY position", (session.id,)
    ).fetchall()
    common = 0
    for old, new in zip(old_messages, new_messages):
        if old != new:
            break
        common += 1
    if common < len(old_messages):
        conn.execute("DELETE FROM messages WHERE session_id = ? AND position >= ?", (session.id, common))
    insert_messages(conn, new_messages[common:])
    old_switches = conn.execute(
        f"SELECT {', '.join(SWITCH_COLUMNS)} FROM model_switches WHERE session_id = ? ORDER BY position", (session.id,)
    ).fetchall()
    if old_switches != new_switches:
        conn.execute("DELETE FROM model_switches WHERE session_id = ?", (session.id,))
        insert_switches(conn, new_switches)


def append_rows(conn: sqlite3.Connection, rel: str, session: Session, messages: int, switches: int, attachment_text: BlobTexts) -> None:
    """The rows of ``session`` from those of its previous version, which lacked the last
    ``messages`` messages and ``switches`` switches: O(new messages and switches)."""
    cursor = conn.execute(_UPDATE_SESSION_SQL, (*session_row(session, rel)[1:], session.id))
    if cursor.rowcount != 1:  # pragma: no cover - the files row says it is indexed; be safe anyway
        write_session(conn, rel, session, attachment_text)
        return
    insert_messages(conn, message_rows(session, len(session.messages) - messages, attachment_text))
    insert_switches(conn, switch_rows(session, len(session.model_switches) - switches))
