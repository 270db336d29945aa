"""``sessions.py scan [--fix]``: find secrets already in a store, and redact them in place.

Sessions written before secrets were redacted, imported or migrated ones, and attached files
in ``blobs/`` may hold keys. :func:`scan_store` reads every session file (it is a whole-store
scan: that is its job) and every blob a session references, once each, and reports each finding
as session, place, line and kind -- never the value. With ``fix=True`` each session with a
finding is rewritten through :meth:`store.SessionStore.update` (under the session's lock, atomic)
with ``[REDACTED <kind>]`` markers; an attached file with a secret gets a redacted blob (a new
sha256, the reference updated, the part marked ``redacted``) and the old blob is deleted once
every session referencing it was rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store import SessionStore
from store.blobs import FILE_PART, BlobMissing, BlobStore
from store.codec import decode_session
from store.errors import StoreError
from store.schema import Session

from .detect import Finding, find_secrets, redact_findings

#: keys whose values are identifiers, hashes or times, never free text: not scanned
_NOT_TEXT = frozenset({"id", "session_id", "sha256", "tool_call_id", "created_at", "updated_at", "at", "group_id", "media_type", "schema_version"})


@dataclass(frozen=True)
class ScanFinding:
    session_id: str
    where: str  # e.g. "messages[3].content", "title", "attached file /x/settings.py"
    line: int
    kind: str


@dataclass
class ScanReport:
    scanned: int = 0
    findings: list[ScanFinding] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # "name: reason"
    fixed_sessions: list[str] = field(default_factory=list)
    redacted_blobs: int = 0
    deleted_blobs: int = 0
    fix: bool = False

    @property
    def sessions_with_secrets(self) -> list[str]:
        return list(dict.fromkeys(finding.session_id for finding in self.findings))

    def as_json(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "fix": self.fix,
            "sessions_with_secrets": self.sessions_with_secrets,
            "findings": [finding.__dict__ for finding in self.findings],
            "fixed_sessions": self.fixed_sessions,
            "redacted_blobs": self.redacted_blobs,
            "deleted_blobs": self.deleted_blobs,
            "unreadable": self.unreadable,
        }


class _Blobs:
    """Each referenced blob read and scanned once; redacted copies written when fixing."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.results: dict[str, tuple[list[Finding], str]] = {}  # sha256 -> (findings, text)
        self.replaced: dict[str, str] = {}  # old sha256 -> redacted blob's sha256
        self.kept_refs: set[str] = set()  # old blobs still referenced by a session not rewritten

    def findings(self, sha256: str) -> list[Finding]:
        if sha256 not in self.results:
            try:
                text = self.store.read(sha256).decode("utf-8")
            except (BlobMissing, ValueError):
                text = ""
            self.results[sha256] = (find_secrets(text), text)
        return self.results[sha256][0]

    def redact(self, sha256: str) -> str:
        if sha256 not in self.replaced:
            found, text = self.results[sha256]
            self.replaced[sha256] = self.store.put(redact_findings(text, found).encode("utf-8"))
        return self.replaced[sha256]


