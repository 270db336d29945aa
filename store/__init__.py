"""The session store: schema v1, atomic JSON files, locking, views and quarantine.

The files under ``<root>/sessions/`` are the source of truth; everything else is derived.
"""

from __future__ import annotations

from store.errors import (
    CorruptSession,
    InvalidSessionId,
    InvalidTag,
    InvalidTitle,
    NotInTrash,
    SessionBusy,
    SessionExists,
    SessionIdClash,
    SessionNotFound,
    SessionQuarantined,
    StoreError,
    UserFacingError,
    UnsupportedSchemaVersion,
    WrongCase,
)
from store.ids import new_session_id, validate_session_id
from store.paths import Layout, resolve_legacy_root, resolve_root
from store.quarantine import QuarantineRecord
from store.receipt import Appended, WriteReceipt
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
from store.titles import title_from_prompt
from store.trash import TrashedSession
from store.session_store import RefusedFile, SessionListing, SessionStore, SessionSummary, model_switch_warning, switch_model

__all__ = [
    "Appended",
    "FAILED_MARK",
    "INCOMPLETE_MARK",
    "SCHEMA_VERSION",
    "CorruptSession",
    "InvalidSessionId",
    "InvalidTag",
    "InvalidTitle",
    "NotInTrash",
    "Layout",
    "Message",
    "ModelSwitch",
    "QuarantineRecord",
    "RefusedFile",
    "Session",
    "SessionBusy",
    "SessionExists",
    "SessionIdClash",
    "SessionListing",
    "SessionNotFound",
    "SessionQuarantined",
    "SessionStore",
    "SessionSummary",
    "StoreError",
    "Summary",
    "ToolCall",
    "TrashedSession",
    "UnsupportedSchemaVersion",
    "UserFacingError",
    "Usage",
    "WrongCase",
    "message_text",
    "model_switch_warning",
    "new_session_id",
    "resolve_legacy_root",
    "resolve_root",
    "switch_model",
    "title_from_prompt",
    "total_cost",
    "utc_now",
    "validate_session_id",
    "WriteReceipt",
]
