"""``<root>/.gitignore``: so ``git add .llm_sessions`` stages only the canonical data.

Canonical (committed, shared with a team): ``sessions/``, ``blobs/``, and the root's own
``.gitignore`` and ``.gitattributes``. Derived or local (ignored): the index and its SQLite
side files, ``.locks/``, the symlink views ``by-model/``, ``by-date/`` and ``by-casefold/``, temp files of
interrupted writes, ``trash/`` (sessions deleted on this machine: a deletion reaches the others
as the file's removal in git) and ``quarantine/`` (files this machine could not read: sharing
them would spread a broken file; the removal from ``sessions/`` shows in ``git status``).

The rules live in a marked block. The file is written when missing; when it holds the block,
only the block is brought up to date (lines a person added around it are kept); a file
without the block is the user's own and is never touched.
"""

from __future__ import annotations

from pathlib import Path

from store.atomic import TEMP_PREFIX, atomic_write_bytes

BEGIN = "# >>> llm-mcp-server: derived and machine-local files (managed block, rebuilt on each machine) >>>"
END = "# <<< llm-mcp-server <<<"
IGNORED = (
    "/index.sqlite",
    "/index.sqlite-wal",
    "/index.sqlite-shm",
    "/index.sqlite-journal",
    "/.locks/",
    "/by-model/",
    "/by-date/",
    "/by-casefold/",
    "/trash/",
    "/quarantine/",
    f"{TEMP_PREFIX}*",
)
HEADER = (
    "# Commit sessions/ and blobs/ (the conversations); everything below is rebuilt locally.\n"
    "# Edit freely outside the managed block; remove the block to manage this file yourself.\n"
)


def has_managed_block(root: Path) -> bool:
    """True if ``root/.gitignore`` holds the managed block (False: missing, or the user's own file)."""
    try:
        return BEGIN in (root / ".gitignore").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def managed_block() -> str:
    return "\n".join((BEGIN, *IGNORED, END)) + "\n"


def ensure_gitignore(root: Path) -> bool:
    """Write or refresh ``root/.gitignore`` as described above; True if the file was written."""
    path = root / ".gitignore"
    block = managed_block()
    try:
        current = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _write(path, HEADER + block)
    except (OSError, UnicodeDecodeError):
        return False  # not ours to repair
    start = current.find(BEGIN)
    end = current.find(END, start)
    if start < 0 or end < 0:
        return False  # the user's own file
    end += len(END)
    if end < len(current) and current[end] == "\n":
        end += 1
    updated = current[:start] + block + current[end:]
    if updated == current:
        return False
    return _write(path, updated)


def _write(path: Path, text: str) -> bool:
    try:
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError:
        return False  # a read-only or full disk must not stop a store from reading sessions
    return True
