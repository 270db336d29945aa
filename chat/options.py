"""The options of one chat turn, named once and checked once.

``chat`` and ``ask_models`` take the same options; each tool hands them over as one frozen
:class:`TurnOptions`, checked before anything is resolved, written or sent. Every later step
(the reasoning plan, attachments, the request itself) reads them from there.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from adapters.base import ChatRequest
from adapters.errors import InvalidToolArgument
from adapters.reasoning import check_effort
from store.ids import validate_session_id
from store.schema import Message

# A prompt beyond this many characters is refused before any provider is called: no model's
# context window holds it, and pasting it into a session file would bloat every later read.
MAX_PROMPT_CHARS = 1_000_000
MAX_TEMPERATURE = 2.0
MAX_OUTPUT_TOKENS = 200_000
MAX_MODEL_NAME = 200
MAX_TITLE_CHARS = 200
MIN_ASK_MODELS = 2
MAX_ASK_MODELS = 8

ReasoningEffort = Literal["low", "medium", "high"]


class TurnOptions(BaseModel):
    """How a turn is asked, beside its prompt and model: the same for every model of ``ask_models``."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    reasoning_effort: ReasoningEffort | None = None
    files: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    title: str | None = None
    # Send secrets found in the prompt, system prompt and files as they are (one call, loud).
    allow_secrets: bool = False

    @classmethod
    def checked(
        cls,
        *,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        reasoning_effort: str | None = None,
        files: list[str] | tuple[str, ...] | None = None,
        images: list[str] | tuple[str, ...] | None = None,
        title: str | None = None,
        allow_secrets: bool = False,
    ) -> TurnOptions:
        """The options, or ``InvalidToolArgument`` saying which one is not usable and what is."""
        if temperature is not None and not (0.0 <= temperature <= MAX_TEMPERATURE):
            raise InvalidToolArgument(f"temperature {temperature} is out of range: use a value from 0 to {MAX_TEMPERATURE:g}, or omit it")
        if max_tokens is not None and not (1 <= max_tokens <= MAX_OUTPUT_TOKENS):
            raise InvalidToolArgument(f"max_tokens {max_tokens} is out of range: use 1 to {MAX_OUTPUT_TOKENS:,}, or omit it")
        if system is not None and len(system) > MAX_PROMPT_CHARS:
            raise InvalidToolArgument(f"system prompt is too long: keep it under {MAX_PROMPT_CHARS:,} characters")
        if title is not None:
            title = check_title(title)
        return cls.model_construct(
            system=system,
            temperature=temperature,
            max_tokens=max_tokens,
            reasoning_effort=check_effort(reasoning_effort),
            files=tuple(files or ()),
            images=tuple(images or ()),
            title=title,
            allow_secrets=bool(allow_secrets),
        )

    @property
    def has_attachments(self) -> bool:
        return bool(self.files or self.images)

    def request(self, model: str, messages: list[Message], system: str | None = None) -> ChatRequest:
        """The unified request for ``model`` with these settings (``system`` as fitted for the prompt)."""
        return ChatRequest(
            model=model,
            messages=messages,
            system=system,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            reasoning_effort=self.reasoning_effort,
        )


def check_prompt(prompt: object) -> str:
    """``prompt`` when it is a usable question, else ``InvalidToolArgument``."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidToolArgument("prompt is empty: pass the question or instruction for the model as `prompt`")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidToolArgument(
            f"prompt is {len(prompt):,} characters, over the limit of {MAX_PROMPT_CHARS:,}: "
            "send a shorter excerpt (e.g. only the relevant files or a summary)"
        )
    return prompt


def check_session_id(session_id: str | None) -> str | None:
    return validate_session_id(session_id) if session_id is not None else None


def check_title(title: object) -> str:
    if not isinstance(title, str) or not title.strip():
        raise InvalidToolArgument("title is empty: pass a short line of text, or omit it")
    if "\n" in title.strip() or len(title) > MAX_TITLE_CHARS:
        raise InvalidToolArgument(f"title must be one line of at most {MAX_TITLE_CHARS} characters")
    return " ".join(title.split())


def check_model_name(model: object) -> str:
    if not isinstance(model, str) or not model.strip():
        raise InvalidToolArgument("model is empty: pass a model name such as 'gpt-4o' or 'claude-sonnet-4-5' (list_models shows them)")
    if len(model) > MAX_MODEL_NAME or any(char.isspace() or not char.isprintable() for char in model):
        raise InvalidToolArgument(f"model name {model[:80]!r} is not valid: use a name from list_models")
    return model


def check_model_list(models: object) -> list[str]:
    """``models`` as a list of 2 to 8 distinct valid model names, else ``InvalidToolArgument``."""
    if not isinstance(models, list) or not all(isinstance(model, str) for model in models):
        raise InvalidToolArgument("models must be a list of model names, e.g. ['gpt-4o', 'claude-sonnet-4-5']")
    if not MIN_ASK_MODELS <= len(models) <= MAX_ASK_MODELS:
        raise InvalidToolArgument(
            f"models has {len(models)} name(s): ask_models takes {MIN_ASK_MODELS} to {MAX_ASK_MODELS} distinct models "
            "(use chat for a single model)"
        )
    repeated = sorted({model for model in models if models.count(model) > 1})
    if repeated:
        raise InvalidToolArgument(f"models lists {', '.join(map(repr, repeated))} more than once: name each model once")
    return [check_model_name(model) for model in models]
