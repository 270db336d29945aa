"""Feature flags read from the environment at call time (so tests can flip them).

``LLM_UNIFIED`` switches between the unified, model-agnostic session store (on, the
default) and the legacy per-model behaviour (``kimi_chat`` writing ``.kimi_sessions/``).
"""

from __future__ import annotations

import os
from store.errors import UserFacingError

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

LLM_UNIFIED = "LLM_UNIFIED"


class InvalidFlagValue(UserFacingError, ValueError):
    """An environment flag holds a value that is neither true nor false."""

    def __init__(self, name: str, value: str) -> None:
        super().__init__(
            f"{name}={value!r} is not a valid flag value; use one of "
            "1/0, true/false, yes/no, on/off (case-insensitive)"
        )
        self.name = name
        self.value = value


def read_flag(name: str, default: bool) -> bool:
    """Return the boolean value of environment flag ``name``; unset or blank gives ``default``."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidFlagValue(name, raw)


def llm_unified_enabled() -> bool:
    """True unless ``LLM_UNIFIED`` is set to a false value (default: on)."""
    return read_flag(LLM_UNIFIED, default=True)
