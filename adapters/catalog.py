"""What ``list_models`` shows: the models each configured provider is known to serve, compactly.

Providers come from :func:`adapters.registry.list_models` (built-in, config endpoints, overrides);
their models from maintained data (:mod:`adapters.model_data`): genai-prices' data for the
providers it covers, ``GET /models`` for OpenAI-compatible endpoints, and the ``models`` a config
endpoint declares. Models are listed for providers that can be called now (key set, or none
needed), or for the one provider asked for.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .errors import AdapterError
from .model_data import DATA_PROVIDERS, ModelFacts, endpoint_models, known_models
from .registry import BUILTIN_PROVIDERS, ProviderInfo, list_models


class UnknownProvider(AdapterError, LookupError):
    """``list_models(provider=...)`` names no provider this server knows."""


class ProviderLine(BaseModel):
    """One provider as ``list_models`` shows it (never a key)."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    patterns: list[str]
    key_variable: str | None = None
    key_required: bool
    key_set: bool
    models_listed: int = 0
    aliases: dict[str, str] = Field(default_factory=dict)
    source: str = "builtin"
    base_url: str | None = None


class ModelCatalog(BaseModel):
    """``{models: [...], providers: [...]}`` — the structured result of ``list_models``."""

    models: list[ModelFacts] = Field(default_factory=list)
    providers: list[ProviderLine] = Field(default_factory=list)


def _accepts(provider: str) -> Any:
    spec = next((spec for spec in BUILTIN_PROVIDERS if spec.name == provider), None)
    return (lambda name: spec.match(name) is not None) if spec is not None else (lambda name: False)


def _models_of(info: ProviderInfo) -> list[ModelFacts]:
    if info.source == "override":
        return []
    if info.provider in DATA_PROVIDERS and info.source == "builtin":
        prefix = "openrouter/" if info.provider == "openrouter" else ""
        return known_models(info.provider, _accepts(info.provider), prefix)
    listed = endpoint_models(info.provider, info.base_url, _key(info)) if info.base_url and info.wire_format == "openai" else None
    declared = [ModelFacts(model=name, provider=info.provider) for name in info.models]
    if listed is None:
        return declared
    names = {facts.model for facts in listed}
    return listed + [facts for facts in declared if facts.model not in names]


def _key(info: ProviderInfo) -> str | None:
    import os

    return (os.environ.get(info.key_variable, "").strip() or None) if info.key_variable else None


def model_catalog(provider: str | None = None, query: str | None = None) -> ModelCatalog:
    """The catalog; ``provider`` lists that provider's models whether or not its key is set;
    ``query`` keeps the models whose name contains it (case-insensitive).

    Raises ``UnknownProvider`` for a provider name nobody configured.
    """
    infos = list_models()
    if provider is not None and not any(info.provider == provider for info in infos):
        known = ", ".join(dict.fromkeys(info.provider for info in infos))
        raise UnknownProvider(f"unknown provider {provider!r}: use one of {known}")
    catalog = ModelCatalog()
    for info in infos:
        callable_now = info.key_set or not info.key_required
        wanted = info.provider == provider if provider is not None else callable_now
        models = _models_of(info) if wanted else []
        if query:
            models = [facts for facts in models if query.lower() in facts.model.lower()]
        for facts in models:
            facts.key_set = callable_now
        catalog.models.extend(models)
        if provider is None or info.provider == provider:
            catalog.providers.append(ProviderLine(
                provider=info.provider, patterns=info.patterns, key_variable=info.key_variable,
                key_required=info.key_required, key_set=info.key_set, models_listed=len(models), aliases=info.aliases,
                source=info.source, base_url=info.base_url if info.source != "builtin" else None,
            ))
    return catalog
