"""What a provider failure tells the user to do: which server to start, which variable to fix.

A failure message should name the setting behind it: the base-URL variable of a local server
that is not running (``OLLAMA_BASE_URL``), the key variable of a provider that rejected its
key (``GEMINI_API_KEY``), the config-file entry that is wrong. The wording lives here, so
:mod:`adapters.retry` and :mod:`adapters.registry` say it the same way.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from .config import CONFIG_ENV, config_path

#: Loopback names that are not IP literals.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
#: How to start the local servers people run most, by provider name.
_START = {"ollama": "start Ollama (`ollama serve`, or open the Ollama app)"}


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (127.0.0.0/8, ::1, localhost)."""
    host = (urlsplit(url).hostname or "").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (where a server listens, without the API path)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def config_file_label() -> str:
    path = config_path()
    return f"the config file {path} (${CONFIG_ENV})" if path else f"the config file named by ${CONFIG_ENV}"


def base_url_setting(provider: str) -> str:
    """Where the base URL of ``provider`` is set: its variable, or its config-file entry."""
    from .providers import BUILTIN_PROVIDERS

    for spec in BUILTIN_PROVIDERS:
        if spec.name == provider and spec.base_url_variable:
            return spec.base_url_variable
    return f"base_url of [endpoints.{provider}] in {config_file_label()}"


def key_setting(provider: str, key_variable: str | None) -> str:
    """Where the API key of ``provider`` is set."""
    if key_variable:
        return key_variable
    return f"api_key_env of [endpoints.{provider}] in {config_file_label()} (the variable holding its key)"


def nothing_listening(provider: str, url: str) -> str:
    """The message for a refused connection to a server on this machine."""
    start = _START.get(provider, f"start the {provider} server")
    return (
        f"could not connect to {provider} at {origin(url)}: connection refused, so no server is running there. "
        f"{start[0].upper() + start[1:]}, or set {base_url_setting(provider)} to the address it listens on"
    )


def key_rejected(provider: str, key_variable: str | None, key_sent: bool) -> str:
    """The hint for a provider that refused the request's credentials (401/403, Gemini's 400)."""
    where = key_setting(provider, key_variable)
    if key_sent:
        return f"check the API key in {where}: the provider rejected it"
    return f"this endpoint wants an API key and none was sent: set {where}"


def bad_alias(alias: str, target: str) -> str:
    """The message for an alias whose target no provider handles (named once, with where to fix it)."""
    return (
        f"the alias {alias!r} in {config_file_label()} points at {target!r}, which no provider handles: "
        f"change it under [aliases] to a model list_models shows (e.g. a name like gpt-4o or ollama/<model>)"
    )