def _walk(value: Any, where: str, visit: Callable[[str, str, dict[str, Any] | None], str | None], parent: dict[str, Any] | None = None) -> Any:
    """``value`` with each text string replaced by ``visit(text, where, part)`` when that returns one."""
    if isinstance(value, str):
        replaced = visit(value, where, parent)
        return value if replaced is None else replaced
    if isinstance(value, list):
        return [_walk(item, f"{where}[{index}]", visit, parent) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {
            key: item if key in _NOT_TEXT else _walk(item, f"{where}.{key}" if where else key, visit, value)
            for key, item in value.items()
        }
    return value


def _check(session: Session, blobs: _Blobs, report: ScanReport | None, fix: bool) -> dict[str, Any] | None:
    """Find (and with ``fix`` redact) every secret of ``session``; the redacted document, or None if clean."""
    document = session.model_dump(mode="json")
    changed = False

    def visit(text: str, where: str, part: dict[str, Any] | None) -> str | None:
        nonlocal changed
        findings = find_secrets(text)
        if report is not None:
            report.findings += [ScanFinding(session.id, where, finding.line, finding.kind) for finding in findings]
        if findings and fix:
            changed = True
            return redact_findings(text, findings)
        return None

    document = _walk(document, "", visit)
    for message in document.get("messages", []):
        content = message.get("content")
        for part in content if isinstance(content, list) else ():
            sha256 = part.get("sha256") if isinstance(part, dict) and part.get("type") == FILE_PART else None
            if not isinstance(sha256, str) or not blobs.findings(sha256):
                continue
            if report is not None:
                where = f"attached file {part.get('path')} (blob {sha256[:12]})"
                report.findings += [ScanFinding(session.id, where, finding.line, finding.kind) for finding in blobs.findings(sha256)]
            if fix:
                new = blobs.redact(sha256)
                part.update({"sha256": new, "size": blobs.store.path(new).stat().st_size, "redacted": True})
                changed = True
    return document if changed else None


def scan_store(store: SessionStore, *, fix: bool = False, progress: Callable[[int, int], None] | None = None) -> ScanReport:
    """Scan every session file of ``store`` (and the blobs they reference); redact in place with ``fix``.

    ``progress(done, total)`` is called every 100 files and at the end. An unreadable file is
    reported and left where it is (nothing is quarantined by a scan).
    """
    report = ScanReport(fix=fix)
    blobs = _Blobs(BlobStore(store.root))
    paths = list(store.iter_session_files())
    for done, path in enumerate(paths, start=1):
        try:
            session = decode_session(path.read_bytes(), path)
        except (OSError, StoreError, ValueError) as exc:
            report.unreadable.append(f"{path.name}: {exc}")
            continue
        report.scanned += 1
        before = len(report.findings)
        _check(session, blobs, report, fix=False)
        if fix and len(report.findings) > before:
            _fix(store, session.id, blobs, report)
        if progress is not None and (done % 100 == 0 or done == len(paths)):
            progress(done, len(paths))
    if fix:
        for old in blobs.replaced:
            if old not in blobs.kept_refs and old not in blobs.replaced.values():
                blobs.store.path(old).unlink(missing_ok=True)
                report.deleted_blobs += 1
        report.redacted_blobs = len(blobs.replaced)
    return report


def _fix(store: SessionStore, session_id: str, blobs: _Blobs, report: ScanReport) -> None:
    def change(session: Session) -> None:
        # Found again on the locked, fresh copy: the file may have changed since it was scanned.
        document = _check(session, blobs, None, fix=True)
        if document is not None:
            fresh = Session.model_validate(document)
            for name in type(session).model_fields:
                setattr(session, name, getattr(fresh, name))

    try:
        store.update(session_id, change)
    except (OSError, StoreError) as exc:
        report.unreadable.append(f"{session_id}.json: not fixed: {exc}")
        for sha256 in blobs.replaced:
            blobs.kept_refs.add(sha256)  # conservative: keep every old blob when a rewrite failed
        return
    report.fixed_sessions.append(session_id)


def describe_report(report: ScanReport) -> list[str]:
    """The report for a terminal: one line per finding (no value), then a summary."""
    lines = [f"{f.session_id}: {f.where} line {f.line}: {f.kind}" for f in report.findings]
    lines += [f"unreadable: {item}" for item in report.unreadable]
    sessions = report.sessions_with_secrets
    summary = f"scanned {report.scanned} session(s): {len(report.findings)} secret(s) in {len(sessions)} session(s)"
    if report.fix:
        summary += (
            f"; redacted in place in {len(report.fixed_sessions)} session(s), {report.redacted_blobs} attached file(s) "
            f"rewritten, {report.deleted_blobs} old blob(s) deleted"
        )
    elif sessions:
        summary += "; run `sessions.py scan --fix` to redact them in place (then commit the store)"
    return [*lines, summary]
