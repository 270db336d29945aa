"""Which adapter serves a model name: the provider table of DESIGN.md, the config file, test overrides.

:func:`resolve` reads the environment (and ``$LLM_MCP_CONFIG``) at every call, so a key set
after start-up is seen, and returns a :class:`ResolvedModel` whose adapter is ready to use.
Order of lookup:

1. in-process overrides (:func:`register_adapter`, :func:`adapter_override`; fnmatch patterns),
2. aliases from the config file (followed, then looked up again from step 1),
3. custom endpoints from the config file (``<endpoint>/<model>``),
4. the built-in providers (:data:`BUILTIN_PROVIDERS`).

A model nobody handles raises :class:`UnknownModel` listing the supported patterns; a
provider whose key variable is unset raises :class:`MissingApiKey` naming the variable.
Keys are only ever handed to the adapter; :func:`list_models` reports whether one is set,
never its value.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .anthropic import AnthropicAdapter
from .base import Adapter, ChatReply, ChatRequest
from .config import EndpointConfig, ProviderConfig, load_config
from .errors import ConfigError, MissingApiKey, UnknownModel
from .gemini import GeminiAdapter
from .hints import bad_alias, is_loopback_url
from .openai_compat import OpenAICompatAdapter
from .providers import BUILTIN_PROVIDERS, ProviderSpec, WireFormat, routed
from .reasoning import ReasoningPlan, plan_for

_MAX_ALIAS_HOPS = 10


class ProviderInfo(BaseModel):
    """What :func:`list_models` reports about one provider (never a key)."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    patterns: list[str]
    wire_format: str
    key_variable: str | None
    key_required: bool
    key_set: bool
    base_url: str | None
    base_url_variable: str | None = None
    aliases: dict[str, str] = Field(default_factory=dict)
    models: list[str] = Field(default_factory=list)
    source: Literal["builtin", "config", "override"] = "builtin"
    stream: bool = True  # answers are streamed (False: ``stream = false`` in the config file)


@dataclass
class ResolvedModel:
    """A model name resolved to a ready adapter."""

    model: str  # the name the caller asked for (an alias stays an alias)
    provider: str
    upstream_model: str  # the name sent to the provider
    adapter: Adapter
    wire_format: str | None = None
    base_url: str | None = None
    #: the model actually called: the alias's target, else ``model`` (what sessions record)
    called: str = ""
    #: what was assumed about a model the maintained data does not know (tool warnings)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.called = self.called or self.model

    async def complete(self, request: ChatRequest) -> ChatReply:
        """``adapter.complete(request)`` — the adapter already sends ``upstream_model``."""
        return await self.adapter.complete(request)

    def reasoning_plan(self, request: ChatRequest) -> ReasoningPlan:
        """The adapter's :class:`~adapters.reasoning.ReasoningPlan` for ``request`` (none for in-process adapters)."""
        return plan_for(self.adapter, request)


# ----------------------------------------------------------------------------- overrides
_overrides: dict[str, Adapter] = {}
_overrides_lock = threading.Lock()


def register_adapter(pattern: str, adapter: Adapter) -> None:
    """Serve every model matching ``pattern`` (an exact name or an fnmatch glob) with ``adapter``.

    For tests and benchmarks: overrides win over everything else, the latest registration first.
    """
    with _overrides_lock:
        _overrides.pop(pattern, None)
        _overrides[pattern] = adapter


def unregister_adapter(pattern: str) -> None:
    """Remove an override (no error if absent)."""
    with _overrides_lock:
        _overrides.pop(pattern, None)


def clear_overrides() -> None:
    """Remove every override."""
    with _overrides_lock:
        _overrides.clear()


@contextmanager
def adapter_override(pattern: str, adapter: Adapter) -> Iterator[Adapter]:
    """``register_adapter`` for the duration of a ``with`` block."""
    register_adapter(pattern, adapter)
    try:
        yield adapter
    finally:
        unregister_adapter(pattern)


def _override_for(model: str) -> Adapter | None:
    with _overrides_lock:
        items = list(_overrides.items())
    for pattern, adapter in reversed(items):
        if pattern == model or fnmatch.fnmatchcase(model, pattern):
            return adapter
    return None


# ----------------------------------------------------------------------------- resolution
def _endpoint_spec(name: str, endpoint: EndpointConfig) -> ProviderSpec:
    return ProviderSpec(
        name=name,
        patterns=(f"{name}/<model>",),
        wire_format=endpoint.wire_format,
        key_variable=endpoint.api_key_env,
        # A server on this machine (LM Studio, llama.cpp, vLLM) often needs no key: asked without
        # one when the variable is unset. A remote endpoint with api_key_env needs its key.
        key_required=endpoint.api_key_env is not None and not is_loopback_url(endpoint.base_url),
        base_url_variable=None,
        default_base_url=endpoint.base_url,
        match=routed(name),
        stream=endpoint.stream,
    )


def _find(model: str, config: ProviderConfig) -> tuple[ProviderSpec, str] | None:
    head, _, _ = model.partition("/")
    if head in config.endpoints:
        spec = _endpoint_spec(head, config.endpoints[head])
        upstream = spec.match(model)
        if upstream:
            return spec, upstream
    for spec in BUILTIN_PROVIDERS:
        upstream = spec.match(model)
        if upstream:
            return spec, upstream
    return None


