"""The file roots: the only folders whose files ``chat(files=..., images=...)`` may read.

``LLM_MCP_FILE_ROOTS`` holds absolute folders separated by ``os.pathsep`` (``:`` on POSIX);
unset or empty, the one root is the server's working directory (MCP clients such as Claude
Code start the server in the project) -- unless that directory is ``/``, the user's home
folder or a folder above it (desktop clients start servers there): then every file of the
user would be reachable, so attachments are refused (:class:`HomeRootRefused`) until the
variable is set. Every root is resolved through symlinks once, and a path is checked
after resolving its own symlinks, so a link cannot lead out of the roots.
"""

from __future__ import annotations

import os
from pathlib import Path
from store.errors import UserFacingError

FILE_ROOTS_ENV = "LLM_MCP_FILE_ROOTS"


class FileRootsInvalid(UserFacingError, ValueError):
    """``LLM_MCP_FILE_ROOTS`` holds something that is not an absolute folder."""


class HomeRootRefused(FileRootsInvalid):
    """No ``LLM_MCP_FILE_ROOTS``, and the working directory would open the whole home folder."""

    def __init__(self, cwd: Path, what: str) -> None:
        super().__init__(
            f"attachments are refused: {FILE_ROOTS_ENV} is not set and the server's working directory is {cwd} "
            f"({what}), which would let any prompt attach every file of yours. Set {FILE_ROOTS_ENV} to your "
            f"project folder(s) (absolute paths separated by {os.pathsep!r}) in the server's environment: "
            f"Claude Code: `claude mcp add llm -e {FILE_ROOTS_ENV}=/path/to/project -- ...`; Claude Desktop "
            f"(claude_desktop_config.json) or Cursor (.cursor/mcp.json): \"env\": {{\"{FILE_ROOTS_ENV}\": "
            f"\"/path/to/project\"}} in the server's entry; then restart the server"
        )


def _home_wide(cwd: Path, home: Path | None) -> str | None:
    """Why ``cwd`` is too wide a default root (a phrase), or None."""
    if cwd == Path(cwd.anchor):
        return "the file system's root"
    if home is not None and (cwd == home or home.is_relative_to(cwd)):
        return "your home folder" if cwd == home else f"a folder above your home folder {home}"
    return None


def _home() -> Path | None:
    try:
        return Path.home().resolve()
    except (RuntimeError, KeyError):  # no HOME and no passwd entry
        return None


def file_roots(environ: dict[str, str] | None = None, *, cwd: Path | None = None, home: Path | None = None) -> list[Path]:
    """The resolved file roots (see the module docstring); ``FileRootsInvalid`` for a bad entry,
    :class:`HomeRootRefused` when the implicit root would be ``/`` or the home folder."""
    env = os.environ if environ is None else environ
    raw = env.get(FILE_ROOTS_ENV, "")
    entries = [entry.strip() for entry in raw.split(os.pathsep) if entry.strip()]
    if not entries:
        working = (cwd or Path.cwd()).resolve()
        too_wide = _home_wide(working, home if home is not None else _home())
        if too_wide:
            raise HomeRootRefused(working, too_wide)
        return [working]
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
