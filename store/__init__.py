"""The session store: schema v1, atomic JSON files, locking, views and quarantine.

The files under ``<root>/sessions/`` are the source of truth; everything else is derived.
"""

from __future__ import annotations

from store.errors import (
    CorruptSession,
    InvalidSessionId,
    SessionBusy,
    SessionExists,
    SessionNotFound,
    SessionQuarantined,
    StoreError,
    UserFacingError,
    UnsupportedSchemaVersion,
)
from store.ids import new_session_id, validate_session_id
from store.paths import Layout, resolve_legacy_root, resolve_root
from store.quarantine import QuarantineRecord
from store.schema import (
    FAILED_MARK,
    INCOMPLETE_MARK,
    SCHEMA_VERSION,
    Message,
    ModelSwitch,
    Session,
    Summary,
    ToolCall,
    Usage,
    message_text,
    total_cost,
    utc_now,
)
from store.session_store import RefusedFile, SessionListing, SessionStore, SessionSummary, model_switch_warning, switch_model

__all__ = [
    "FAILED_MARK",
    "INCOMPLETE_MARK",
    "SCHEMA_VERSION",
    "CorruptSession",
    "InvalidSessionId",
    "Layout",
    "Message",
    "ModelSwitch",
    "QuarantineRecord",
    "RefusedFile",
    "Session",
    "SessionBusy",
    "SessionExists",
    "SessionListing",
    "SessionNotFound",
    "SessionQuarantined",
    "SessionStore",
    "SessionSummary",
    "StoreError",
    "Summary",
    "ToolCall",
    "UnsupportedSchemaVersion",
    "UserFacingError",
    "Usage",
    "message_text",
    "model_switch_warning",
    "new_session_id",
    "resolve_legacy_root",
    "resolve_root",
    "switch_model",
    "total_cost",
    "utc_now",
    "validate_session_id",
]
