"""``ask_models``: one question to 2-8 models at once, each answer in a session of its own."""

from __future__ import annotations

import functools
import logging
from typing import Any

import anyio

from adapters.base import Adapter
from adapters.errors import AdapterError, MissingApiKey
from chat.app import App
from chat.errors import ChatFailed, user_message
from chat.legacy_migration import migrate_if_legacy
from chat.options import TurnOptions, check_model_list, check_prompt, check_session_id
from chat.progress import AnswerWatch, ProgressSender, report_progress
from chat.turn import plan_for_options, run_turn
from chat.turn_attachments import check_attachment_budget, prepare_attachments_for
from store import Session
from store.branches import branch_of, grouped_session, new_group_id

log = logging.getLogger("llm_mcp_server")


def _new_sessions(app: App, models: list[str], source: Session | None, group_id: str, title: str | None) -> list[str]:
    """One new session per model in group ``group_id``: empty, or a branch of ``source``."""
    ids: list[str] = []
    for model in models:
        if source is None:
            build = functools.partial(grouped_session, model=model, group_id=group_id)
        else:
            build = functools.partial(branch_of, source, group_id=group_id)
        session = app.store.create_new(build)
        if title is not None and session.title != title:
            app.store.set_title(session.id, title)
        ids.append(session.id)
    return ids


def _answer_error(exc: Exception, model: str, session_id: str) -> str:
    """The ``error`` of one model's answer: the cause, and how to retry that model alone."""
    cause = exc.cause if isinstance(exc, ChatFailed) else exc
    message = user_message(cause)
    if message is None:
        log.error("ask_models: %s crashed", model, exc_info=cause)
        message = f"internal error while calling the model ({type(cause).__name__}); the server log has the details"
    if isinstance(exc, ChatFailed):
        message += (
            f" — the question was saved in session {session_id!r}; call chat with model={model!r} and "
            f"session_id={session_id!r} to retry this model"
        )
    return message


async def ask_models(
    app: App,
    prompt: str,
    models: list[str],
    session_id: str | None,
    options: TurnOptions,
    progress: ProgressSender | None = None,
) -> dict[str, Any]:
    """Ask every model in ``models`` the same question at once, each in a session of its own.

    Everything that can be refused is refused before any session is written or any request
    sent: the arguments, each model name (unknown) and each model's reasoning setting,
    the attachments (read and checked once, then shared by every model; too large for any one
    model's window is refused), and a ``session_id`` that does not exist. Then one session per
    model is created (a branch of ``session_id`` when given, which is left unchanged; all in one
    new group) and the turns run concurrently through :func:`run_turn`. A model whose turn fails
    gets ``error`` (its question stays saved in its session); the others still answer. Returns
    ``{group_id, answers: [{model, session_id, reply, warnings, usage, error}]}`` in the order
    of ``models``. ``progress`` gets one rising count for all the answers.

    A model whose API key is not set is not refused with the call: its answer is that
    ``error`` (``session_id`` None: nothing was written for it) and the others are asked;
    only when no model has its key is the whole call refused.
    """
    check_prompt(prompt)
    check_session_id(session_id)
    names = check_model_list(models)
    all_names = names
    resolved = _resolve_each(app, names)
    keyless = {name: found for name, found in resolved.items() if isinstance(found, MissingApiKey)}
    if len(keyless) == len(names):
        raise NoModelReachable(list(keyless.values()))
    usable = {name: found for name, found in resolved.items() if not isinstance(found, MissingApiKey)}
    names, adapters = list(usable), list(usable.values())
    called = [getattr(adapter, "called", None) or name for name, adapter in usable.items()]  # an alias's target
    for name, adapter in usable.items():
        plan_for_options(adapter, name, options)
    prepared = await prepare_attachments_for(options, adapters)
    for name in names:
        check_attachment_budget(app, prepared, name, prompt, options)
    source: Session | None = None
    if session_id is not None:
        session_id = await migrate_if_legacy(app, session_id)
        source = (await anyio.to_thread.run_sync(app.store.snapshot, session_id)).session
    group_id = new_group_id()
    session_ids = await anyio.to_thread.run_sync(_new_sessions, app, called, source, group_id, options.title)
    answers: list[dict[str, Any]] = [{} for _ in names]
    watches = [AnswerWatch() for _ in names]

    async def ask(index: int) -> None:
        model, branch = names[index], session_ids[index]
        error: str | None = None
        try:
            turn = await run_turn(app, prompt, model, branch, options, watch=watches[index], attachments=prepared)
            result = turn.as_dict()
        except Exception as exc:  # one model's failure is its answer; the others go on
            result = {"session_id": branch, "reply": None, "warnings": [], "usage": None}
            error = _answer_error(exc, model, branch)
        answers[index] = {"model": model, **result, "error": error}

    async with anyio.create_task_group() as reporting:
        if progress is not None:
            reporting.start_soon(report_progress, progress, list(zip(names, watches)))
        async with anyio.create_task_group() as group:
            for index in range(len(names)):
                group.start_soon(ask, index)
        reporting.cancel_scope.cancel()
    by_model = dict(zip(names, answers))
    missing = {name: _missing_key_answer(name, exc) for name, exc in keyless.items()}
    return {"group_id": group_id, "answers": [by_model.get(name) or missing[name] for name in all_names]}


class NoModelReachable(AdapterError):
    """Not one model of an ``ask_models`` call has its API key: nothing can be asked."""

    def __init__(self, missing: list[MissingApiKey]) -> None:
        variables = sorted({exc.variable for exc in missing})
        super().__init__(
            "none of the models can be asked: " + "; ".join(str(exc) for exc in missing)
            + f". Set {' and '.join(variables)} in the environment the MCP server is started with, then restart the server."
        )
        self.missing = missing


def _resolve_each(app: App, names: list[str]) -> dict[str, Adapter | MissingApiKey]:
    """Each model's adapter, or its ``MissingApiKey``; any other refusal (unknown model, a bad
    config file) is raised at once and refuses the whole call."""
    resolved: dict[str, Adapter | MissingApiKey] = {}
    for name in names:
        try:
            resolved[name] = app.resolve_adapter(name)
        except MissingApiKey as exc:
            resolved[name] = exc
    return resolved


def _missing_key_answer(model: str, exc: MissingApiKey) -> dict[str, Any]:
    return {"model": model, "session_id": None, "reply": None, "warnings": [], "usage": None, "error": user_message(exc)}
