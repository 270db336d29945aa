"""The optional provider config file: custom endpoints, aliases and context windows.

The file is named by ``$LLM_MCP_CONFIG`` and read at each :func:`load_config` call (so a
change is picked up without a restart). ``.toml`` files are TOML, anything else JSON.
TOML example (the JSON form has the same keys)::

    [aliases]                       # alias = "model it stands for"
    fast = "gpt-4o-mini"
    k2 = "kimi-k2-0905-preview"

    [endpoints.lmstudio]            # models "lmstudio/<model>" go here
    base_url = "http://127.0.0.1:1234/v1"
    api_key_env = "LMSTUDIO_API_KEY" # optional: the variable holding its key (none: no key); an
                                     # endpoint on this machine (127.0.0.1, localhost) is asked
                                     # without a key while the variable is unset
    wire_format = "openai"           # optional: openai (default) | anthropic | gemini
    models = ["qwen2.5-coder-7b"]    # optional: listed by list_models
    context_window = 32768           # optional: tokens, for every model of this endpoint
    stream = false                   # optional: this endpoint cannot stream (default true)

    [context_windows]               # optional: model-name prefix = tokens (longest prefix wins)
    "my-finetune" = 16384

Secrets never go in this file: an endpoint names the variable that holds its key.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError

CONFIG_ENV = "LLM_MCP_CONFIG"
_ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class EndpointConfig(BaseModel):
    """A custom endpoint: models ``<name>/<model>`` are sent to ``base_url``."""

    model_config = ConfigDict(extra="forbid")

    base_url: str
    api_key_env: str | None = None
    wire_format: Literal["openai", "anthropic", "gemini"] = "openai"
    models: list[str] = Field(default_factory=list)
    context_window: int | None = Field(default=None, gt=0)
    stream: bool = True

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")


class ProviderConfig(BaseModel):
    """The whole config file."""

    model_config = ConfigDict(extra="forbid")

    aliases: dict[str, str] = Field(default_factory=dict)
    endpoints: dict[str, EndpointConfig] = Field(default_factory=dict)
    context_windows: dict[str, int] = Field(default_factory=dict)

    @field_validator("endpoints")
    @classmethod
    def _endpoint_names(cls, value: dict[str, EndpointConfig]) -> dict[str, EndpointConfig]:
        for name in value:
            if not _ENDPOINT_NAME.match(name):
                raise ValueError(f"endpoint name {name!r} must be letters, digits, '.', '_' or '-'")
        return value


def config_path() -> Path | None:
    """The config file named by ``$LLM_MCP_CONFIG``, or None when unset."""
    raw = os.environ.get(CONFIG_ENV, "").strip()
    return Path(raw).expanduser() if raw else None


def load_config(path: Path | None = None) -> ProviderConfig:
    """Read and validate the config file (``path``, else ``$LLM_MCP_CONFIG``); empty config when none.

    Raises ConfigError naming the file for a missing, unreadable or invalid file.
    """
    path = path or config_path()
    if path is None:
        return ProviderConfig()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path} (from ${CONFIG_ENV}): {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8")) if path.suffix.lower() == ".toml" else json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"the config file {path} is not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the config file {path} must hold an object/table at the top level")
    try:
        return ProviderConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ConfigError(f"the config file {path} is invalid: {problems}") from None


def _problem(error: Any) -> str:
    """One validation error as ``<entry>: <what is wrong>``, in the file's own terms."""
    entry = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        parent = ProviderConfig if len(error["loc"]) == 1 else EndpointConfig
        return f"{entry}: unknown key (allowed: {', '.join(parent.model_fields)})"
    return f"{entry}: {str(error['msg']).removeprefix('Value error, ')}"
