"""Case-insensitive uniqueness of session ids: the derived view ``by-casefold/<key>``.

On macOS and Windows ``Day1.json`` and ``day1.json`` are one file, so two ids that differ
only in case (or in Unicode normalisation, which macOS also ignores) must never both exist.
Each session owns one symlink ``by-casefold/<casefold key of its id>`` whose target is its
file (``../sessions/<id>.json``). Creating a symlink fails atomically when the name exists,
on every file system and across processes, so the link is the claim: a create makes it (under
the key's lock) before writing the file, and finding it owned by another existing id is the
clash. No folder is listed: one ``readlink`` and one ``lstat`` per create.

The view is derived, like ``by-model/``: git-ignored, rebuilt by ``SessionStore.rebuild_views``.
A session whose link is missing (its file arrived by ``git pull``) is tolerated; the next create
that would clash with it still notices on a case-folding file system (the file name answers
for the other id, see :func:`existing_owner`), and ``rebuild_views`` remakes the links and
reports ids that clash with each other (:func:`clashes`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from store.errors import InvalidSessionId
from store.ids import validate_session_id
from store.paths import Layout

FOLDER = "by-casefold"
# A file name is limited to 255 bytes; casefolding can lengthen an id (``ß`` -> ``ss``).
_MAX_KEY_BYTES = 200


def casefold_key(session_id: str) -> str:
    """The name under which ids equal up to case and Unicode normalisation meet.

    NFD before casefolding and NFC after, so ``é`` written either way and ``É`` give one key.
    """
    key = unicodedata.normalize("NFC", unicodedata.normalize("NFD", session_id).casefold())
    encoded = key.encode("utf-8")
    if len(encoded) > _MAX_KEY_BYTES:
        digest = hashlib.sha256(encoded).hexdigest()[:12]
        key = encoded[: _MAX_KEY_BYTES - 13].decode("utf-8", "ignore") + "~" + digest
    return key


def folder(layout: Layout) -> Path:
    return layout.root / FOLDER


def link_path(layout: Layout, session_id: str) -> Path:
    return folder(layout) / casefold_key(session_id)


def lock_path(layout: Layout, session_id: str) -> Path:
    """The lock that serialises claims of one key (ids differing in case share it)."""
    digest = hashlib.sha256(casefold_key(session_id).encode("utf-8")).hexdigest()[:32]
    return layout.locks / f"casefold-{digest}.lock"


def _target(session_id: str) -> str:
    return str(Path("..") / "sessions" / f"{session_id}.json")


def _owner_of(link: Path) -> str | None:
    """The id the link names, or None (no link, not one of ours, or behind a symlinked folder)."""
    if os.path.islink(link.parent):
        return None  # never read or change anything through a folder that points out of the root
    try:
        target = os.readlink(link)
    except OSError:
        return None
    name = Path(target).name
    if Path(target).parent != Path("..") / "sessions" or not name.endswith(".json"):
        return None
    return name[: -len(".json")]


def existing_owner(layout: Layout, session_id: str) -> str | None:
    """The id of an existing session, other than ``session_id``, that owns its key's link, else None.

    An owner whose file is gone (deleted by ``git pull`` or by hand) does not count.
    """
    owner = _owner_of(link_path(layout, session_id))
    if owner is None or owner == session_id:
        return None
    if not os.path.lexists(layout.session_file(owner)):
        return None
    return owner


def ensure(layout: Layout) -> None:
    """Build ``by-casefold/`` from the file names in ``sessions/`` if it does not exist yet.

    A store made before this view existed gets it on first open: one ``os.scandir`` of
    ``sessions/`` (names only, no file is read) and one symlink per session, built in a temp
    folder and renamed into place, so a concurrent opener sees no half-built view. Among ids
    that clash, the first by name gets the link (``rebuild_views`` reports the clash).
    """
    base = folder(layout)
    if os.path.isdir(base) and not os.path.islink(base):
        return
    ids: list[str] = []
    try:
        with os.scandir(layout.sessions) as scan:
            for entry in scan:
                name = entry.name
                if name.endswith(".json") and not name.startswith("."):
                    ids.append(name[: -len(".json")])
    except FileNotFoundError:
        pass
    temp = _build_aside(layout, ids)
    if os.path.islink(base):
        os.unlink(base)
    try:
        os.rename(temp, base)
    except OSError:
        shutil.rmtree(temp, ignore_errors=True)  # another process built it first


def claim(layout: Layout, session_id: str) -> None:
    """Point the key's link at ``session_id`` (call under :func:`lock_path`, after checking
    :func:`existing_owner`). A stale link (its owner's file is gone) is replaced atomically."""
    link = link_path(layout, session_id)
    base = folder(layout)
    if not os.path.isdir(base) or os.path.islink(base):
        ensure(layout)  # never built, removed, or a symlink out of the root: build from the names
    target = _target(session_id)
    try:
        os.symlink(target, link)
        return
    except FileExistsError:
        pass
    if os.path.islink(link) and os.readlink(link) == target:
        return
    if os.path.isdir(link) and not os.path.islink(link):
        shutil.rmtree(link)  # a folder where a link belongs: views are never the truth
    temp = link.with_name(f".tmp-{link.name}.{os.getpid()}")
    try:
        os.unlink(temp)
    except FileNotFoundError:
        pass
    os.symlink(target, temp)
    os.replace(temp, link)  # atomic: a reader sees the stale link or the new one


def release(layout: Layout, session_id: str) -> None:
    """Remove the key's link if it names ``session_id`` (a link of another id stays)."""
    link = link_path(layout, session_id)
    if _owner_of(link) == session_id:
        try:
            os.unlink(link)
        except FileNotFoundError:
            pass


def owner_name(layout: Layout, key: str) -> str | None:
    """The id the link ``by-casefold/<key>`` names (one readlink), or None."""
    return _owner_of(folder(layout) / key)


def clashes(ids: Iterable[str]) -> dict[str, list[str]]:
    """The keys shared by more than one of ``ids`` and the ids sharing each."""
    by_key: dict[str, list[str]] = {}
    for session_id in ids:
        by_key.setdefault(casefold_key(session_id), []).append(session_id)
    return {key: sorted(group) for key, group in by_key.items() if len(group) > 1}


def rebuild(layout: Layout, ids: Iterable[str]) -> dict[str, list[str]]:
    """Recreate ``by-casefold/`` for ``ids``; return the clashes (their key keeps the first id by name).

    Built aside and swapped in with two renames, so a create running meanwhile finds the old
    view or the new one (the window between the renames is tolerated like a missing link).
    """
    base = folder(layout)
    ordered = sorted(ids)
    found = clashes(ordered)
    temp = _build_aside(layout, ordered)
    if os.path.islink(base):
        os.unlink(base)
    old = layout.root / f".tmp-{FOLDER}-old.{os.getpid()}.{time.monotonic_ns()}"
    try:
        os.rename(base, old)
        moved = True
    except FileNotFoundError:
        moved = False
    os.rename(temp, base)
    if moved:
        shutil.rmtree(old, ignore_errors=True)
    return found


def _build_aside(layout: Layout, ids: list[str]) -> Path:
    """A new view folder beside the root's folders (a temp name) holding one link per key."""
    temp = layout.root / f".tmp-{FOLDER}.{os.getpid()}.{time.monotonic_ns()}"
    temp.mkdir(parents=True)
    claimed: set[str] = set()
    for session_id in sorted(ids):
        try:
            validate_session_id(session_id)
        except InvalidSessionId:
            continue
        key = casefold_key(session_id)
        if key not in claimed:
            claimed.add(key)
            os.symlink(_target(session_id), temp / key)
    return temp
