"""Migrate legacy Kimi sessions (.kimi_sessions/<id>.json) into the unified session store.

A thin command line over ``store.legacy.migration.migrate_folder``; run with ``--help``.
Exit codes: 0 everything migrated (and verified, with --verify); 1 some file could not be
migrated (quarantined by copy, or blocked) or failed verification; 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

if __package__ in (None, ""):  # run as `python scripts/migrate_kimi.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from store.legacy import MigrationReport, migrate_folder  # noqa: E402
from store.paths import LEGACY_DIR_ENV, SESSIONS_DIR_ENV, resolve_legacy_root, resolve_root  # noqa: E402
from utils.progress import ProgressBar  # noqa: E402

# Folders with at least this many files get a progress bar on stderr (when it is a terminal).
PROGRESS_MIN_FILES = 50  # smaller folders migrate too fast for a bar

DESCRIPTION = f"""\
Copy every legacy Kimi session (.kimi_sessions/<id>.json) into the unified store
(<root>/sessions/<id>.json), losslessly: every legacy field is kept (unknown ones in
`extra`, spelling details in `extensions.kimi`), and --verify rebuilds each legacy document
from its unified session and compares them.

Legacy files are never modified, moved or deleted. Running again is safe: files already
migrated are reported as unchanged and nothing is rewritten. Unreadable files (empty,
truncated, not UTF-8, not a session) are copied to <root>/quarantine/ with a .reason.txt.
An id already used by a different session is stored as <id>-legacy-<hash> and reported.

--from defaults to ${LEGACY_DIR_ENV}, else ./.kimi_sessions; --to (alias --root) to
${SESSIONS_DIR_ENV}, else ./.llm_sessions.
"""

EPILOG = """\
exit status: 0 all migrated (and verified); 1 something could not be migrated or failed
verification (everything else was still migrated); 2 usage error.

examples:
  python scripts/migrate_kimi.py --dry-run            # what would happen; writes nothing
  python scripts/migrate_kimi.py --verify             # migrate, then check every file
  python scripts/migrate_kimi.py --from old/.kimi_sessions --to .llm_sessions --json
"""


class UsageError(Exception):
    """A bad command line (exit code 2); the message says what to change."""


class _Parser(argparse.ArgumentParser):
    """Reports usage errors by raising (so ``main`` writes them to its ``err``) and prints
    ``--help`` to ``out``, so the whole command runs in-process with any streams."""

    out: TextIO | None = None

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def print_help(self, file: TextIO | None = None) -> None:
        super().print_help(file or self.out)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="migrate_kimi.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--from", dest="source", metavar="DIR", help="legacy folder (default: $KIMI_SESSIONS_DIR or ./.kimi_sessions)")
    parser.add_argument(
        "--to", "--root", dest="root", metavar="DIR", help="unified session root (default: $LLM_SESSIONS_DIR or ./.llm_sessions)"
    )
    parser.add_argument("--dry-run", action="store_true", help="report what would happen; write nothing at all")
    parser.add_argument(
        "--verify", action="store_true", help="after migrating, rebuild every legacy document from the store and compare"
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable JSON report on stdout instead of the table")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr (there is none when stderr is not a terminal)")
    return parser


def render_table(report: MigrationReport) -> str:
    """The human-readable report: problems and notes first, then the summary table."""
    lines: list[str] = []
    mode = " (dry run: nothing was written)" if report.dry_run else ""
    lines.append(f"legacy folder: {report.legacy_root}")
    lines.append(f"unified store: {report.root}{mode}")
    details: list[str] = []
    for item in report.files:
        if item.status in ("quarantined", "would_quarantine"):
            where = f" -> {item.quarantined_to}" if item.quarantined_to else ""
            label = "QUARANTINED" if item.status == "quarantined" else "WOULD QUARANTINE"
            details.append(f"  {label} {item.file}: {item.reason}{where}")
        if item.status == "blocked":
            details.append(f"  BLOCKED {item.file}: {item.reason}")
        if item.collision is not None:
            details.append(
                f"  COLLISION {item.file}: id {item.collision.wanted_id!r} {item.collision.reason}; "
                f"stored as {item.collision.resolved_id!r}"
            )
        if item.verify == "failed":
            details.append(f"  VERIFY FAILED {item.file}: {item.verify_detail}")
        details.extend(f"  note {item.file}: {note}" for note in item.notes)
    if details:
        lines.append("")
        lines.extend(details)
    summary = report.summary()
    rows = [
        ("would migrate" if report.dry_run else "migrated", summary["would_migrate" if report.dry_run else "migrated"]),
        ("unchanged", summary["unchanged"]),
        ("quarantined", summary["quarantined"]),
        ("collisions", summary["collisions"]),
    ]
    if summary["blocked"]:
        rows.append(("blocked", summary["blocked"]))
    if report.verified:
        rows += [("verified ok", summary["verify_ok"]), ("verify failed", summary["verify_failed"])]
    lines.append("")
    lines.append(f"{'outcome':<15}{'files':>7}")
    lines.extend(f"{name:<15}{count:>7}" for name, count in rows)
    lines.append(f"{'total':<15}{summary['files']:>7}")
    lines.append("")
    if not report.files:
        lines.append("No legacy session files found.")
    elif not report.dry_run and not report.changed:
        lines.append("Nothing changed: this run wrote no file (every readable legacy session was already migrated).")
    if not report.ok:
        lines.append("Some files could not be migrated or verified (see above); exit status 1.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    parser.out = out  # type: ignore[attr-defined]
    try:
        args = parser.parse_args(argv)
        source, root = _folders(args)
    except UsageError as exc:
        err.write(parser.format_usage())
        err.write(f"migrate_kimi.py: error: {exc}\n")
        return 2
    except SystemExit as exc:  # --help printed its text
        return int(exc.code or 0)
    progress = None if args.no_progress else ProgressBar(err, "migrating", min_total=PROGRESS_MIN_FILES)
    try:
        report = migrate_folder(source, root, dry_run=args.dry_run, verify=args.verify, progress=progress)
    except BrokenPipeError:
        raise
    except OSError as exc:  # e.g. --to under a file, or a folder that cannot be created
        where = f" {exc.filename}" if exc.filename else ""
        err.write(f"migrate_kimi.py: error: cannot use{where}: {exc.strerror or exc} (use --to DIR or ${SESSIONS_DIR_ENV})\n")
        return 2
    if args.json:
        payload = report.model_dump(mode="json")
        payload["summary"] = report.summary()
        payload["changed"] = report.changed
        payload["ok"] = report.ok
        out.write(json.dumps(payload, ensure_ascii=False, indent=1) + "\n")
    else:
        out.write(render_table(report) + "\n")
    return 0 if report.ok else 1


def _folders(args: argparse.Namespace) -> tuple[Path, Path]:
    """The legacy folder and the session root to use; ``UsageError`` if they cannot be."""
    source = resolve_legacy_root(args.source)
    root = resolve_root(args.root)
    if not source.is_dir():
        raise UsageError(f"legacy folder {str(source)!r} does not exist or is not a folder (use --from DIR or ${LEGACY_DIR_ENV})")
    if root.exists() and not root.is_dir():
        raise UsageError(f"session root {str(root)!r} is not a folder (use --to DIR or ${SESSIONS_DIR_ENV})")
    if source.resolve() == root.resolve() or source.resolve() == (root / "sessions").resolve():
        raise UsageError("--from and --to must be different folders")
    return source, root


if __name__ == "__main__":
    from utils.closed_pipe import run_command

    sys.exit(run_command(main))