def _follow_aliases(model: str, config: ProviderConfig) -> str:
    seen = [model]
    while model in config.aliases:
        model = config.aliases[model].strip()
        if model in seen or len(seen) > _MAX_ALIAS_HOPS:
            raise ConfigError(f"alias loop in the config file: {' -> '.join(seen + [model])}")
        seen.append(model)
    return model


def supported_patterns(config: ProviderConfig | None = None) -> list[str]:
    """Every model pattern :func:`resolve` accepts (built-in, endpoints, aliases)."""
    patterns = [pattern for spec in BUILTIN_PROVIDERS for pattern in spec.patterns]
    if config is not None:
        patterns += [f"{name}/<model>" for name in config.endpoints]
        patterns += sorted(alias for alias in config.aliases if _alias_works(alias, config))
    return patterns


def _alias_works(alias: str, config: ProviderConfig) -> bool:
    try:
        target = _follow_aliases(alias, config)
    except ConfigError:
        return False
    return _override_for(target) is not None or _find(target, config) is not None


def _build_adapter(spec: ProviderSpec, upstream: str, api_key: str | None) -> Adapter:
    common = {"base_url": spec.base_url(), "api_key": api_key, "key_variable": spec.key_variable, "upstream_model": upstream,
              "stream": spec.stream}
    if spec.wire_format == "anthropic":
        return AnthropicAdapter(provider=spec.name, **common)
    if spec.wire_format == "gemini":
        return GeminiAdapter(provider=spec.name, **common)
    return OpenAICompatAdapter(provider=spec.name, **common)


def resolve(model: str) -> ResolvedModel:
    """Resolve ``model`` to a ready adapter (environment and config file read now).

    Raises UnknownModel (message lists the supported patterns), MissingApiKey(variable, model)
    or ConfigError (bad ``$LLM_MCP_CONFIG`` file).
    """
    requested = model.strip()
    override = _override_for(requested) if requested else None
    if override is not None:
        return ResolvedModel(requested, override.provider, requested, override)
    config = load_config()
    target = _follow_aliases(requested, config) if requested else requested
    if target != requested:
        override = _override_for(target)
        if override is not None:
            return ResolvedModel(requested, override.provider, target, override, called=target)
    found = _find(target, config) if target else None
    if found is None:
        if target != requested:  # the alias is the mistake: name it once, with where to fix it
            raise ConfigError(bad_alias(requested, target))
        hint = "supported models: " + ", ".join(supported_patterns(config))
        hint += "; custom OpenAI-compatible endpoints and aliases can be declared in the file named by $LLM_MCP_CONFIG"
        raise UnknownModel(model, hint)
    spec, upstream = found
    api_key = spec.api_key()
    if spec.key_required and api_key is None:
        raise MissingApiKey(spec.key_variable or "", requested)
    adapter = _build_adapter(spec, upstream, api_key)
    return ResolvedModel(requested, spec.name, upstream, adapter, spec.wire_format, spec.base_url(), called=target,
                         notes=_assumptions(spec, upstream, target))


def _assumptions(spec: ProviderSpec, upstream: str, model: str) -> list[str]:
    """A warning when the maintained data does not know a model of a provider it covers."""
    from .context_windows import context_window
    from .model_data import DATA_PROVIDERS, lookup

    if spec.name not in DATA_PROVIDERS or lookup(spec.name, upstream) is not None:
        return []
    return [
        f"{model!r} is not in the model data (genai-prices): it was sent to {spec.name} as named, assuming a "
        f"context window of {context_window(model):,} tokens and no known price (cost_usd is null); "
        f"list_models lists the known models"
    ]


def list_models() -> list[ProviderInfo]:
    """Every provider (overrides, config endpoints, built-ins) with its patterns and settings.

    ``key_set`` says whether the key variable is set; the key itself is never included.
    """
    config = load_config()
    infos: list[ProviderInfo] = []
    with _overrides_lock:
        overrides = list(_overrides.items())
    for pattern, adapter in overrides:
        infos.append(ProviderInfo(provider=adapter.provider, patterns=[pattern], wire_format="in-process",
                                  key_variable=None, key_required=False, key_set=False, base_url=None, source="override"))
    specs = [(_endpoint_spec(name, endpoint), endpoint.models, "config") for name, endpoint in config.endpoints.items()]
    specs += [(spec, [], "builtin") for spec in BUILTIN_PROVIDERS if spec.name not in config.endpoints]
    by_name: dict[str, ProviderInfo] = {}
    for spec, models, source in specs:
        info = ProviderInfo(
            provider=spec.name,
            patterns=list(spec.patterns),
            wire_format=spec.wire_format,
            key_variable=spec.key_variable,
            key_required=spec.key_required,
            key_set=spec.api_key() is not None,
            base_url=spec.base_url(),
            base_url_variable=spec.base_url_variable,
            models=[f"{spec.name}/{m}" for m in models],
            source=source,  # type: ignore[arg-type]
            stream=spec.stream,
        )
        by_name[spec.name] = info
        infos.append(info)
    for alias in sorted(config.aliases):
        target = _follow_aliases(alias, config)
        found = _find(target, config)
        if found is not None:
            by_name[found[0].name].aliases[alias] = target
    return infos
