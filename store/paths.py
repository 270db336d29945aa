"""Where the data lives: the one place that resolves the session root and its sub-folders."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SESSIONS_DIR_ENV = "LLM_SESSIONS_DIR"
LEGACY_DIR_ENV = "KIMI_SESSIONS_DIR"
DEFAULT_ROOT = ".llm_sessions"
DEFAULT_LEGACY_ROOT = ".kimi_sessions"


def _pick(cli_value: str | os.PathLike[str] | None, variable: str, default: str) -> Path:
    if cli_value:
        chosen = Path(cli_value)
    else:
        from_env = os.environ.get(variable)
        chosen = Path(from_env) if from_env else Path(default)
    # MCP clients pass env values from JSON config without a shell, so "~" arrives unexpanded.
    return chosen.expanduser()


def resolve_root(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """The session root: ``--root`` if given, else ``$LLM_SESSIONS_DIR``, else ``./.llm_sessions``.

    A leading ``~`` is expanded to the home folder.
    """
    return _pick(cli_value, SESSIONS_DIR_ENV, DEFAULT_ROOT)


def resolve_legacy_root(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """The legacy Kimi folder: the argument, else ``$KIMI_SESSIONS_DIR``, else ``./.kimi_sessions``.

    A leading ``~`` is expanded to the home folder.
    """
    return _pick(cli_value, LEGACY_DIR_ENV, DEFAULT_LEGACY_ROOT)


@dataclass(frozen=True)
class Layout:
    """The folders of one session root (see DESIGN.md, "On disk")."""

    root: Path

    @property
    def sessions(self) -> Path:
        return self.root / "sessions"

    @property
    def by_model(self) -> Path:
        return self.root / "by-model"

    @property
    def by_date(self) -> Path:
        return self.root / "by-date"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def trash(self) -> Path:
        return self.root / "trash"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def locks(self) -> Path:
        return self.root / ".locks"

    @property
    def index(self) -> Path:
        return self.root / "index.sqlite"

    def session_file(self, session_id: str) -> Path:
        """Path of a session file; ``session_id`` must already be validated."""
        return self.sessions / f"{session_id}.json"

    def ensure(self) -> None:
        for folder in (self.sessions, self.by_model, self.by_date, self.quarantine, self.trash, self.locks):
            folder.mkdir(parents=True, exist_ok=True)
