"""``trash/``: where deleted sessions go, named so that each restores unambiguously.

A trashed file is ``trash/<id>.<UTC time>.json`` with the time as ``YYYYmmddTHHMMSSffffffZ``:
the time has no dot, so splitting at the last two dots gives back the id, whatever dots the
id holds. Trashing the same id twice keeps both copies (different times).
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from store.errors import InvalidSessionId
from store.ids import validate_session_id

_STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
_NAME = re.compile(r"^(?P<id>.+)\.(?P<stamp>\d{8}T\d{12}Z)\.json$")


class TrashedSession(BaseModel):
    """One file in ``trash/``; title, model and message count only when read (``details``)."""

    id: str
    trashed_at: datetime
    path: Path
    size_bytes: int
    title: str | None = None
    current_model: str | None = None
    message_count: int | None = None


def trash_name(session_id: str, when: datetime) -> str:
    return f"{session_id}.{when.astimezone(timezone.utc).strftime(_STAMP_FORMAT)}.json"


def parse_trash_name(name: str) -> tuple[str, datetime] | None:
    """The id and trash time a trash file name holds, or None for any other name."""
    match = _NAME.match(name)
    if match is None:
        return None
    try:
        session_id = validate_session_id(match["id"])
        when = datetime.strptime(match["stamp"], _STAMP_FORMAT).replace(tzinfo=timezone.utc)
    except (InvalidSessionId, ValueError):
        return None
    return session_id, when


def trash_entries(folder: Path) -> list[TrashedSession]:
    """The trashed sessions in ``folder``, newest first (one ``scandir``, no file read)."""
    entries: list[TrashedSession] = []
    try:
        scan = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return entries
    with scan:
        for item in scan:
            parsed = parse_trash_name(item.name)
            if parsed is None or not item.is_file(follow_symlinks=False):
                continue
            try:
                size = item.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
            entries.append(TrashedSession(id=parsed[0], trashed_at=parsed[1], path=Path(item.path), size_bytes=size))
    entries.sort(key=lambda entry: (entry.trashed_at, entry.id), reverse=True)
    return entries
