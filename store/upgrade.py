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
        document = UPGRADES[version](document)
        version = document["schema_version"]
    return document
