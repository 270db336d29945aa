"""The errors of a chat turn. Each anticipated one derives from ``store.errors.UserFacingError``
(its message is shown as is); ``ChatFailed`` wraps whatever stopped a turn after the user's
message was saved, and is described by the cause it carries."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3

import filelock

from adapters.errors import AdapterError, InvalidToolArgument
from store.errors import UserFacingError

__all__ = ["ChatFailed", "InvalidToolArgument", "PromptTooLarge", "SummariserUnavailable", "user_message"]

log = logging.getLogger("llm_mcp_server")


class PromptTooLarge(UserFacingError, ValueError):
    """Even after compression the prompt does not fit the model's context window."""


class SummariserUnavailable(AdapterError):
    """The summariser model (``LLM_SUMMARY_MODEL``) is unknown or has no key."""


class ChatFailed(Exception):
    """The provider call failed after the user's message was saved (nothing is lost)."""

    def __init__(self, session_id: str, cause: Exception, partial_characters: int = 0) -> None:
        self.session_id = session_id
        self.cause = cause
        partial = (
            f" with the partial answer ({partial_characters:,} characters, marked incomplete)" if partial_characters else ""
        )
        self.saved_note = (
            f"your message was saved in session {session_id!r}{partial}; call the tool again with "
            f"session_id={session_id!r} to retry (the failed attempt is kept but not resent)"
        )
        super().__init__(f"{cause} — {self.saved_note}")


# Write failures that are the machine's state, not a bug: disk full, file too large, quota, read-only.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS})


def user_message(exc: BaseException) -> str | None:
    """The text a user is shown for an anticipated error, ``None`` for a crash (a bug).

    Anticipated errors derive from ``UserFacingError`` (shown as they are, with a next step
    added for the few that need one), or are the machine's state (disk full, a lock held, an
    unusable index file). Everything else, a ``ValueError`` from a bug included, is a crash.
    """
    from adapters.errors import MissingApiKey, ProviderError, UnknownModel

    if isinstance(exc, MissingApiKey):
        return f"{exc}. Set it in the environment the MCP server is started with, then restart the server."
    if isinstance(exc, UnknownModel):
        return f"{exc}. Call list_models to see the models and prefixes this server knows."
    if isinstance(exc, ProviderError):
        # The adapter's message already names the cause (status, detail, which key to check).
        return f"provider error: {exc}" + (" — this may succeed if you try again later" if exc.retryable else "")
    if isinstance(exc, SummariserUnavailable):
        return f"{exc}. Set LLM_SUMMARY_MODEL to a configured model (see list_models) or unset it to use the chat model."
    if isinstance(exc, ChatFailed):
        cause = user_message(exc.cause)
        if cause is None:
            log.error("chat call crashed", exc_info=exc.cause)
            cause = f"internal error while calling the model ({type(exc.cause).__name__}); the server log has the details"
        return f"{cause} — {exc.saved_note}"
    if isinstance(exc, UserFacingError):
        return str(exc)
    return _machine_state(exc)


def _machine_state(exc: BaseException) -> str | None:
    if isinstance(exc, filelock.Timeout):  # a lock taken outside the store's ``locked``
        return "the session is busy (another writer holds its lock); try again in a moment"
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        return (
            f"could not save to the session store: {os.strerror(exc.errno)}. Nothing was changed: "
            "the previous session file is intact (this exchange was not stored). Free disk space "
            "(or raise the file-size/quota limit) and call the tool again."
        )
    if isinstance(exc, sqlite3.Error):
        # Only the derived search index is SQLite; the sessions themselves are JSON files.
        log.warning("search index error", exc_info=exc)
        return (
            f"the search index (index.sqlite in the session root) cannot be used: {exc}. It holds only "
            "derived data: delete it (or run scripts/reindex.py --full) and it is rebuilt from the "
            "session files, which are not affected."
        )
    return None
