"""Moving unreadable files aside, with the reason written next to them."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from store.atomic import atomic_write_bytes

REASON_SUFFIX = ".reason.txt"


class QuarantineRecord(BaseModel):
    """One file that was moved (or copied) to quarantine and why."""

    original_path: str
    quarantined_path: str
    reason: str


def _free_destination(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/name.<n>`` if taken: nothing in quarantine is overwritten."""
    candidate = folder / name
    counter = 1
    while os.path.lexists(candidate) or os.path.lexists(str(candidate) + REASON_SUFFIX):
        candidate = folder / f"{name}.{counter}"
        counter += 1
    return candidate


def quarantine_file(path: Path, folder: Path, reason: str, *, copy: bool = False) -> QuarantineRecord:
    """Move (or, with ``copy=True``, copy) ``path`` into ``folder`` with a ``.reason.txt``.

    The reason file is written first, so a crash never leaves an unexplained file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    destination = _free_destination(folder, path.name)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    note = f"original: {path}\nquarantined at: {stamp}\nreason: {reason}\n"
    atomic_write_bytes(Path(str(destination) + REASON_SUFFIX), note.encode("utf-8"))
    if copy:
        shutil.copy2(path, destination, follow_symlinks=False)
    else:
        os.replace(path, destination)
    return QuarantineRecord(original_path=str(path), quarantined_path=str(destination), reason=reason)
