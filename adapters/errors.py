"""Errors an adapter raises; ``server.py`` turns each into a tool error in one place."""

from __future__ import annotations

from store.errors import UserFacingError


class InvalidToolArgument(UserFacingError, ValueError):
    """An argument of a tool (``chat``'s limits, a page, a filter, a reasoning setting a model
    cannot take) is not usable; the message says what is allowed. Raised before anything is sent."""


class AdapterError(UserFacingError):
    """Base class of adapter errors."""


class UnknownModel(AdapterError, LookupError):
    def __init__(self, model: str, hint: str = "") -> None:
        message = f"unknown model {model!r}: no provider handles it"
        if hint:
            message += f"; {hint}"
        super().__init__(message)
        self.model = model


class MissingApiKey(AdapterError):
    """The provider needs an API key and its environment variable is not set."""

    def __init__(self, variable: str, model: str) -> None:
        super().__init__(f"model {model!r} needs an API key: set the environment variable {variable}")
        self.variable = variable
        self.model = model


class ProviderError(AdapterError):
    """The provider failed; ``retryable`` says whether trying again later may help."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        provider: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.provider = provider
        self.attempts = attempts


class ConfigError(AdapterError):
    """The provider config file (``$LLM_MCP_CONFIG``) cannot be read or is invalid."""
