"""``reasoning_effort`` (``low`` | ``medium`` | ``high``) mapped onto each provider's own control.

One pure function per wire format turns a request's model, effort, ``max_tokens`` and
``temperature`` into a :class:`ReasoningPlan`: the fields the adapter adds to its body, whether
it still sends ``temperature``, the ``max_tokens`` it sends instead of the caller's, and the
warnings the caller gets. Adapters call these from ``build_body``; the chat core calls the same
plan (:func:`plan_for`) before anything is written or sent, so an impossible combination is
refused up front and the warnings reach the tool result. What each provider documents:

- OpenAI reasoning models (``o1``/``o3``/``o4``/``gpt-5``): ``reasoning_effort``; they reject
  ``temperature``. ``o1-mini``, ``o1-preview`` and ``gpt-5-chat*`` have no effort control.
- Anthropic: extended thinking ``thinking: {type: "enabled", budget_tokens}``; the budget is
  at least 1024 and below ``max_tokens``, and ``temperature`` must be left unset. Claude 3
  models before 3.7 have no extended thinking.
- Gemini: ``generationConfig.thinkingConfig``: ``thinkingLevel`` for Gemini 3 (Pro: ``low`` /
  ``high``; Flash: ``minimal`` to ``high``), ``thinkingBudget`` (tokens) for Gemini 2.5; never
  both. ``includeThoughts`` returns the thought summaries (kept in the message's extra).
- DeepSeek: ``thinking: {type: "enabled"}`` and ``reasoning_effort`` (``medium`` runs as
  ``high``); ``temperature`` has no effect in thinking mode.
- Kimi (Moonshot): K2.5/K2.6 take ``thinking: {type: "enabled" | "disabled"}`` (on/off, no
  level); the K2 thinking models always think; the others have no control.
- OpenRouter: ``reasoning: {effort}``, translated by OpenRouter for the routed model.

A model without a control answers normally and the plan carries a warning saying the setting
was not applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .base import ChatRequest
from .errors import InvalidToolArgument

ReasoningEffort = Literal["low", "medium", "high"]
EFFORTS: tuple[str, ...] = ("low", "medium", "high")

#: Anthropic's extended-thinking floor, and the answer room kept below a caller's max_tokens.
ANTHROPIC_MIN_BUDGET = 1024
ANTHROPIC_BUDGETS = {"low": 2048, "medium": 8192, "high": 16384}
#: Gemini 2.5 thinking budgets (tokens); 24576 is the Flash maximum (Pro goes to 32768).
GEMINI_BUDGETS = {"low": 1024, "medium": 8192, "high": 24576}

_OPENAI_REASONING = re.compile(r"^(o\d|gpt-5)")
_OPENAI_NO_EFFORT = re.compile(r"^(o1-mini|o1-preview|gpt-5-chat)")
_KIMI_SWITCHABLE = re.compile(r"^kimi-k2\.[56]")
_KIMI_ALWAYS_THINKS = re.compile(r"^(kimi-k2-thinking|kimi-thinking|kimi-k2\.7)")


@dataclass(frozen=True)
class ReasoningPlan:
    """How one request carries its reasoning setting (see the module docstring).

    ``fields`` are added by the adapter where its wire format puts them (top level of the
    body, or ``generationConfig`` for Gemini); ``max_tokens`` (when set) replaces the request's.
    """

    fields: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    send_temperature: bool = True
    max_tokens: int | None = None


NO_PLAN = ReasoningPlan()


class _Planner(Protocol):
    def reasoning_plan(self, request: ChatRequest) -> ReasoningPlan: ...


def check_effort(value: object) -> ReasoningEffort | None:
    """``value`` when it is a valid effort (or None); else ``InvalidToolArgument`` naming the choices."""
    if value is None:
        return None
    if value not in EFFORTS:
        raise InvalidToolArgument(f"reasoning_effort {value!r} is not valid: use low, medium or high, or omit it")
    return value  # type: ignore[return-value]


def plan_for(adapter: object, request: ChatRequest) -> ReasoningPlan:
    """The plan ``adapter`` will follow for ``request`` (adapters without one get the request as is)."""
    planner: _Planner | None = adapter if hasattr(adapter, "reasoning_plan") else None  # type: ignore[assignment]
    return planner.reasoning_plan(request) if planner is not None else NO_PLAN


def _not_applied(model: str, why: str) -> str:
    return f"reasoning_effort was not applied: {model} {why}; it answered with its default behaviour"


def _temperature_dropped(request: ChatRequest, why: str) -> tuple[str, ...]:
    return (f"temperature was not sent: {why}",) if request.temperature is not None else ()


def openai_compat_plan(provider: str, model: str, request: ChatRequest) -> ReasoningPlan:
    """The plan of an OpenAI chat-completions endpoint; ``model`` is the upstream name."""
    effort = request.reasoning_effort
    if provider == "openai":
        if not _OPENAI_REASONING.match(model):
            return ReasoningPlan(warnings=(_not_applied(model, "is not an OpenAI reasoning model (o-series, gpt-5)"),)) if effort else NO_PLAN
        dropped = _temperature_dropped(request, f"OpenAI reasoning models such as {model} reject it")
        if effort is None:
            return ReasoningPlan(warnings=dropped, send_temperature=False)
        if _OPENAI_NO_EFFORT.match(model):
            return ReasoningPlan(warnings=(*dropped, _not_applied(model, "has no reasoning_effort control")), send_temperature=False)
        return ReasoningPlan(fields={"reasoning_effort": effort}, warnings=dropped, send_temperature=False)
    if effort is None:
        return NO_PLAN
    if provider == "deepseek":
        warnings = _temperature_dropped(request, "it has no effect in DeepSeek's thinking mode")
        if effort == "medium":
            warnings += ("DeepSeek has no medium reasoning effort: it runs medium as high",)
        return ReasoningPlan(fields={"thinking": {"type": "enabled"}, "reasoning_effort": effort}, warnings=warnings, send_temperature=False)
    if provider == "moonshot":
        if _KIMI_SWITCHABLE.match(model):
            note = f"{model} has thinking on/off only: thinking was turned on, the level {effort!r} has no Kimi equivalent"
            return ReasoningPlan(fields={"thinking": {"type": "enabled"}}, warnings=(note,))
        if _KIMI_ALWAYS_THINKS.match(model):
            return ReasoningPlan(warnings=(_not_applied(model, "always thinks and has no effort control"),))
        return ReasoningPlan(warnings=(_not_applied(model, "has no reasoning control"),))
    if provider == "openrouter":
        return ReasoningPlan(fields={"reasoning": {"effort": effort}})
    return ReasoningPlan(warnings=(_not_applied(model, f"is served by {provider!r}, which documents no reasoning control"),))


def _anthropic_thinks(model: str) -> bool:
    # Extended thinking arrived with Claude 3.7 Sonnet; every Claude 4 model has it.
    return not model.startswith(("claude-2", "claude-instant", "claude-3-")) or model.startswith("claude-3-7")


def anthropic_plan(model: str, request: ChatRequest, default_max_tokens: int) -> ReasoningPlan:
    """The plan of the Anthropic Messages API; ``default_max_tokens`` is what is sent without thinking."""
    effort = request.reasoning_effort
    if effort is None:
        return NO_PLAN
    if not _anthropic_thinks(model):
        return ReasoningPlan(warnings=(_not_applied(model, "has no extended thinking (Claude 3.7 and later have it)"),))
    warnings = _temperature_dropped(request, "Claude's extended thinking requires it to be left unset")
    budget = ANTHROPIC_BUDGETS[effort]
    if request.max_tokens is None:
        max_tokens = budget + default_max_tokens
    else:
        max_tokens = request.max_tokens
        room = max_tokens - ANTHROPIC_MIN_BUDGET  # the answer keeps at least as much as the smallest budget
        if room < ANTHROPIC_MIN_BUDGET:
            raise InvalidToolArgument(
                f"reasoning_effort on {model} needs max_tokens of at least {2 * ANTHROPIC_MIN_BUDGET}: Anthropic's "
                f"thinking budget is at least {ANTHROPIC_MIN_BUDGET} tokens and must stay below max_tokens, with room "
                f"left for the answer (got max_tokens={max_tokens}); raise max_tokens or omit it, or omit reasoning_effort"
            )
        if room < budget:
            warnings += (f"the thinking budget for {effort!r} ({budget} tokens) was lowered to {room} to fit max_tokens={max_tokens}",)
            budget = room
    return ReasoningPlan(
        fields={"thinking": {"type": "enabled", "budget_tokens": budget}},
        warnings=warnings,
        send_temperature=False,
        max_tokens=max_tokens,
    )


def gemini_plan(model: str, request: ChatRequest) -> ReasoningPlan:
    """The plan of the Gemini API: ``fields`` go into ``generationConfig``."""
    effort = request.reasoning_effort
    if effort is None:
        return NO_PLAN
    if model.startswith("gemini-3"):
        level, warnings = effort, ()
        if "flash" not in model and effort == "medium":  # Gemini 3 Pro has low and high only
            level, warnings = "high", (f"{model} has only low and high thinking levels: medium was sent as high",)
        return ReasoningPlan(fields={"thinkingConfig": {"thinkingLevel": level, "includeThoughts": True}}, warnings=warnings)
    if model.startswith("gemini-2.5"):
        return ReasoningPlan(fields={"thinkingConfig": {"thinkingBudget": GEMINI_BUDGETS[effort], "includeThoughts": True}})
    return ReasoningPlan(warnings=(_not_applied(model, "has no thinking control (Gemini 2.5 and 3 models have one)"),))
