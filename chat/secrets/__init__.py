"""Secrets in what a chat turn sends and stores: found, replaced by ``[REDACTED <kind>]``, reported.

See :mod:`chat.secrets.detect` and ``docs/attachments.md`` (the kinds, what is promised).
"""

from __future__ import annotations

from .detect import KINDS, MARKER, Finding, describe, find_secrets, redact_findings, redact_text

__all__ = ["KINDS", "MARKER", "Finding", "describe", "find_secrets", "redact_findings", "redact_text"]
