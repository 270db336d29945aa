"""A session that exists only in the legacy ``.kimi_sessions/`` folder is migrated on first use."""

from __future__ import annotations

import logging

import anyio

from chat.app import App
from store import StoreError
from store.legacy import LegacyKimiStore
from utils.feature_flags import llm_unified_enabled

log = logging.getLogger("llm_mcp_server")


def _needs_migration(app: App, session_id: str) -> bool:
    if not llm_unified_enabled() or app.store.exists(session_id):
        return False
    return LegacyKimiStore(app.legacy_root).exists(session_id)


async def migrate_if_legacy(app: App, session_id: str) -> str:
    """Migrate ``session_id`` if it exists only in the legacy folder; return the unified id.

    The legacy file is only read. With ``LLM_UNIFIED`` off nothing is migrated (the legacy
    ``kimi_chat`` keeps writing that file). File checks run off the event loop.
    """
    if not await anyio.to_thread.run_sync(_needs_migration, app, session_id):
        return session_id
    if app.migrate_legacy is None:
        raise StoreError("legacy migration is not available in this server build")
    migrated = await anyio.to_thread.run_sync(app.migrate_legacy, app.legacy_root, app.store, session_id)
    if migrated is None:  # the legacy file vanished meanwhile: start a new session
        return session_id
    log.info("migrated legacy session %s into the unified store", migrated.id)
    return migrated.id
