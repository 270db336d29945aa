"""What a user can see of the index's state from outside the server (``scripts/sessions.py status``).

The server's watcher records its latest failure in ``.locks/index-last-error.json`` (derived
state, git-ignored like the locks); ``status`` reads it, with the counts of ``index.sqlite``
read through a read-only connection, so looking never creates or changes anything.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from index.files import is_session_file_name
from index.schema import BULK_LOADING_VERSION, INDEX_SCHEMA_VERSION
from store.paths import Layout
from store.quarantine import REASON_SUFFIX

ERROR_FILE = "index-last-error.json"


class LastIndexError(BaseModel):
    at: datetime
    error: str


class IndexStatus(BaseModel):
    """The index compared with the session folder, cheaply: names and counts, no file read."""

    root: str
    sessions_on_disk: int
    indexed: int
    pending: int
    refused: int
    quarantined_files: int
    index_exists: bool
    index_bytes: int
    schema_version: int | None
    schema_current: bool
    last_error: LastIndexError | None


def record_error(layout: Layout, text: str) -> None:
    """Remember ``text`` as the index's latest failure (best effort: never raises)."""
    try:
        layout.locks.mkdir(parents=True, exist_ok=True)
        data = {"at": datetime.now(timezone.utc).isoformat(), "error": text[:2000]}
        (layout.locks / ERROR_FILE).write_text(json.dumps(data), encoding="utf-8")
    except OSError:
        pass


def _count_names(folder: Path, wanted: object) -> int:
    try:
        with os.scandir(folder) as entries:
            return sum(1 for entry in entries if wanted(entry.name))  # type: ignore[operator]
    except (FileNotFoundError, NotADirectoryError):
        return 0


def _last_error(layout: Layout) -> LastIndexError | None:
    try:
        return LastIndexError.model_validate_json((layout.locks / ERROR_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def index_status(root: Path) -> IndexStatus:
    """The state of ``root``'s index (read-only; a missing root or index is reported, not made)."""
    layout = Layout(root)
    on_disk = _count_names(layout.sessions, is_session_file_name)
    quarantined = _count_names(layout.quarantine, lambda name: name.endswith(REASON_SUFFIX))
    path = layout.index
    size = sum(os.path.getsize(p) for p in (str(path), f"{path}-wal") if os.path.exists(p))
    version: int | None = None
    indexed = refused = 0
    if path.exists():
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
            try:
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if version in (INDEX_SCHEMA_VERSION, BULK_LOADING_VERSION):
                    indexed, refused = conn.execute(
                        "SELECT count(*) FILTER (WHERE status = 'indexed'), count(*) FILTER (WHERE status = 'refused') FROM files"
                    ).fetchone()
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            last = LastIndexError(at=datetime.now(timezone.utc), error=f"index.sqlite cannot be read: {exc}")
            return IndexStatus(
                root=str(root), sessions_on_disk=on_disk, indexed=0, pending=on_disk, refused=0, quarantined_files=quarantined,
                index_exists=True, index_bytes=size, schema_version=None, schema_current=False, last_error=last,
            )
    return IndexStatus(
        root=str(root),
        sessions_on_disk=on_disk,
        indexed=indexed,
        pending=max(0, on_disk - indexed - refused),
        refused=refused,
        quarantined_files=quarantined,
        index_exists=path.exists(),
        index_bytes=size,
        schema_version=version,
        schema_current=version == INDEX_SCHEMA_VERSION,
        last_error=_last_error(layout),
    )
