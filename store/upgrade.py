"""Schema upgrades: the hook that lets future versions read files written by older ones.

``UPGRADES[n]`` turns a version-``n`` document into a version-``n+1`` document. Version 1 is
the first, so the table is empty; when version 2 arrives, add ``UPGRADES[1]`` and bump
``store.schema.SCHEMA_VERSION``. Files newer than the code are refused, never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from store.errors import UnsupportedSchemaVersion
from store.schema import SCHEMA_VERSION

Document = dict[str, Any]
UPGRADES: dict[int, Callable[[Document], Document]] = {}


class NotASessionDocument(ValueError):
    """The JSON is valid but is not a unified session document."""


def upgrade_document(document: Any, source: Path) -> Document:
    """Bring ``document`` to the current schema version, or raise a clear error."""
    if not isinstance(document, dict):
        raise NotASessionDocument(f"expected a JSON object, found {type(document).__name__}")
    version = document.get("schema_version")
    if version is None:
        raise NotASessionDocument("missing schema_version (legacy files go through scripts/migrate_kimi.py)")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise NotASessionDocument(f"schema_version must be a positive integer, found {version!r}")
    if version > SCHEMA_VERSION:
        raise UnsupportedSchemaVersion(source, version, SCHEMA_VERSION)
    while version < SCHEMA_VERSION:
        step = UPGRADES.get(version)
        if step is None:
            raise NotASessionDocument(f"no upgrade is known from schema_version {version}")
        document = step(document)
        upgraded = document.get("schema_version") if isinstance(document, dict) else None
        if not isinstance(upgraded, int) or upgraded <= version:
            # A buggy upgrade step must not loop forever or hand back a non-document.
            raise RuntimeError(f"the upgrade from schema_version {version} did not produce a newer version")
        version = upgraded
    return document
