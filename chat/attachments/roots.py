"""The file roots: the only folders whose files ``chat(files=..., images=...)`` may read.

``LLM_MCP_FILE_ROOTS`` holds absolute folders separated by ``os.pathsep`` (``:`` on POSIX);
unset or empty, the one root is the server's working directory (MCP clients start the
server in the project). Every root is resolved through symlinks once, and a path is checked
after resolving its own symlinks, so a link cannot lead out of the roots.
"""

from __future__ import annotations

import os
from pathlib import Path
from store.errors import UserFacingError

FILE_ROOTS_ENV = "LLM_MCP_FILE_ROOTS"


class FileRootsInvalid(UserFacingError, ValueError):
    """``LLM_MCP_FILE_ROOTS`` holds something that is not an absolute folder."""


def file_roots(environ: dict[str, str] | None = None) -> list[Path]:
    """The resolved file roots (see the module docstring); ``FileRootsInvalid`` for a bad entry."""
    env = os.environ if environ is None else environ
    raw = env.get(FILE_ROOTS_ENV, "")
    entries = [entry.strip() for entry in raw.split(os.pathsep) if entry.strip()]
    if not entries:
        return [Path.cwd().resolve()]
    roots: list[Path] = []
    for entry in entries:
        path = Path(entry).expanduser()
        if not path.is_absolute():
            raise FileRootsInvalid(
                f"{FILE_ROOTS_ENV} entry {entry!r} is not an absolute path: list absolute folders separated by {os.pathsep!r}"
            )
        resolved = path.resolve()
        if not resolved.is_dir():
            raise FileRootsInvalid(f"{FILE_ROOTS_ENV} entry {entry!r} is not an existing folder: fix it and restart the server")
        roots.append(resolved)
    return list(dict.fromkeys(roots))


def root_of(path: Path, roots: list[Path]) -> Path | None:
    """The root ``path`` (absolute, already resolved or lexical) lies under, or None."""
    for root in roots:
        if path == root or path.is_relative_to(root):
            return root
    return None


def describe_roots(roots: list[Path]) -> str:
    return ", ".join(str(root) for root in roots)
