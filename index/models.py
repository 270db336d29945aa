"""The pydantic shapes the index hands to callers (server tools, scripts, tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from store.errors import UserFacingError
from store.quarantine import QuarantineRecord


class InvalidQuery(UserFacingError, ValueError):
    """A query or filter of the caller's that the index refuses (nothing to search for, a bad
    page, ``since`` after ``until``, an unknown grouping); the message says why. Also a
    ``ValueError``, what these refusals were before."""


class ReindexReport(BaseModel):
    """What one ``Indexer.sync``/``index_paths`` call did.

    ``files_seen`` counts session files looked at; each one is then ``indexed`` (rows written),
    ``skipped`` (unchanged, in flux, or newer than this program — see ``refused``), or
    ``quarantined`` (unreadable, moved aside by the store's quarantine rule). ``removed`` counts
    files whose rows were dropped because the file is gone.
    """

    files_seen: int = 0
    indexed: int = 0
    skipped: int = 0
    removed: int = 0
    quarantined: list[QuarantineRecord] = Field(default_factory=list)
    refused: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    full: bool = False

    def summary(self) -> str:
        """One line for people: files seen / indexed / skipped / removed / quarantined, seconds."""
        return (
            f"{self.files_seen} files seen, {self.indexed} indexed, {self.skipped} skipped, "
            f"{self.removed} removed, {len(self.quarantined)} quarantined in {self.seconds:.2f}s"
        )

    def merge(self, other: ReindexReport) -> None:
        self.files_seen += other.files_seen
        self.indexed += other.indexed
        self.skipped += other.skipped
        self.removed += other.removed
        self.quarantined.extend(other.quarantined)
        self.refused.extend(other.refused)
        self.errors.extend(other.errors)


DifferenceKind = Literal["missing", "extra", "stale", "rows", "unreadable", "fts", "index"]


class IndexDifference(BaseModel):
    """One way the index disagrees with the session files.

    ``missing``: a file has no rows; ``extra``: rows for a file that is gone; ``stale``: the file
    changed since it was indexed; ``rows``: the rows differ from what the file says (e.g. edited
    by hand); ``unreadable``: the file cannot be decoded (a sync will quarantine it); ``fts``: a
    full-text table is inconsistent with its content table; ``index``: the index file itself is
    missing or was built by another version of the index schema.
    """

    kind: DifferenceKind
    path: str
    session_id: str | None = None
    detail: str = ""

    def describe(self) -> str:
        who = f" (session {self.session_id})" if self.session_id else ""
        return f"{self.kind}: {self.path}{who}: {self.detail}"


class SearchHit(BaseModel):
    """One ranked search result. ``message_id``/``role`` are ``None`` for a session-title hit;
    ``file`` is the path of the attached file the match is in (``None``: the message itself)."""

    session_id: str
    message_id: str | None
    model: str | None
    role: str | None
    created_at: datetime
    snippet: str
    score: float
    file: str | None = None

    @model_serializer(mode="wrap")
    def _file_only_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # ``file`` appears only on hits inside an attachment: other hits keep their usual keys.
        data = handler(self)
        if data.get("file") is None:
            data.pop("file", None)
        return data


class RecentSession(BaseModel):
    """A session as ``SearchIndex.recent_sessions`` lists it (newest update first)."""

    session_id: str
    title: str | None
    updated_at: datetime
    current_model: str | None
    models_used: list[str]
    message_count: int


class SwitchRecord(BaseModel):
    """One recorded model switch of one session."""

    session_id: str
    at_message: int
    from_model: str | None
    to_model: str
    at: datetime
    warning: str


class SwitchPage(BaseModel):
    """A page of model switches (newest first) and how many match."""

    switches: list[SwitchRecord]
    total: int
    limit: int | None
    offset: int


class IndexStats(BaseModel):
    """Counts describing the index as it is now."""

    path: str
    sessions: int
    messages: int
    model_switches: int
    files: int
    refused_files: int
    size_bytes: int
    last_indexed_at: datetime | None
