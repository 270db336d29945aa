"""Migrating a legacy ``.kimi_sessions/`` folder into the unified store, file by file.

``migrate_folder`` is what ``scripts/migrate_kimi.py`` runs; ``migrate_legacy_session`` is
the lazy path the server takes when a legacy id is used before the folder was migrated.
Both share ``migrate_file``, so an id resolves the same way whichever path runs first.

Guarantees a caller may rely on:
- legacy files are only ever read (never written, moved or deleted);
- a unified session is written only through ``SessionStore.save_new`` (atomic, locked) and
  only after ``to_legacy`` of its re-read encoding equals the legacy document (lossless);
- re-running is idempotent: a legacy file whose bytes were already migrated (same legacy id
  and SHA-256, recorded in ``extensions.kimi``) is reported ``unchanged`` and nothing is written;
- unreadable files are copied (never moved) to ``<root>/quarantine/`` with a ``.reason.txt``,
  once: an identical copy already there is not copied again;
- an id taken by a different session gets ``-legacy-<8 hex of the file's SHA-256>`` (more hex
  if that is taken too): deterministic, reported, nothing overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from store.codec import UnreadableSessionFile, decode_session, encode_session, read_file_no_follow
from store.casefold import existing_owner
from store.errors import SessionExists, StoreError, UnsupportedSchemaVersion
from store.ids import MAX_ID_LENGTH, validate_session_id
from store.legacy.parsing import LegacyReadError, first_difference
from store.legacy.mapping import (
    ID_KEYS,
    LegacyShapeError,
    LegacySource,
    legacy_extension,
    parse_legacy_document,
    safe_session_id,
    to_legacy,
    to_unified,
)
from store.paths import Layout
from store.quarantine import REASON_SUFFIX, quarantine_file
from store.schema import Session
from store.session_store import SessionStore

Status = Literal["migrated", "unchanged", "quarantined", "would_migrate", "would_quarantine", "blocked"]


class Collision(BaseModel):
    """An id the legacy file wanted but could not have, and the id it got instead."""

    wanted_id: str
    resolved_id: str
    reason: str


class FileOutcome(BaseModel):
    """What happened to one legacy file."""

    file: str
    legacy_id: str
    status: Status
    session_id: str | None = None
    reason: str | None = None
    quarantined_to: str | None = None
    renamed: str | None = None
    collision: Collision | None = None
    notes: list[str] = Field(default_factory=list)
    verify: Literal["ok", "failed"] | None = None
    verify_detail: str | None = None
    wrote: bool = False  # this run wrote a unified session or a quarantine copy for the file


class MigrationReport(BaseModel):
    """The outcome of one run over a legacy folder (``--json`` prints this)."""

    legacy_root: str
    root: str
    dry_run: bool
    verified: bool = False
    files: list[FileOutcome] = Field(default_factory=list)

    def count(self, *statuses: str) -> int:
        return sum(1 for item in self.files if item.status in statuses)

    @property
    def collisions(self) -> int:
        return sum(1 for item in self.files if item.collision is not None)

    @property
    def verify_failed(self) -> int:
        return sum(1 for item in self.files if item.verify == "failed")

    @property
    def changed(self) -> bool:
        """True if this run wrote anything (a unified session or a quarantine copy)."""
        return any(item.wrote for item in self.files)

    @property
    def ok(self) -> bool:
        """True if every legacy file is (or, in a dry run, would be) in the unified store and verified."""
        return self.count("quarantined", "would_quarantine", "blocked") == 0 and self.verify_failed == 0

    def summary(self) -> dict[str, int]:
        return {
            "files": len(self.files),
            "migrated": self.count("migrated"),
            "would_migrate": self.count("would_migrate"),
            "unchanged": self.count("unchanged"),
            "quarantined": self.count("quarantined", "would_quarantine"),
            "blocked": self.count("blocked"),
            "collisions": self.collisions,
            "renamed": sum(1 for item in self.files if item.renamed),
            "verify_ok": sum(1 for item in self.files if item.verify == "ok"),
            "verify_failed": self.verify_failed,
        }


class LegacySessionUnreadable(StoreError):
    """The legacy file for a session id cannot be migrated; a copy is in quarantine."""

    def __init__(self, session_id: str, reason: str, quarantined_to: str | None) -> None:
        where = f"; a copy is in {quarantined_to} with a .reason.txt" if quarantined_to else ""
        super().__init__(
            f"legacy session {session_id!r} cannot be migrated ({reason}){where}. The legacy file was "
            "left untouched; repair it and run scripts/migrate_kimi.py again."
        )
        self.session_id = session_id
        self.reason = reason
        self.quarantined_to = quarantined_to


def legacy_files(legacy_root: Path) -> list[Path]:
    """The ``*.json`` files directly in ``legacy_root``, sorted by name.

    Dot-files (the legacy writer's temp and lock files), folders, pipes and devices are skipped;
    a dangling symlink is listed so that it is reported rather than silently ignored.
    """
    if not legacy_root.is_dir():
        return []
    return sorted(
        entry
        for entry in legacy_root.iterdir()
        if entry.suffix == ".json"
        and not entry.name.startswith(".")
        and (entry.is_file() or (entry.is_symlink() and not entry.exists()))
    )


def _inspect(layout: Layout, session_id: str) -> Session | Literal["unreadable"] | None:
    """The unified session stored under ``session_id`` (read-only: nothing is quarantined)."""
    path = layout.session_file(session_id)
    if not os.path.lexists(path):
        return None
    try:
        return decode_session(read_file_no_follow(path), path)
    except (UnreadableSessionFile, UnsupportedSchemaVersion, OSError):
        return "unreadable"


def _same_source(session: Session, legacy_id: str, sha256: str) -> bool:
    ext = legacy_extension(session)
    return bool(ext and ext.get("legacy_id") == legacy_id and ext.get("source", {}).get("sha256") == sha256)


def _candidates(base_id: str, sha256: str) -> list[str]:
    ids = [base_id]
    for width in (8, 12, 16, 64):
        suffix = f"-legacy-{sha256[:width]}"
        ids.append(base_id[: MAX_ID_LENGTH - len(suffix)] + suffix)
    return ids


def _already_quarantined(folder: Path, name: str, data: bytes) -> Path | None:
    candidate = folder / name
    counter = 1
    while os.path.lexists(candidate):
        if os.path.lexists(str(candidate) + REASON_SUFFIX):
            try:
                if candidate.read_bytes() == data:
                    return candidate
            except OSError:
                pass
        candidate = folder / f"{name}.{counter}"
        counter += 1
    return None


def _quarantine(
    outcome: FileOutcome, path: Path, data: bytes | None, layout: Layout, reason: str, dry_run: bool
) -> FileOutcome:
    outcome.reason = reason
    if dry_run:
        outcome.status = "would_quarantine"
        return outcome
    outcome.status = "quarantined"
    existing = _already_quarantined(layout.quarantine, path.name, data) if data is not None else None
    if existing is not None:
        outcome.quarantined_to = str(existing)
        outcome.notes.append("an identical copy was already in quarantine; not copied again")
        return outcome
    try:
        record = quarantine_file(path, layout.quarantine, reason, copy=True)
    except OSError as exc:
        outcome.notes.append(f"could not copy to quarantine: {exc}")
        return outcome
    outcome.quarantined_to = record.quarantined_path
    outcome.wrote = True
    return outcome


def migrate_file(
    path: Path,
    layout: Layout,
    store: SessionStore | None,
    *,
    keep: dict[str, Any] | None = None,
) -> FileOutcome:
    """Migrate one legacy file into ``store`` (``store=None``: a dry run, nothing written).

    ``keep``, if given, receives ``document`` and ``session`` for a later ``verify``.
    """
    dry_run = store is None
    legacy_id = path.stem
    outcome = FileOutcome(file=path.name, legacy_id=legacy_id, status="would_migrate" if dry_run else "migrated")
    try:
        data = path.read_bytes()
        source = LegacySource.of_file(path, data, legacy_id)
    except OSError as exc:
        return _quarantine(outcome, path, None, layout, f"cannot read the file: {exc.strerror or exc}", dry_run)
    sha256 = source.sha256
    try:
        document = parse_legacy_document(data)
    except LegacyReadError as exc:
        return _quarantine(outcome, path, data, layout, exc.reason, dry_run)

    base_id, why = safe_session_id(legacy_id)
    if why is not None:
        outcome.renamed = base_id
        outcome.notes.append(f"legacy id {legacy_id!r} is not a valid session id ({why}); stored as {base_id!r}")
    if isinstance(document, dict):
        for key in ID_KEYS:
            inner = document.get(key)
            if isinstance(inner, str) and inner != legacy_id:
                outcome.notes.append(
                    f"the document's {key} is {inner!r} but the file name says {legacy_id!r}; the file name wins "
                    f"(the inner value is kept in extensions.kimi)"
                )
                break

    for _attempt in range(2):  # a second pass only if another process saved the id meanwhile
        chosen: str | None = None
        collision_reason: str | None = None
        for candidate in _candidates(base_id, sha256):
            other = existing_owner(layout, candidate)
            if other is not None:
                # Ids are unique regardless of case: never write Day1 beside day1.
                collision_reason = collision_reason or f"differs only in letter case from existing session {other!r}"
                continue
            existing = _inspect(layout, candidate)
            if existing is None:
                chosen = candidate
                break
            if existing == "unreadable":
                if candidate == base_id:
                    outcome.status = "blocked"
                    outcome.session_id = candidate
                    outcome.reason = (
                        f"the unified file for {candidate!r} is unreadable; repair or move it, then run again "
                        "(the legacy file was not migrated)"
                    )
                    return outcome
                continue
            if _same_source(existing, legacy_id, sha256):
                outcome.status = "unchanged"
                outcome.session_id = candidate
                if keep is not None:
                    keep.update(document=document, session=existing)
                if candidate != base_id:
                    outcome.collision = Collision(wanted_id=base_id, resolved_id=candidate, reason=collision_reason or "id taken")
                return outcome
            collision_reason = collision_reason or _why_taken(existing, legacy_id)
        if chosen is None:
            return _quarantine(outcome, path, data, layout, f"no free session id for {base_id!r}", dry_run)
        if chosen != base_id:
            outcome.collision = Collision(wanted_id=base_id, resolved_id=chosen, reason=collision_reason or "id taken")
        try:
            session = to_unified(document, session_id=chosen, source=source)
            reloaded = decode_session(encode_session(session), path)
            difference = first_difference(to_legacy(reloaded), document)
        except LegacyShapeError as exc:
            return _quarantine(outcome, path, data, layout, f"not a legacy session: {exc.reason}", dry_run)
        except Exception as exc:  # a mapping bug must not stop the run or lose the file
            return _quarantine(outcome, path, data, layout, f"cannot be mapped (internal error: {exc!r})", dry_run)
        if difference is not None:
            return _quarantine(outcome, path, data, layout, f"cannot be mapped losslessly ({difference})", dry_run)
        outcome.session_id = chosen
        if keep is not None:
            keep.update(document=document, session=reloaded)
        if store is None:
            return outcome
        try:
            store.save_new(reloaded)
            outcome.wrote = True
            return outcome
        except SessionExists:
            continue  # another process saved this id meanwhile: look again
    # Only reached if other processes took the chosen id on both passes.
    outcome.status = "blocked"  # pragma: no cover
    outcome.reason = "another process kept taking the session id; run again"  # pragma: no cover
    return outcome  # pragma: no cover


def _why_taken(existing: Session, legacy_id: str) -> str:
    ext = legacy_extension(existing)
    if ext and ext.get("legacy_id") == legacy_id:
        return "migrated earlier from a different version of this legacy file"
    if ext:
        return f"taken by a session migrated from legacy file {ext.get('source', {}).get('file')!r}"
    return "taken by a different session in the unified store"


def verify_outcome(outcome: FileOutcome, document: Any, layout: Layout, in_memory: Session | None) -> None:
    """Rebuild the legacy document from the stored (or, in a dry run, in-memory) session and compare."""
    if outcome.session_id is None:
        return
    session: Session | None = None
    if outcome.status in ("migrated", "unchanged"):
        found = _inspect(layout, outcome.session_id)
        if found is None or found == "unreadable":
            outcome.verify = "failed"
            outcome.verify_detail = f"the unified file for {outcome.session_id!r} is {'missing' if found is None else 'unreadable'}"
            return
        session = found
    else:
        session = in_memory
    if session is None:  # pragma: no cover - would_migrate always keeps its session
        return
    try:
        rebuilt = to_legacy(session)
    except (ValueError, KeyError, TypeError, IndexError, OverflowError) as exc:
        outcome.verify = "failed"
        outcome.verify_detail = f"cannot rebuild the legacy document: {exc!r}"
        return
    difference = first_difference(rebuilt, document)
    if difference is None:
        outcome.verify = "ok"
    else:
        outcome.verify = "failed"
        outcome.verify_detail = f"rebuilt document differs from the legacy file at {difference}"


def migrate_folder(
    legacy_root: Path,
    root: Path,
    *,
    dry_run: bool = False,
    verify: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> MigrationReport:
    """Migrate every ``*.json`` in ``legacy_root`` into the store at ``root``; see the module doc.

    With ``dry_run`` nothing at all is written (not even the store's folders). With ``verify``
    each file's unified session is read back, mapped to legacy form and compared with the file.
    """
    layout = Layout(root)
    store = None if dry_run else SessionStore(root)
    if store is not None:
        store.clean_stale_temp_files()  # left by a writer that was killed mid-write (older than a minute)
    report = MigrationReport(legacy_root=str(legacy_root), root=str(root), dry_run=dry_run, verified=verify)
    files = legacy_files(legacy_root)
    for done, path in enumerate(files, start=1):
        keep: dict[str, Any] = {}
        outcome = migrate_file(path, layout, store, keep=keep)
        if verify and "document" in keep:
            verify_outcome(outcome, keep["document"], layout, keep.get("session"))
        report.files.append(outcome)
        if progress is not None:
            progress(done, len(files))
    return report


def migrate_legacy_session(legacy_root: Path, store: SessionStore, session_id: str) -> Session | None:
    """Migrate the legacy session ``session_id`` on demand and return the unified session.

    Returns ``None`` if ``legacy_root`` has no ``<session_id>.json``. If the unified store
    already has ``session_id``, that session is returned and nothing is migrated (the store
    is authoritative; the migration script reports any conflict). An unreadable legacy file
    is copied to quarantine and ``LegacySessionUnreadable`` raised. ``InvalidSessionId`` is
    raised for an unsafe id before any file is touched.
    """
    validate_session_id(session_id)
    path = Path(legacy_root) / f"{session_id}.json"
    if not path.is_file():
        return None
    if store.exists(session_id):
        return store.load(session_id)
    outcome = migrate_file(path, store.layout, store)
    if outcome.status in ("migrated", "unchanged") and outcome.session_id is not None:
        return store.load(outcome.session_id)
    raise LegacySessionUnreadable(session_id, outcome.reason or "unknown reason", outcome.quarantined_to)
