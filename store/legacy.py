"""Legacy Kimi sessions (``.kimi_sessions/<id>.json``): the public entry points in one place.

- ``migrate_legacy_session(legacy_root, store, session_id)``: the server's lazy path.
- ``migrate_folder(legacy_root, root, dry_run=, verify=)``: what ``scripts/migrate_kimi.py`` runs.
- ``to_unified`` / ``to_legacy``: the lossless mapping and its inverse (used by ``--verify``).

The pieces live in ``store.legacy_json`` (strict parsing, type-strict comparison),
``store.legacy_times`` (timestamps), ``store.legacy_mapping`` (the mapping) and
``store.migration`` (files, ids, collisions, quarantine, reports).
"""

from __future__ import annotations

from store.legacy_json import LegacyReadError, first_difference, json_equal
from store.legacy_mapping import (
    EXTENSION,
    LegacyShapeError,
    LegacySource,
    NotMigratedFromLegacy,
    legacy_extension,
    parse_legacy_document,
    safe_session_id,
    to_legacy,
    to_unified,
)
from store.migration import (
    Collision,
    FileOutcome,
    LegacySessionUnreadable,
    MigrationReport,
    legacy_files,
    migrate_file,
    migrate_folder,
    migrate_legacy_session,
    verify_outcome,
)

__all__ = [
    "EXTENSION",
    "Collision",
    "FileOutcome",
    "LegacyReadError",
    "LegacySessionUnreadable",
    "LegacyShapeError",
    "LegacySource",
    "MigrationReport",
    "NotMigratedFromLegacy",
    "first_difference",
    "json_equal",
    "legacy_extension",
    "legacy_files",
    "migrate_file",
    "migrate_folder",
    "migrate_legacy_session",
    "parse_legacy_document",
    "safe_session_id",
    "to_legacy",
    "to_unified",
    "verify_outcome",
]
