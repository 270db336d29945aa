"""The session folder as the index sees it, and the ``files`` table that remembers each file.

Listing ``sessions/``, the stat key that tells an unchanged file, and reading and writing the
``files`` rows (what was indexed from which stat and digest).
"""

from __future__ import annotations

import bisect
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from index.prepare import Decoded
from index.times import iso


@dataclass(frozen=True)
class Known:
    """What the ``files`` table remembers about one file."""

    mtime_ns: int
    size: int
    inode: int | None
    sha256: str
    status: str

    @property
    def stat(self) -> tuple[int, int, int | None]:
        return (self.mtime_ns, self.size, self.inode)


def stat_key(st: os.stat_result) -> tuple[int, int, int]:
    """What tells an unchanged file: (mtime_ns, size, inode)."""
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def is_session_file_name(name: str) -> bool:
    """``<id>.json`` in ``sessions/``; dot files (the store's temp files, editor swaps) are not."""
    return name.endswith(".json") and not name.startswith(".")


def session_id_of(rel: str) -> str:
    """``Path(rel).stem`` without building a ``Path`` (a full sync asks for 100,000 of them):
    the session id a ``sessions/<id>.json`` file name gives."""
    name = rel.rpartition("/")[2]
    if name.endswith(".json") and name != ".json":
        return name[: -len(".json")]
    return Path(rel).stem


def scan(folder: Path) -> dict[str, Path]:
    """``sessions/<name>`` -> path of every session file in ``folder``."""
    if not folder.is_dir():
        return {}
    found = {}
    for entry in os.scandir(folder):
        if is_session_file_name(entry.name) and not entry.is_dir(follow_symlinks=False):
            found[f"sessions/{entry.name}"] = Path(entry.path)
    return found


def scan_names(folder: Path) -> list[str]:
    """The ``sessions/<name>`` of every session file in ``folder``, sorted (plain strings: small)."""
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        names = [
            f"sessions/{entry.name}"
            for entry in entries
            if is_session_file_name(entry.name) and not entry.is_dir(follow_symlinks=False)
        ]
    names.sort()
    return names


_KNOWN_SQL = "SELECT path, mtime_ns, size, inode, sha256, status FROM files"


def known(conn: sqlite3.Connection, rel: str | None = None) -> dict[str, Known]:
    """The ``files`` rows (of ``rel`` only, if given)."""
    if rel is None:
        return {row[0]: Known(*row[1:]) for row in conn.execute(_KNOWN_SQL)}
    return {row[0]: Known(*row[1:]) for row in conn.execute(_KNOWN_SQL + " WHERE path = ?", (rel,))}


def known_range(conn: sqlite3.Connection, first: str, last: str) -> dict[str, Known]:
    """The ``files`` rows of the paths from ``first`` to ``last`` (one chunk of a sync)."""
    rows = conn.execute(_KNOWN_SQL + " WHERE path >= ? AND path <= ?", (first, last))
    return {row[0]: Known(*row[1:]) for row in rows}


def known_paths(conn: sqlite3.Connection, rels: list[str]) -> dict[str, Known]:
    """The ``files`` rows of exactly the paths ``rels`` (at most a sync chunk of them)."""
    if not rels:
        return {}
    rows = conn.execute(_KNOWN_SQL + f" WHERE path IN ({', '.join('?' for _ in rels)})", rels)
    return {row[0]: Known(*row[1:]) for row in rows}


def known_but_not_in(conn: sqlite3.Connection, names: list[str], page: int = 2000) -> list[str]:
    """Paths in ``files`` that are not in the sorted list ``names`` (read a page at a time)."""
    missing: list[str] = []
    after = ""
    while True:
        rows = conn.execute("SELECT path FROM files WHERE path > ? ORDER BY path LIMIT ?", (after, page)).fetchall()
        for (rel,) in rows:
            at = bisect.bisect_left(names, rel)
            if at == len(names) or names[at] != rel:
                missing.append(rel)
        if len(rows) < page:
            return missing
        after = rows[-1][0]


REMEMBER_SQL = (
    "INSERT OR REPLACE INTO files (path, session_id, mtime_ns, size, inode, sha256, status, detail, indexed_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def files_row(rel: str, decoded: Decoded, status: str, detail: str | None, indexed_at: str) -> tuple[Any, ...]:
    """The ``files`` row that remembers ``decoded`` (its stat and digest) as ``status``."""
    st = decoded.stat
    return (rel, session_id_of(rel), st.st_mtime_ns, st.st_size, st.st_ino, decoded.sha256, status, detail, indexed_at)


def remember(conn: sqlite3.Connection, rel: str, decoded: Decoded, status: str, detail: str | None) -> None:
    """Record that ``rel`` was indexed (or refused...) from the bytes ``decoded`` describes."""
    conn.execute(REMEMBER_SQL, files_row(rel, decoded, status, detail, iso(datetime.now(timezone.utc))))
