"""Moving unreadable files aside, with the reason written next to them."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from store.atomic import TEMP_PREFIX

REASON_SUFFIX = ".reason.txt"
#: How many same-named files :func:`find_quarantined` looks through (``x.json``, ``x.json.1``...).
MAX_SAME_NAME = 1000

log = logging.getLogger(__name__)


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


def _claim_reason_file(folder: Path, name: str, note: bytes) -> Path:
    """Write ``note`` as the reason file of a free destination and return that destination.

    The reason file is published with ``os.link``, which fails if the name exists, so two
    processes quarantining at the same moment never pick (and overwrite) the same slot.
    """
    fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX + "reason.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(note)
            handle.flush()
            os.fsync(handle.fileno())
        while True:
            destination = _free_destination(folder, name)
            try:
                os.link(temp_name, str(destination) + REASON_SUFFIX)
            except FileExistsError:
                continue
            return destination
    finally:
        os.unlink(temp_name)


def _move_no_replace(path: Path, destination: Path) -> None:
    """Move ``path`` (a file, a symlink as a link, or a folder) to ``destination``, never overwriting."""
    try:
        os.link(path, destination, follow_symlinks=False)
    except (FileNotFoundError, FileExistsError):
        raise
    except OSError:
        # Folders cannot be hard-linked (and some file systems have no hard links).
        if os.path.lexists(destination):
            raise FileExistsError(errno.EEXIST, "quarantine destination exists", str(destination)) from None
        os.rename(path, destination)
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass  # another process moved the same file at the same time: both copies are kept


def quarantine_file(path: Path, folder: Path, reason: str, *, copy: bool = False) -> QuarantineRecord:
    """Move (or, with ``copy=True``, copy) ``path`` into ``folder`` with a ``.reason.txt``.

    The reason file is written first, so a crash never leaves an unexplained file, and no
    existing file in ``folder`` is ever overwritten. A symlink is moved (or copied) as a
    link, never followed. Raises ``FileNotFoundError`` if ``path`` vanished meanwhile
    (e.g. another process quarantined it first); no reason file is left behind then.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    note = f"original: {path}\nquarantined at: {stamp}\nreason: {reason}\n".encode("utf-8")
    while True:
        destination = _claim_reason_file(folder, path.name, note)
        try:
            if copy:
                if os.path.lexists(destination):
                    raise FileExistsError(errno.EEXIST, "quarantine destination exists", str(destination))
                shutil.copy2(path, destination, follow_symlinks=False)
            else:
                _move_no_replace(path, destination)
        except FileExistsError:
            # Something took the slot after it was found free: leave it alone, try the next.
            os.unlink(str(destination) + REASON_SUFFIX)
            continue
        except BaseException:
            os.unlink(str(destination) + REASON_SUFFIX)
            raise
        log.warning(
            "%s %s to %s: %s (the reason is in %s%s)", "copied" if copy else "moved unreadable file", path,
            destination, reason, destination.name, REASON_SUFFIX,
        )
        return QuarantineRecord(original_path=str(path), quarantined_path=str(destination), reason=reason)


def find_quarantined(folder: Path, name: str) -> QuarantineRecord | None:
    """The newest quarantined copy of the file called ``name`` (e.g. ``<id>.json``), or None.

    Found by the naming scheme of :func:`quarantine_file` (``name``, then ``name.1``,
    ``name.2``... for later ones), so only those few names are looked at, never the whole
    folder. The record's ``original_path`` and ``reason`` come from its ``.reason.txt``.
    """
    found: Path | None = None
    for number in range(MAX_SAME_NAME):
        candidate = folder / (name if number == 0 else f"{name}.{number}")
        if not os.path.lexists(candidate):
            break
        found = candidate
    if found is None:
        return None
    fields = {"original": "", "reason": "unknown (no readable .reason.txt)"}
    try:
        note = Path(str(found) + REASON_SUFFIX).read_text(encoding="utf-8", errors="replace")
    except OSError:
        note = ""
    for line in note.splitlines():
        key, _, value = line.partition(": ")
        if key in fields and value:
            fields[key] = value
    return QuarantineRecord(original_path=fields["original"], quarantined_path=str(found), reason=fields["reason"])
