"""The one line ``server.py`` prints on stderr when it is ready, so a person who runs it in a
terminal sees that it waits for a client rather than hangs (stdout is the MCP channel)."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

from store.paths import Layout


def version() -> str:
    try:
        return metadata.version("llm-mcp-server")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def count_sessions(root: Path) -> int:
    """Session files in ``sessions/``, counted by name (no file is opened)."""
    try:
        with os.scandir(Layout(root).sessions) as entries:
            return sum(1 for entry in entries if entry.name.endswith(".json"))
    except OSError:
        return 0


def startup_line(root: Path, transport: str, where: str | None = None) -> str:
    """``llm-mcp-server 0.1.0: MCP over stdio, sessions in /abs/root (12 sessions), waiting for a client``."""
    count = count_sessions(root)
    over = f"MCP over {transport}" + (f" at {where}" if where else "")
    return (
        f"llm-mcp-server {version()}: {over}, sessions in {root.absolute()} ({count:,} session{'s' if count != 1 else ''}), "
        "waiting for a client"
    )
