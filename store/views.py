"""The symlink views ``by-model/<model>/<id>.json`` and ``by-date/YYYY-MM-DD/<id>.json``.

Views are conveniences for people browsing the folder: they are derived from the session
files and can be deleted and rebuilt at any time (``SessionStore.rebuild_views``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from store.paths import Layout
from store.schema import Session


# A folder name is limited to 255 bytes; longer model names are cut and given a hash.
_MAX_FOLDER_BYTES = 200


def model_folder_name(model: str) -> str:
    """A folder name for a model: ``/`` (as in ``openrouter/vendor/model``) becomes ``__``.

    Always a single, valid path component; a name too long for the file system is cut
    and suffixed with a short hash of the full name (so different models stay apart).
    """
    safe = model.replace("/", "__").replace("\\", "__").replace("\0", "")
    if safe in {"", ".", ".."}:
        safe = f"_{safe}_"
    encoded = safe.encode("utf-8")
    if len(encoded) > _MAX_FOLDER_BYTES:
        digest = hashlib.sha256(model.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        head = encoded[: _MAX_FOLDER_BYTES - 13].decode("utf-8", "ignore")
        safe = f"{head}~{digest}"
    return safe


def _view_links(layout: Layout, session: Session) -> list[Path]:
    links = [
        layout.by_model / model_folder_name(model) / f"{session.id}.json"
        for model in dict.fromkeys([*session.models_used, *( [session.current_model] if session.current_model else [])])
    ]
    links.append(layout.by_date / f"{session.created_at:%Y-%m-%d}" / f"{session.id}.json")
    return links


def _inside_real_folders(link: Path) -> bool:
    """True if neither the view folder (``by-model/<m>``) nor its base (``by-model``) is a symlink.

    Behind a symlinked folder, ``link`` would be a path outside the root: never touched.
    """
    return not os.path.islink(link.parent) and not os.path.islink(link.parent.parent)


def _real_folder(folder: Path) -> None:
    """Make ``folder`` and its parent real directories: a symlink there is removed, not followed."""
    for part in (folder.parent, folder):
        if os.path.islink(part):
            os.unlink(part)  # removes the link itself; its target (maybe outside the root) stays as it was
    folder.mkdir(parents=True, exist_ok=True)


def _link(link: Path, session_id: str) -> None:
    target = Path("..") / ".." / "sessions" / f"{session_id}.json"
    _real_folder(link.parent)
    if os.path.islink(link):
        if os.readlink(link) == str(target):
            return
        link.unlink(missing_ok=True)
    elif os.path.isdir(link):
        # A folder where a view link belongs: views are never the truth, replace it.
        shutil.rmtree(link)
    elif os.path.lexists(link):
        # A real file where a view link belongs: views are never the truth, replace it.
        link.unlink(missing_ok=True)
    link.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(target, link)
    except FileExistsError:
        pass  # another writer created the same link


def update_views(layout: Layout, session: Session, previous: Session | None = None) -> None:
    """Make sure every view link of ``session`` exists.

    With ``previous`` (the same session before a change), links it had that ``session``
    no longer has (another day, a model no longer used) are removed.
    """
    wanted = _view_links(layout, session)
    if previous is not None:
        for link in set(_view_links(layout, previous)) - set(wanted):
            if _inside_real_folders(link) and os.path.islink(link):
                link.unlink(missing_ok=True)
    for link in wanted:
        _link(link, session.id)


def remove_views(layout: Layout, session_id: str) -> None:
    """Remove every view link that names ``session_id``."""
    name = f"{session_id}.json"
    for base in (layout.by_model, layout.by_date):
        if base.is_symlink() or not base.is_dir():
            continue
        for folder in base.iterdir():
            link = folder / name
            if not folder.is_symlink() and os.path.islink(link):
                link.unlink(missing_ok=True)


def rebuild_all_views(layout: Layout, sessions: list[Session]) -> None:
    """Delete both view trees and recreate them from ``sessions``."""
    for base in (layout.by_model, layout.by_date):
        if base.is_symlink():
            base.unlink()
        elif base.exists():
            shutil.rmtree(base)
        base.mkdir(parents=True, exist_ok=True)
    for session in sessions:
        update_views(layout, session)
