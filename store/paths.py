"""Where the data lives: the one place that resolves the session root and its sub-folders."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SESSIONS_DIR_ENV = "LLM_SESSIONS_DIR"
LEGACY_DIR_ENV = "KIMI_SESSIONS_DIR"
DEFAULT_ROOT = ".llm_sessions"
DEFAULT_LEGACY_ROOT = ".kimi_sessions"


def resolve_root(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """The session root: ``--root`` if given, else ``$LLM_SESSIONS_DIR``, else ``./.llm_sessions``."""
    if cli_value:
        return Path(cli_value)
    from_env = os.environ.get(SESSIONS_DIR_ENV)
    return Path(from_env) if from_env else Path(DEFAULT_ROOT)


def resolve_legacy_root(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """The legacy Kimi folder: the argument, else ``$KIMI_SESSIONS_DIR``, else ``./.kimi_sessions``."""
    if cli_value:
        return Path(cli_value)
    from_env = os.environ.get(LEGACY_DIR_ENV)
    return Path(from_env) if from_env else Path(DEFAULT_LEGACY_ROOT)


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
