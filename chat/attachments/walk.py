"""A directory passed in ``files`` -> the files under it, honouring ``.gitignore`` (via ``pathspec``).

The ``.gitignore`` files of the folder itself, of every folder below it and of its parents up
to the file root it lies in apply, with git's rules (a deeper file overrides a shallower one,
``!`` re-includes). ``.git/`` is never entered and symlinked folders are not followed.
The result is sorted by path; more than ``limit`` files is an error (the caller names it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pathspec

GITIGNORE = ".gitignore"
NEVER_ENTERED = frozenset({".git", ".hg", ".svn"})


class TooManyFiles(ValueError):
    """The directory holds more files than the cap allows."""


def _load_spec(folder: Path) -> pathspec.GitIgnoreSpec | None:
    try:
        lines = (folder / GITIGNORE).read_text(encoding="utf-8", errors="replace").splitlines()
    except (FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError):
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


class _Ignores:
    """The ``.gitignore`` specs seen so far, by the folder they apply from."""

    def __init__(self, top: Path, stop: Path) -> None:
        self.specs: dict[Path, pathspec.GitIgnoreSpec] = {}
        self.stop = stop
        folder = top.parent
        while folder.is_relative_to(stop):  # the parents of ``top``, up to the root
            self.add(folder)
            if folder == stop:
                break
            folder = folder.parent

    def add(self, folder: Path) -> None:
        spec = _load_spec(folder)
        if spec is not None:
            self.specs[folder] = spec

    def ignored(self, path: Path, is_dir: bool) -> bool:
        """git's answer: the deepest ``.gitignore`` with a pattern matching ``path`` decides."""
        folder = path.parent
        while True:
            spec = self.specs.get(folder)
            if spec is not None:
                relative = path.relative_to(folder).as_posix() + ("/" if is_dir else "")
                decision = spec.check_file(relative).include
                if decision is not None:
                    return decision
            if folder == self.stop or folder.parent == folder:
                return False
            folder = folder.parent


def files_under(directory: Path, root: Path, limit: int) -> list[Path]:
    """Every file (regular or symlink) under ``directory`` that ``.gitignore`` does not exclude, sorted.

    ``root`` is the file root ``directory`` lies in (parents' ``.gitignore`` files are read up
    to it). Raises :class:`TooManyFiles` beyond ``limit`` files.
    """
    ignores = _Ignores(directory, root)
    found: list[Path] = []
    for current, dirs, names in os.walk(directory, followlinks=False):
        here = Path(current)
        ignores.add(here)
        dirs[:] = sorted(d for d in dirs if d not in NEVER_ENTERED and not ignores.ignored(here / d, is_dir=True))
        for name in sorted(names):
            path = here / name
            if ignores.ignored(path, is_dir=False):
                continue
            found.append(path)
            if len(found) > limit:
                raise TooManyFiles(f"it holds more than {limit} files (after .gitignore)")
    return sorted(found, key=lambda p: p.as_posix())
