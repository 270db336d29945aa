"""Bringing one session file's rows up to date, whatever it has become: changed, touched, gone,
refused (newer schema) or unreadable (quarantined). Shared by every kind of sync."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Literal

from index.connection import IndexConnection
from index.files import Known, remember, stat_key
from index.models import ReindexReport
from index.prepare import Decoded, decode_file
from index.row_writer import delete_rows, forget, write_session
from index.schema import PENDING_HASH
from store.codec import read_file_no_follow

#: "stat": trust an unchanged stat; "hash": read and hash every file; "full": rewrite every row.
Mode = Literal["stat", "hash", "full"]


def index_one(db: IndexConnection, conn: sqlite3.Connection, rel: str, known: Known | None, mode: Mode, report: ReindexReport) -> None:
    """Bring the rows of the file ``rel`` up to date (inside a write transaction)."""
    path = db.root / rel
    report.files_seen += 1
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        forget_vanished(conn, rel, known, report)
        return
    unchanged = known is not None and stat_key(st) == known.stat
    if mode == "stat" and unchanged:
        report.skipped += 1
        return
    if mode == "hash" and unchanged and known is not None and known.sha256 == PENDING_HASH:
        # Our own append path's write: the rows match these bytes; only the digest is missing.
        stamp_digest(conn, rel, path, known)
        report.skipped += 1
        return
    decoded = decode_file(path)
    if decoded is None:
        forget_vanished(conn, rel, known, report)
        return
    if mode != "full" and known is not None and known.sha256 == decoded.sha256:
        # Touched but not changed: remember the new stat so the next sync skips it cheaply.
        remember(conn, rel, decoded, known.status, None)
        report.skipped += 1
        return
    if settle_unusable(db, conn, rel, path, decoded, report) or decoded.session is None:
        return
    write_session(conn, rel, decoded.session, db.attachment_text, fresh=mode == "full")
    remember(conn, rel, decoded, "indexed", None)
    report.indexed += 1


def forget_vanished(conn: sqlite3.Connection, rel: str, known: Known | None, report: ReindexReport) -> None:
    """A file that is gone: drop what the index knew of it."""
    if known is not None:
        forget(conn, rel)
        report.removed += 1


def settle_unusable(
    db: IndexConnection, conn: sqlite3.Connection, rel: str, path: Path, decoded: Decoded, report: ReindexReport
) -> bool:
    """A file written by a newer schema (left in place, refused) or unreadable (quarantined,
    ``handle_unreadable``): record it so; False if it is a readable session."""
    if decoded.refused is not None:
        delete_rows(conn, path.stem)
        remember(conn, rel, decoded, "refused", decoded.refused)
        report.refused.append(decoded.refused)
        report.skipped += 1
        return True
    if decoded.problem is not None:
        handle_unreadable(db, conn, rel, path, decoded, decoded.problem, report)
        return True
    return False


def stamp_digest(conn: sqlite3.Connection, rel: str, path: Path, known: Known) -> None:
    """Put the real sha256 in place of :data:`PENDING_HASH` if the file is still the one recorded."""
    try:
        digest = hashlib.sha256(read_file_no_follow(path)).hexdigest()
    except OSError:
        return  # gone or replaced: its own event (or the next sync) handles it
    conn.execute(
        "UPDATE files SET sha256 = ? WHERE path = ? AND sha256 = ? AND mtime_ns = ? AND size = ? AND inode IS ?",
        (digest, rel, PENDING_HASH, known.mtime_ns, known.size, known.inode),
    )


def handle_unreadable(
    db: IndexConnection, conn: sqlite3.Connection, rel: str, path: Path, decoded: Decoded, problem: str, report: ReindexReport
) -> None:
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        forget(conn, rel)
        report.removed += 1
        return
    if stat_key(now) != stat_key(decoded.stat):
        # Someone is still writing it: the next event (or sync) looks again.
        report.skipped += 1
        return
    try:
        record = db.quarantine(path, problem)
    except OSError as exc:
        report.errors.append(f"{path}: unreadable ({problem}) and could not be quarantined: {exc}")
        report.skipped += 1
        return
    forget(conn, rel)
    report.quarantined.append(record)
