"""Secrets in what a chat turn sends and stores: found, replaced by ``[REDACTED <kind>]``, reported.

:mod:`chat.secrets.detect` finds and replaces (pure functions over text); :mod:`chat.secrets.policy`
is what a chat turn calls (prompt, system prompt, reply, ``allow_secrets``). ``docs/attachments.md``
lists the kinds and what is promised.
"""

from __future__ import annotations

from .detect import KINDS, MARKER, Finding, describe, find_secrets, redact_findings, redact_text
from .policy import ALLOWED_WARNING, redact_partial_answer, redact_reply, redact_request_text

__all__ = [
    "ALLOWED_WARNING",
    "KINDS",
    "MARKER",
    "Finding",
    "describe",
    "find_secrets",
    "redact_findings",
    "redact_partial_answer",
    "redact_reply",
    "redact_request_text",
    "redact_text",
]
