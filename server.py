"""llm-mcp-server: an MCP server over one model-agnostic, searchable session store.

Run ``python server.py --help`` for options. stdio is the default transport (stdout is the MCP
channel: logs go to stderr only). The tools are defined in ``build_server``; every error they
raise is turned into a tool error with an actionable message in one place, ``tool_errors``.
The chat path is ``_chat_unified`` (and ``_chat_legacy`` for ``kimi_chat`` with
``LLM_UNIFIED=0``); prompt building and compression live in ``adapters/prompt.py`` and
``adapters/compression.py``.
"""

from __future__ import annotations

import argparse
import errno
import functools
import inspect
import logging
import os
import re
import signal
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

if __package__ in (None, ""):  # run as `python server.py` from anywhere
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
import filelock
from pydantic import ValidationError
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import Resource as MCPResource

from adapters.base import Adapter, ChatReply, ChatRequest
from adapters.attachments import (
    AttachmentRefused,
    AttachmentsTooLarge,
    FileRootsInvalid,
    PreparedAttachments,
    expand_attachments,
    has_attachments,
    prepare_attachments,
)
from adapters.compression import fit_prompt
from adapters.errors import AdapterError, MissingApiKey, ProviderError, UnknownModel
from adapters.reasoning import ReasoningPlan, check_effort, plan_for
from adapters.redact import adapter_key, redact_secrets_deep, scrub_reply
from chat.secrets import redact_partial_answer, redact_reply, redact_request_text
from adapters.streaming import StreamInterrupted, listening
from adapters.prompt import (
    FAILED_MARK,
    INCOMPLETE_MARK,
    MAX_PROMPT_CHARS,
    Estimator,
    InvalidToolArgument,
    PromptTooLarge,
    effective_system,
    output_reserve,
    repair_tool_pairs,
    validate_chat_args,
)
from store import (
    InvalidSessionId,
    Message,
    ModelSwitch,
    Session,
    SessionExists,
    SessionNotFound,
    SessionStore,
    StoreError,
    Summary,
    Usage,
    new_session_id,
    resolve_legacy_root,
    resolve_root,
    total_cost,
    utc_now,
    validate_session_id,
)
from store.blobs import BlobStore
from store.branches import branch_of, grouped_session, new_group_id
from store.legacy import LegacyKimiStore
from utils.answer_progress import AnswerWatch, ProgressSender, report_progress
from utils.dates import InvalidDate, parse_user_time
from utils.feature_flags import InvalidFlagValue, llm_unified_enabled
from utils.http_auth import TOKEN_ENV, AuthConfigError, HttpAuth, http_auth

log = logging.getLogger("llm_mcp_server")

KIMI_MODEL_ENV = "KIMI_MODEL"
DEFAULT_KIMI_MODEL = "kimi-k2-0711-preview"
SUMMARY_MODEL_ENV = "LLM_SUMMARY_MODEL"
MAX_MODEL_NAME = 200
MAX_PAGE = 500
F = TypeVar("F", bound=Callable[..., Any])


# ------------------------------------------------------------------------------ wiring


@dataclass
class App:
    """Everything the tools use, injectable for tests and benchmarks.

    ``resolve_adapter(model)`` returns the adapter for a model or raises ``UnknownModel`` /
    ``MissingApiKey``; ``index_paths(paths)`` brings the index up to date for files just
    written (read-your-writes for ``search_sessions``). ``index_session(path, session, data, appended)``,
    when set, is used instead after a chat turn: it indexes the session just written from the
    already decoded object and its exact bytes (no second read and decode of the file).
    """

    store: SessionStore
    legacy_root: Path
    resolve_adapter: Callable[[str], Adapter]
    context_window: Callable[[str], int]
    estimate_tokens: Estimator
    index_paths: Callable[[list[Path]], object] | None = None
    index_session: Callable[[Path, Session, bytes, Any], object] | None = None
    search: Callable[..., list[Any]] | None = None
    switch_history: Callable[..., list[Any]] | None = None
    list_models: Callable[[], list[Any]] | None = None
    migrate_legacy: Callable[[Path, SessionStore, str], Session | None] | None = None
    recent_sessions: Callable[[int], list[Any]] | None = None  # index.RecentSession, newest first
    indexer: Any = None  # the process's one index.Indexer (shared with the background watcher)
    extra: dict[str, Any] = field(default_factory=dict)


def default_app(root: Path, legacy_root: Path | None = None) -> App:
    """The production wiring: the provider registry, the token table and the SQLite index.

    One ``Indexer`` and one ``SearchIndex`` (both thread-safe) serve the whole process; the
    search index is opened on first use, so start-up never waits for a rebuild.
    """
    from adapters import context_windows, registry
    from index import Indexer, SearchIndex
    from store.legacy import migrate_legacy_session

    indexer = Indexer(root)
    searcher: list[SearchIndex] = []
    opening = threading.Lock()

    def search_index() -> SearchIndex:
        with opening:  # tools run on worker threads: open the index once
            if not searcher:
                searcher.append(SearchIndex(root))
            return searcher[0]

    def search(query: str, **filters: Any) -> list[Any]:
        return search_index().search(query, **filters)

    def switch_history(**filters: Any) -> list[Any]:
        return search_index().model_switch_history(**filters)

    def recent_sessions(limit: int) -> list[Any]:
        return search_index().recent_sessions(limit)

    return App(
        store=SessionStore(root),
        legacy_root=legacy_root or resolve_legacy_root(),
        resolve_adapter=registry.resolve,
        context_window=context_windows.context_window,
        estimate_tokens=context_windows.estimate_tokens,
        index_paths=indexer.index_paths,
        index_session=getattr(indexer, "index_session", None),
        search=search,
        recent_sessions=recent_sessions,
        switch_history=switch_history,
        list_models=registry.list_models,
        migrate_legacy=migrate_legacy_session,
        indexer=indexer,
    )


# ------------------------------------------------------------------------------ errors


class ChatFailed(Exception):
    """The provider call failed after the user's message was saved (nothing is lost)."""

    def __init__(self, session_id: str, cause: Exception, partial_characters: int = 0) -> None:
        self.session_id = session_id
        self.cause = cause
        partial = (
            f" with the partial answer ({partial_characters:,} characters, marked incomplete)" if partial_characters else ""
        )
        self.saved_note = (
            f"your message was saved in session {session_id!r}{partial}; call the tool again with "
            f"session_id={session_id!r} to retry (the failed attempt is kept but not resent)"
        )
        super().__init__(f"{cause} — {self.saved_note}")


class SummariserUnavailable(AdapterError):
    """The summariser model (``LLM_SUMMARY_MODEL``) is unknown or has no key."""


# Write failures that are the machine's state, not a bug: disk full, file too large, quota, read-only.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS})


# Errors whose own message already says what to do: shown as they are. Only these types (and
# the ones handled above them in ``_error_message``) are expected; any other exception, a
# ``ValueError`` or a pydantic ``ValidationError`` from a bug included, is a crash.
_SHOWN_AS_IS: tuple[type[BaseException], ...] = (
    InvalidToolArgument,
    AttachmentRefused,
    AttachmentsTooLarge,
    FileRootsInvalid,
    PromptTooLarge,
    InvalidFlagValue,
    StoreError,  # SessionBusy, SessionNotFound, CorruptSession, LegacyFileUnreadable, ...
    AdapterError,
    ToolError,
)


def _error_message(exc: BaseException) -> str | None:
    """The tool-error text for an anticipated error, ``None`` for a crash.

    Each error is mapped by the first branch that names its type, most specific first (a
    ``SessionBusy`` is a ``StoreError`` and also a ``filelock.Timeout``: its own message wins).
    """
    if isinstance(exc, MissingApiKey):
        return f"{exc}. Set it in the environment the MCP server is started with, then restart the server."
    if isinstance(exc, UnknownModel):
        return f"{exc}. Call list_models to see the models and prefixes this server knows."
    if isinstance(exc, ProviderError):
        # The adapter's message already names the cause (status, detail, which key to check).
        return f"provider error: {exc}" + (" — this may succeed if you try again later" if exc.retryable else "")
    if isinstance(exc, SummariserUnavailable):
        return f"{exc}. Set {SUMMARY_MODEL_ENV} to a configured model (see list_models) or unset it to use the chat model."
    if isinstance(exc, ChatFailed):
        cause = _error_message(exc.cause)
        if cause is None:
            log.error("chat call crashed", exc_info=exc.cause)
            cause = f"internal error while calling the model ({type(exc.cause).__name__}); the server log has the details"
        return f"{cause} — {exc.saved_note}"
    if isinstance(exc, _SHOWN_AS_IS):
        return str(exc)
    if isinstance(exc, filelock.Timeout):  # a lock taken outside the store's ``locked``
        return "the session is busy (another writer holds its lock); try again in a moment"
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        return (
            f"could not save to the session store: {os.strerror(exc.errno)}. Nothing was changed: "
            "the previous session file is intact (this exchange was not stored). Free disk space "
            "(or raise the file-size/quota limit) and call the tool again."
        )
    if isinstance(exc, sqlite3.Error):
        # Only the derived search index is SQLite; the sessions themselves are JSON files.
        log.warning("search index error", exc_info=exc)
        return (
            f"the search index (index.sqlite in the session root) cannot be used: {exc}. It holds only "
            "derived data: delete it (or run scripts/reindex.py --full) and it is rebuilt from the "
            "session files, which are not affected."
        )
    return None


def _translate(exc: Exception, tool: str) -> ToolError:
    message = _error_message(exc)
    if message is None:
        log.error("tool %s crashed", tool, exc_info=exc)
        return ToolError(f"internal error in {tool} ({type(exc).__name__}); the server log has the details")
    log.info("tool %s failed: %s", tool, message)
    return ToolError(message)


def tool_errors(fn: F) -> F:
    """The one place where errors become tool errors (the MCP connection stays up)."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                raise _translate(exc, fn.__name__) from exc

        return run_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def run_sync(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise _translate(exc, fn.__name__) from exc

    return run_sync  # type: ignore[return-value]


# ------------------------------------------------------------------------------ chat core


def check_model_name(model: object) -> str:
    if not isinstance(model, str) or not model.strip():
        raise InvalidToolArgument("model is empty: pass a model name such as 'gpt-4o' or 'claude-sonnet-4-5' (list_models shows them)")
    if len(model) > MAX_MODEL_NAME or any(char.isspace() or not char.isprintable() for char in model):
        raise InvalidToolArgument(f"model name {model[:80]!r} is not valid: use a name from list_models")
    return model


def _load_or_create(app: App, session_id: str | None, model: str) -> Session:
    """The session to build the prompt from (read-only: it may be shared with the store's cache)."""
    if session_id is None:
        return app.store.create(model=model)
    try:
        return app.store.snapshot(session_id).session
    except SessionNotFound:
        try:
            return app.store.create(session_id, model=model)
        except SessionExists:  # created concurrently by another call
            return app.store.snapshot(session_id).session


async def prepare_chat_attachments(
    files: list[str] | None, images: list[str] | None, adapters: Sequence[object], allow_secrets: bool = False
) -> PreparedAttachments:
    """``files``/``images`` read and checked once (``AttachmentRefused`` if any is refused);
    the key values of ``adapters`` are redacted from the text like every secret-looking variable,
    and so is every secret ``chat.secrets`` finds (unless ``allow_secrets``)."""
    if not files and not images:
        return PreparedAttachments()
    secrets = [adapter_key(adapter) for adapter in adapters]
    prepare = functools.partial(prepare_attachments, files, images, secrets=secrets, allow_secrets=allow_secrets)  # SECRETS (issue 30)
    return await anyio.to_thread.run_sync(prepare)


def check_attachment_budget(
    app: App, prepared: PreparedAttachments, model: str, prompt: str, system: str | None, max_tokens: int | None
) -> None:
    """``AttachmentsTooLarge`` when ``prepared`` does not fit ``model``'s window beside the prompt."""
    if not prepared:
        return
    window = app.context_window(model)
    texts = [Message(role="user", content=prompt)] + ([Message(role="system", content=system)] if system else [])
    available = window - output_reserve(max_tokens, window) - app.estimate_tokens(texts)
    prepared.check_budget(model, available, window)


def _assistant_message(reply: ChatReply, model: str) -> Message:
    """The stored answer; its ``usage.cost_usd`` is the price at the time of the call (None: unknown)."""
    from adapters.pricing import cost_usd

    extra: dict[str, Any] = {}
    if reply.provider_extra:
        extra[reply.provider] = reply.provider_extra
    if reply.finish_reason:
        extra["finish_reason"] = reply.finish_reason
    at = utc_now()
    usage = None
    if reply.usage is not None:
        usage = reply.usage.model_copy(update={"cost_usd": cost_usd(reply.provider, reply.model, reply.usage, at)})
    return Message(
        role="assistant",
        content=reply.text,
        model=model,
        provider=reply.provider,
        created_at=at,
        tool_calls=reply.tool_calls or None,
        usage=usage,
        latency_ms=reply.latency_ms,
        extra=extra,
    )


def result_usage(message: Message) -> dict[str, Any]:
    """A tool result's ``usage``: token counts and ``cost_usd`` (each None when not known)."""
    usage = message.usage or Usage()
    return usage.model_dump(exclude={"extra"})


def _incomplete_answer(text: str, model: str, provider: str | None, reason: str, adapter: object) -> Message:
    """The part of an answer that arrived before the call stopped, marked incomplete with ``reason``."""
    content = redact_partial_answer(str(redact_secrets_deep(text, [adapter_key(adapter)])))  # SECRETS (issue 30)
    mark = {"reason": reason, "characters": len(text), "at": utc_now().isoformat()}
    return Message(role="assistant", content=content, model=model, provider=provider, extra={INCOMPLETE_MARK: mark})


async def _call_model(
    adapter: Adapter, request: ChatRequest, watch: AnswerWatch, progress: ProgressSender | None
) -> ChatReply:
    """``adapter.complete(request)`` heard by ``watch``, with progress sent meanwhile when asked for."""
    with listening(watch):
        if progress is None:
            return await adapter.complete(request)
        outcome: list[ChatReply] = []
        failure: list[Exception] = []
        async with anyio.create_task_group() as group:
            group.start_soon(report_progress, progress, [(request.model, watch)])
            try:
                outcome.append(await adapter.complete(request))
            except Exception as exc:  # raised below, outside the group (no ExceptionGroup for callers)
                failure.append(exc)
            finally:
                group.cancel_scope.cancel()
        if failure:
            raise failure[0]
        return outcome[0]


def _commit(
    app: App,
    session_id: str,
    model: str,
    pending: list[Message],
    *,
    answered: bool,
    summary: Summary | None,
) -> ModelSwitch | None:
    """Store the exchange in one atomic update, then index the file (read-your-writes)."""
    written = app.store.record_exchange(session_id, pending, answered_by=model if answered else None, summary=summary)
    if app.index_session is not None:
        _index(app, [written.path], lambda: app.index_session(written.path, written.session, written.data, written.appended))  # type: ignore[misc]
    else:
        _index(app, [written.path])
    return written.result


def _index(app: App, paths: list[Path], run: Callable[[], object] | None = None) -> None:
    """Index ``paths`` (or call ``run``, which indexes them); a failure is logged, never raised."""
    if run is None:
        if app.index_paths is None:
            return
        run = functools.partial(app.index_paths, paths)
    try:
        run()
    except Exception:  # the watcher catches up; the chat itself succeeded
        log.warning("indexing %s failed; the background watcher will retry", [str(p) for p in paths], exc_info=True)


def check_turn_args(
    prompt: object,
    session_id: str | None,
    system: str | None,
    temperature: float | None,
    max_tokens: int | None,
    reasoning_effort: str | None,
) -> None:
    """The checks every chat turn's arguments pass before anything is resolved, written or sent."""
    validate_chat_args(prompt, temperature, max_tokens)
    check_effort(reasoning_effort)
    if session_id is not None:
        validate_session_id(session_id)
    if system is not None and len(system) > MAX_PROMPT_CHARS:
        raise InvalidToolArgument(f"system prompt is too long: keep it under {MAX_PROMPT_CHARS:,} characters")


def reasoning_plan(
    adapter: Adapter, model: str, temperature: float | None, max_tokens: int | None, reasoning_effort: str | None
) -> ReasoningPlan:
    """How ``adapter`` will send the reasoning setting; ``InvalidToolArgument`` if it cannot (nothing sent yet).

    The plan depends on the settings only, not on the conversation.
    """
    settings = ChatRequest(
        model=model, messages=[], temperature=temperature, max_tokens=max_tokens, reasoning_effort=reasoning_effort  # type: ignore[arg-type]
    )
    return plan_for(adapter, settings)


async def _chat_unified(
    app: App,
    prompt: str,
    model: str,
    session_id: str | None = None,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    reasoning_effort: str | None = None,
    progress: ProgressSender | None = None,
    watch: AnswerWatch | None = None,
    files: list[str] | None = None,
    images: list[str] | None = None,
    attachments: PreparedAttachments | None = None,
    allow_secrets: bool = False,
) -> dict[str, Any]:
    """The one chat path: load/create, build the (compressed) prompt, call, store, index.

    Secrets (``chat.secrets``) in ``prompt``, ``system`` and the files are replaced by
    ``[REDACTED <kind>]`` before the request is built and anything is stored, unless
    ``allow_secrets`` (then a loud warning); the reply is redacted before it is stored or returned.

    ``files``/``images`` are read and checked here; a caller asking several models passes
    them prepared once instead, as ``attachments`` (see ``adapters.attachments.prepare_attachments``).
    Anything refused, or attachments too large for the model, raise before anything is
    written or sent.

    A ``session_id`` that exists only in the legacy ``.kimi_sessions/`` folder is migrated
    first (with ``LLM_UNIFIED`` on); one that exists nowhere is created with that id.
    Returns ``{session_id, model, reply, warnings, usage}``. Raises ``UnknownModel`` /
    ``MissingApiKey`` / ``InvalidToolArgument`` (e.g. a reasoning setting the provider cannot
    take) before anything is written, and ``ChatFailed`` (user message saved) if the provider
    or the compression fails.
    ``progress`` is sent progress while the answer streams in, heard by ``watch`` (a new one
    when None; ``ask_models`` passes its own and reports for all models at once). When the
    call stops mid-answer (a broken stream, or the caller cancels: then the cancellation goes
    on after the save), the part that arrived is saved marked incomplete.
    """
    check_turn_args(prompt, session_id, system, temperature, max_tokens, reasoning_effort)
    check_model_name(model)
    adapter = app.resolve_adapter(model)
    plan = reasoning_plan(adapter, model, temperature, max_tokens, reasoning_effort)
    # SECRETS (issue 30): redacted before the request is built and before anything is stored
    prompt, system, secret_warnings = redact_request_text(prompt, system, allow_secrets, context=f"chat {model}")
    prepared = attachments if attachments is not None else await prepare_chat_attachments(files, images, [adapter], allow_secrets)
    check_attachment_budget(app, prepared, model, prompt, system, max_tokens)
    blobs = BlobStore(app.store.root)
    if prepared:  # before the session that references them, so a reader never meets a dangling blob
        await anyio.to_thread.run_sync(prepared.store, blobs)
    if session_id is not None:
        session_id = await _migrate_if_legacy(app, session_id)
    session = await anyio.to_thread.run_sync(_load_or_create, app, session_id, model)
    pending: list[Message] = []
    if system is not None and system != effective_system(session.messages):
        pending.append(Message(role="system", content=system))
    user = Message(role="user", content=prepared.content(prompt) if prepared else prompt)
    pending.append(user)
    warnings: list[str] = secret_warnings + list(prepared.notes)
    window = app.context_window(model)
    summary: Summary | None = None
    watch = watch or AnswerWatch()

    async def save_failed(error: str, reason: str) -> list[Message]:
        # A new object: the one sent may still be referenced by the request (never changed after sending).
        provider = getattr(adapter, "provider", None)
        mark: dict[str, Any] = {"model": model, "provider": provider, "error": error, "at": utc_now().isoformat()}
        if watch.text:
            mark["incomplete_answer"] = True  # the turn is counted once, by the incomplete answer after it
        failed = {**user.extra, FAILED_MARK: mark}
        kept = [user.model_copy(update={"extra": failed}) if message is user else message for message in pending]
        if watch.text:
            kept.append(_incomplete_answer(watch.text, model, provider, reason, adapter))
        await anyio.to_thread.run_sync(
            functools.partial(_commit, app, session.id, model, kept, answered=False, summary=summary)
        )
        return kept

    def summariser() -> tuple[Adapter, str, int]:
        summary_model = os.environ.get(SUMMARY_MODEL_ENV) or model
        if summary_model == model:
            return adapter, model, window
        try:
            chosen = app.resolve_adapter(summary_model)
        except AdapterError as exc:
            raise SummariserUnavailable(f"{SUMMARY_MODEL_ENV}={summary_model!r} cannot summarise older turns: {exc}") from exc
        return chosen, summary_model, app.context_window(summary_model)

    try:
        fitted = await fit_prompt(
            session,
            pending,
            model=model,
            window=window,
            reserve=output_reserve(max_tokens, window),
            estimate=app.estimate_tokens,
            summariser=summariser,
            system_override=system,
        )
        summary = fitted.summary
        messages, missing = fitted.prompt.messages, []
        if any(map(has_attachments, messages)):  # reading blobs: off the event loop
            messages, missing = await anyio.to_thread.run_sync(expand_attachments, messages, blobs)
        warnings += missing
        request = ChatRequest(
            model=model,
            messages=messages,
            system=fitted.prompt.system,
            temperature=temperature,
            max_tokens=max_tokens,
            reasoning_effort=reasoning_effort,  # type: ignore[arg-type]
        )
        reply = scrub_reply(await _call_model(adapter, request, watch, progress), adapter)
        reply, reply_warnings = redact_reply(reply)  # SECRETS (issue 30): a model may echo a secret
        warnings += reply_warnings
    except anyio.get_cancelled_exc_class():  # the client cancelled: save what we have, then stop
        with anyio.CancelScope(shield=True):
            await save_failed("cancelled by the client", "cancelled by the client")
        raise
    except Exception as exc:  # whatever went wrong, the user's message is kept
        # Only anticipated errors are described in the file; a crash's text stays in the log.
        error = str(exc) if isinstance(exc, (AdapterError, PromptTooLarge)) else type(exc).__name__
        reason = exc.reason if isinstance(exc, StreamInterrupted) else error
        await save_failed(error, reason)
        raise ChatFailed(session.id, exc, len(watch.text)) from exc
    answer = _assistant_message(reply, model)
    pending.append(answer)
    switch = await anyio.to_thread.run_sync(
        functools.partial(_commit, app, session.id, model, pending, answered=True, summary=summary)
    )
    if switch:
        warnings.insert(0, switch.warning)
    warnings += plan.warnings
    if summary is not None:
        first, last = summary.covers
        how = {"resummarised": ", then shortened again to fit", "cut": ", then cut to fit"}.get(summary.extra.get("method"), "")
        warnings.append(
            f"the conversation was longer than {model}'s context window: messages {first + 1}-{last + 1} were "
            f"summarised by {summary.model}{how} for this prompt (the full history stays in the session)"
        )
    from utils.gc_tuning import collect_after_turn

    collect_after_turn()  # the turn's HTTP request (the whole conversation) sits in httpx's cycles
    return {"session_id": session.id, "model": model, "reply": reply.text, "warnings": warnings, "usage": result_usage(answer)}


# ------------------------------------------------------------------------------ ask_models

MIN_ASK_MODELS = 2
MAX_ASK_MODELS = 8


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


def _new_sessions(app: App, models: list[str], source: Session | None, group_id: str) -> list[str]:
    """One new session per model in group ``group_id``: empty, or a branch of ``source``."""
    ids: list[str] = []
    for model in models:
        if source is None:
            build = functools.partial(grouped_session, model=model, group_id=group_id)
        else:
            build = functools.partial(branch_of, source, group_id=group_id)
        ids.append(app.store.create_new(build).id)
    return ids


def _answer_error(exc: Exception, model: str, session_id: str) -> str:
    """The ``error`` of one model's answer: the cause, and how to retry that model alone."""
    cause = exc.cause if isinstance(exc, ChatFailed) else exc
    message = _error_message(cause)
    if message is None:
        log.error("ask_models: %s crashed", model, exc_info=cause)
        message = f"internal error while calling the model ({type(cause).__name__}); the server log has the details"
    if isinstance(exc, ChatFailed):
        message += (
            f" — the question was saved in session {session_id!r}; call chat with model={model!r} and "
            f"session_id={session_id!r} to retry this model"
        )
    return message


async def _ask_models(
    app: App,
    prompt: str,
    models: list[str],
    session_id: str | None = None,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    reasoning_effort: str | None = None,
    progress: ProgressSender | None = None,
    *,
    files: list[str] | None = None,
    images: list[str] | None = None,
    allow_secrets: bool = False,
) -> dict[str, Any]:
    """Ask every model in ``models`` the same question at once, each in a session of its own.

    Everything that can be refused is refused before any session is written or any request
    sent: the arguments, each model name (unknown, no key) and each model's reasoning setting,
    the ``files``/``images`` (read and checked once, then shared by every model; too large for
    any one model's window is refused), and a ``session_id`` that does not exist. Then one
    session per model is created (a branch
    of ``session_id`` when given, which is left unchanged; all in one new group) and the turns
    run concurrently through :func:`_chat_unified`. A model whose turn fails gets ``error``
    (its question stays saved in its session); the others still answer. Returns
    ``{group_id, answers: [{model, session_id, reply, warnings, usage, error}]}`` in the order
    of ``models``. ``progress`` gets one rising count for all the answers, with each model's
    own count in the message.
    """
    check_turn_args(prompt, session_id, system, temperature, max_tokens, reasoning_effort)
    names = check_model_list(models)
    adapters = [app.resolve_adapter(name) for name in names]
    for name, adapter in zip(names, adapters):
        reasoning_plan(adapter, name, temperature, max_tokens, reasoning_effort)
    prepared = await prepare_chat_attachments(files, images, adapters, allow_secrets)  # SECRETS (issue 30)
    for name in names:
        check_attachment_budget(app, prepared, name, prompt, system, max_tokens)
    source: Session | None = None
    if session_id is not None:
        session_id = await _migrate_if_legacy(app, session_id)
        source = (await anyio.to_thread.run_sync(app.store.snapshot, session_id)).session
    group_id = new_group_id()
    session_ids = await anyio.to_thread.run_sync(_new_sessions, app, names, source, group_id)
    answers: list[dict[str, Any]] = [{} for _ in names]
    watches = [AnswerWatch() for _ in names]

    async def ask(index: int) -> None:
        model, branch = names[index], session_ids[index]
        error: str | None = None
        try:
            result = await _chat_unified(app, prompt, model, branch, system, temperature, max_tokens, reasoning_effort,
                                         watch=watches[index], attachments=prepared, allow_secrets=allow_secrets)
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
    return {"group_id": group_id, "answers": answers}


# ------------------------------------------------------------------------------ kimi_chat


def kimi_default_model() -> str:
    return os.environ.get(KIMI_MODEL_ENV) or DEFAULT_KIMI_MODEL


def _is_kimi_model(model: str | None) -> bool:
    return bool(model) and model.lower().startswith(("kimi-", "moonshot-"))  # type: ignore[union-attr]


async def _chat_legacy(app: App, prompt: str, session_id: str | None) -> dict[str, Any]:
    """``kimi_chat`` as it was before the unified store: ``.kimi_sessions/<id>.json``."""
    validate_chat_args(prompt, None, None)
    legacy = LegacyKimiStore(app.legacy_root)
    session_id = validate_session_id(session_id) if session_id is not None else new_session_id()
    existing = legacy.load(session_id)
    prompt, _, warnings = redact_request_text(prompt, None, False, context="kimi_chat")  # SECRETS (issue 30)
    model = existing.model if existing is not None and _is_kimi_model(existing.model) else kimi_default_model()
    adapter = app.resolve_adapter(model)
    history = existing.to_unified_messages() if existing is not None else []
    system = effective_system(history)
    turns = [message for message in history if message.role != "system"]
    turns.append(Message(role="user", content=prompt))
    request = ChatRequest(model=model, messages=repair_tool_pairs(turns), system=system)
    try:
        reply, reply_warnings = redact_reply(scrub_reply(await adapter.complete(request), adapter))  # SECRETS (issue 30)
        warnings += reply_warnings
    except Exception as exc:
        await anyio.to_thread.run_sync(
            legacy.append_exchange, session_id, model, [{"role": "user", "content": prompt}]
        )
        raise ChatFailed(session_id, exc) from exc
    answer: dict[str, Any] = {"role": "assistant", "content": reply.text}
    await anyio.to_thread.run_sync(
        legacy.append_exchange, session_id, model, [{"role": "user", "content": prompt}, answer]
    )
    usage = result_usage(_assistant_message(reply, model))
    return {"session_id": session_id, "model": model, "reply": reply.text, "warnings": warnings, "usage": usage}


async def _migrate_if_legacy(app: App, session_id: str) -> str:
    """Migrate ``session_id`` if it exists only in the legacy folder; return the unified id.

    The legacy file is only read. With ``LLM_UNIFIED`` off nothing is migrated (the legacy
    ``kimi_chat`` keeps writing that file).
    """
    if not llm_unified_enabled() or app.store.exists(session_id) or not LegacyKimiStore(app.legacy_root).exists(session_id):
        return session_id
    if app.migrate_legacy is None:
        raise StoreError("legacy migration is not available in this server build")
    migrated = await anyio.to_thread.run_sync(app.migrate_legacy, app.legacy_root, app.store, session_id)
    if migrated is None:  # the legacy file vanished meanwhile: start a new session
        return session_id
    log.info("migrated legacy session %s into the unified store", migrated.id)
    return migrated.id


async def _kimi_unified(app: App, prompt: str, session_id: str | None) -> dict[str, Any]:
    """``kimi_chat`` through the unified core; a legacy-only session is migrated first.

    The session's own Kimi model is kept; otherwise the default Kimi model is used.
    """
    validate_chat_args(prompt, None, None)
    model = kimi_default_model()
    if session_id is not None:
        validate_session_id(session_id)
        app.resolve_adapter(model)  # fail before migrating if the key is missing
        session_id = await _migrate_if_legacy(app, session_id)
        if app.store.exists(session_id):
            current = app.store.snapshot(session_id).session.current_model
            if _is_kimi_model(current):
                model = current  # type: ignore[assignment]
    return await _chat_unified(app, prompt, model, session_id)


# ------------------------------------------------------------------------------ read tools


def _parse_time(value: str | None, name: str, *, end_of_day: bool = False) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_user_time(value, end_of_day=end_of_day)
    except InvalidDate as exc:
        raise InvalidToolArgument(f"{name}={exc}") from exc


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidToolArgument(f"limit {limit} is out of range: use 1 to {MAX_PAGE}")
    if offset < 0:
        raise InvalidToolArgument(f"offset {offset} is negative: use 0 or more")


def _as_dict(item: Any) -> dict[str, Any]:
    if hasattr(item, "model_dump"):
        return item.model_dump(mode="json")
    if hasattr(item, "__dataclass_fields__"):
        from dataclasses import asdict

        data = asdict(item)
    else:
        data = dict(item)
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in data.items()}


def session_page(session: Session, offset: int | None, limit: int, max_chars: int) -> dict[str, Any]:
    """A session's metadata and one page of its messages (the newest page if ``offset`` is None)."""
    total = len(session.messages)
    start = max(total - limit, 0) if offset is None else min(offset, total)
    page = session.messages[start : start + limit]
    messages = []
    for index, message in enumerate(page, start=start):
        data = message.model_dump(mode="json", exclude_none=True)
        data["index"] = index
        content = data.get("content")
        if isinstance(content, str) and len(content) > max_chars:
            data["content"] = content[:max_chars] + f" [...truncated: {len(content):,} characters in total]"
        messages.append(data)
    head = session.model_dump(mode="json", exclude={"messages"})
    cost, unpriced = total_cost(session.messages)
    return {
        "session": head,
        "cost_usd": cost,
        "unpriced_answers": unpriced,
        "messages": messages,
        "offset": start,
        "returned": len(messages),
        "total_messages": total,
        "more_before": start > 0,
        "more_after": start + len(messages) < total,
    }


# ------------------------------------------------------------------------------ MCP tools

INSTRUCTIONS = (
    "Consult other LLMs (OpenAI, Anthropic, Gemini, Kimi, DeepSeek, OpenRouter, local OpenAI-compatible "
    "models) through one session store that keeps every conversation, and search past conversations. "
    "Start with `chat` (pass the returned session_id to continue), `ask_models` to put one question to "
    "several models at once, `search_sessions` to find earlier discussions, `list_models` to see which "
    "models are configured."
)


@asynccontextmanager
async def serving(server: MCPServer) -> AsyncIterator[dict[str, Any]]:
    """What lives as long as the running server: the pooled provider connections (closed on stop)."""
    from adapters.http_pool import pooled_clients

    async with pooled_clients():
        yield {}


SESSION_RESOURCE_TEMPLATE = "session://{session_id}"
#: A ``session://`` resource longer than this shows the newest messages that fit, with a note.
SESSION_RESOURCE_MAX_CHARS = 200_000
RECENT_RESOURCES = 50


class SessionsServer(MCPServer):
    """``MCPServer`` whose ``resources/list`` lists the most recently updated sessions.

    The SDK lists only resources registered one by one; sessions come and go, so the list is
    built on each request from ``app.recent_sessions`` (the index), else from the store.
    """

    def __init__(self, app: App, **settings: Any) -> None:
        super().__init__(**settings)
        self.app = app

    async def list_resources(self) -> list[MCPResource]:
        listed = await super().list_resources()
        return listed + await anyio.to_thread.run_sync(session_resources, self.app, RECENT_RESOURCES)


def session_resources(app: App, limit: int) -> list[MCPResource]:
    """``resources/list`` entries for the ``limit`` most recently updated sessions."""
    if app.recent_sessions is not None:
        rows = [(r.session_id, r.title, r.updated_at, r.models_used, r.message_count) for r in app.recent_sessions(limit)]
    else:
        rows = [(s.id, s.title, s.updated_at, s.models_used, s.message_count) for s in app.store.list().sessions[:limit]]
    return [
        MCPResource(
            uri=SESSION_RESOURCE_TEMPLATE.format(session_id=session_id),
            name=session_id,
            title=title or f"Session {session_id}",
            description=f"{count} messages with {', '.join(models) or 'no model yet'}; updated {updated:%Y-%m-%d %H:%M} UTC",
            mime_type="text/markdown",
        )
        for session_id, title, updated, models, count in rows
    ]


def read_session_resource(app: App, session_id: str) -> str:
    """The ``session://{session_id}`` resource: the session as Markdown (``store.markdown``)."""
    from store.markdown import render_session

    try:
        session = app.store.snapshot(validate_session_id(session_id)).session
    except (InvalidSessionId, SessionNotFound) as exc:
        raise ResourceNotFoundError(str(exc)) from exc
    except Exception as exc:
        message = _error_message(exc)
        if message is None:
            raise
        raise ResourceError(message) from exc
    return render_session(session, max_chars=SESSION_RESOURCE_MAX_CHARS)


def progress_sender(ctx: Context | None) -> ProgressSender | None:
    """How to send ``notifications/progress`` for this request, or None when it carries no progress token."""
    if ctx is None:
        return None
    try:
        meta = ctx.request_context.meta or {}
    except ValueError:  # no request (a direct call outside MCP)
        return None
    if meta.get("progress_token") is None:
        return None

    async def send(progress: float, message: str) -> None:
        await ctx.report_progress(progress, None, message)

    return send


def build_server(app: App, auth: HttpAuth | None = None) -> MCPServer:
    """The MCP server with every tool and the ``session://`` resources bound to ``app``.

    ``auth`` (over http) makes every request to ``/mcp`` carry the bearer token.
    """
    server = SessionsServer(
        app,
        name="llm-mcp-server",
        instructions=INSTRUCTIONS,
        lifespan=serving,
        token_verifier=auth.token_verifier if auth else None,
        auth=auth.settings if auth else None,
    )

    @server.resource(
        SESSION_RESOURCE_TEMPLATE,
        name="session",
        title="A stored conversation",
        description=(
            "A stored conversation as Markdown: title, models, model switches, then every message with "
            "its role, model and time (attachments as references). A very long session shows its newest "
            "messages with a note. resources/list lists the 50 most recently updated sessions."
        ),
        mime_type="text/markdown",
    )
    async def session_resource(session_id: str) -> str:
        return await anyio.to_thread.run_sync(read_session_resource, app, session_id)

    def tool(fn: F) -> F:
        # The SDK sends ``__doc__`` as it is, indentation included; a model reads it on every request.
        return server.tool(description=inspect.getdoc(fn))(tool_errors(fn))

    @tool
    async def chat(
        prompt: str,
        model: str,
        session_id: str | None = None,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        reasoning_effort: Literal["low", "medium", "high"] | None = None,
        files: list[str] | None = None,
        images: list[str] | None = None,
        allow_secrets: bool = False,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Send a message to any LLM and get its reply; the exchange is stored in a session.

        Use it to ask another model for a second opinion, a review, or a task. Omit
        `session_id` to start a new conversation; pass the `session_id` returned earlier to
        continue it (the model sees the earlier turns). You may pass a different `model` in an
        existing session: the switch is allowed, recorded, and a warning is returned. `system`
        sets the system prompt (it stays for later turns until changed). `reasoning_effort`
        (low/medium/high) asks a reasoning model to think less or more (OpenAI o-series/gpt-5,
        Claude extended thinking, Gemini 2.5/3, DeepSeek); a model without that control answers
        normally and `warnings` says the setting was not applied. Returns
        {session_id, model, reply, warnings, usage}. `usage` has input_tokens, output_tokens
        and cost_usd (the price in USD from genai-prices, null when the model's price is unknown).
        With a progress token, progress is sent while the answer streams in.

        `files`: absolute paths of text files or directories (expanded, honouring .gitignore)
        to show the model with line numbers, instead of pasting them into `prompt`; only under
        the server's file roots; secret-looking and binary files are refused and then nothing
        is sent. A file already sent unchanged earlier in the session is not sent again.
        `images`: absolute paths of png/jpeg/gif/webp images, or data: URLs.
        Secrets (API keys, tokens, private keys, passwords in URLs...) found in `prompt`,
        `system`, the files and the reply are replaced by [REDACTED <kind>] before anything is
        sent or stored; `warnings` names where. `allow_secrets=true` sends them as they are:
        only when the user explicitly asks for it.
        """
        return await _chat_unified(app, prompt, model, session_id, system, temperature, max_tokens, reasoning_effort,
                                   progress_sender(ctx), files=files, images=images, allow_secrets=allow_secrets)

    @tool
    async def ask_models(
        prompt: str,
        models: list[str],
        session_id: str | None = None,
        system: str | None = None,
        files: list[str] | None = None,
        images: list[str] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        reasoning_effort: Literal["low", "medium", "high"] | None = None,
        allow_secrets: bool = False,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Ask 2 to 8 different LLMs the same question at once and get every answer side by side.

        Use it for a second (or third) opinion, to compare how models answer one question, or
        to check an answer you doubt: e.g. models=["gpt-5", "claude-sonnet-4-5", "gemini-2.5-pro"].
        For a conversation with one model use `chat`. The models are asked concurrently, so it
        takes about as long as the slowest one. Each answer is stored in a session of its own
        (continue any of them with `chat` and its session_id); the sessions of one call share a
        `group_id`. Pass `session_id` to ask about an existing conversation: every model gets a
        copy of it (a branch, with `forked_from` recorded) and the original stays unchanged.
        `system`, `files`, `images`, `temperature`, `max_tokens` and `reasoning_effort` apply
        to every model, as in `chat` (the files are read once and every model sees the same
        text). Unknown models or bad arguments are refused before anything is sent; a model
        that fails gets an `error` and the others still answer. Returns {group_id, answers:
        [{model, session_id, reply, warnings, usage, error}]} in the order of `models`. With a
        progress token, progress is sent while the answers stream in. Secrets are redacted
        and `allow_secrets` works as in `chat`.
        """
        return await _ask_models(app, prompt, models, session_id, system, temperature, max_tokens, reasoning_effort,
                                 progress_sender(ctx), files=files, images=images, allow_secrets=allow_secrets)

    @tool
    async def kimi_chat(prompt: str, session_id: str | None = None) -> dict[str, Any]:
        """Chat with Kimi (Moonshot); kept for clients of the older Kimi-only server.

        Same as `chat` with the Kimi model ($KIMI_MODEL, default kimi-k2-0711-preview). Pass
        `session_id` to continue a conversation, including one from the old `.kimi_sessions/`
        folder (it is imported on first use). Prefer `chat` for new work.
        """
        if llm_unified_enabled():
            return await _kimi_unified(app, prompt, session_id)
        return await _chat_legacy(app, prompt, session_id)

    @tool
    def list_sessions(model: str | None = None, tag: str | None = None, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """List stored conversations, most recently updated first.

        Use it to find a session_id to continue or inspect. Filter by a `model` the session used
        or by `tag`. Each entry has id, title, times, current_model, models_used, tags,
        message_count, cost_usd (the answers' summed price in USD, null if none is known) and
        unpriced_answers. `total` is the number of matching sessions; page with `offset`/`limit`.
        """
        _check_page(limit, offset)
        listing = app.store.list(model=model, tag=tag)
        result = listing.model_dump(mode="json")
        result["total"] = len(listing.sessions)
        result["sessions"] = result["sessions"][offset : offset + limit]
        return result

    @tool
    def get_session(
        session_id: str, offset: int | None = None, limit: int = 50, max_chars_per_message: int = 20_000
    ) -> dict[str, Any]:
        """Read one stored conversation: its metadata, model switches, summaries and messages.

        Without `offset` it returns the newest `limit` messages; pass `offset` (0 = first message)
        to page through older ones. Very long messages are cut at `max_chars_per_message`.
        `cost_usd` is the whole session's summed price in USD (null if no answer has a known
        price; `unpriced_answers` counts the answers without one).
        """
        _check_page(limit, offset or 0)
        if max_chars_per_message < 1:
            raise InvalidToolArgument("max_chars_per_message must be at least 1")
        return session_page(app.store.snapshot(validate_session_id(session_id)).session, offset, limit, max_chars_per_message)

    @tool
    def search_sessions(
        query: str,
        model: str | None = None,
        role: str | None = None,
        session_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> dict[str, Any]:
        """Full-text search over every stored conversation (any language, code identifiers too).

        Use it to find what was discussed before, with which model, and when. Optional filters:
        `model`, `role` (user/assistant/system/tool), `session_id`, `since`/`until` (ISO dates).
        Returns {hits: [{session_id, message_id, model, role, created_at, snippet, score}]},
        best first; open a hit with get_session. For very common terms (over 20,000 matching
        messages after the filters) the hits are the best matches among the most recent 20,000.
        """
        if not isinstance(query, str) or not query.strip():
            raise InvalidToolArgument("query is empty: pass the words or phrase to search for")
        _check_page(limit, offset)
        if role is not None and role not in ("system", "user", "assistant", "tool"):
            raise InvalidToolArgument(f"role {role!r} is not valid: use user, assistant, system or tool")
        if session_id is not None:
            validate_session_id(session_id)
        if app.search is None:
            raise StoreError("search is not available: the index is not configured in this server")
        after, before = _parse_time(since, "since"), _parse_time(until, "until", end_of_day=True)
        try:
            hits = app.search(
                query, model=model, role=role, session_id=session_id, since=after, until=before, limit=limit, offset=offset
            )
        except ValidationError:
            raise  # a bug, not the caller's arguments
        except ValueError as exc:  # the index's documented refusals: an unusable query, since after until
            raise InvalidToolArgument(str(exc)) from exc
        return {"hits": [_as_dict(hit) for hit in hits]}

    @tool
    def model_switch_history(session_id: str | None = None, model: str | None = None) -> dict[str, Any]:
        """List the recorded model switches (from which model to which, when, and the warning).

        Filter by `session_id` or by a `model` on either side of the switch. Use it to see
        which model wrote which part of a conversation.
        """
        if session_id is not None:
            validate_session_id(session_id)
        if app.switch_history is None:
            raise StoreError("model switch history is not available: the index is not configured in this server")
        return {"switches": [_as_dict(item) for item in app.switch_history(session_id=session_id, model=model)]}

    @tool
    def list_models() -> dict[str, Any]:
        """List the model families and aliases this server can reach, and whether each is configured.

        Use it before `chat` to pick a model name. Shows the environment variable each provider
        needs (never its value).
        """
        if app.list_models is None:
            return {"models": []}
        return {"models": [_as_dict(item) for item in app.list_models()]}

    return server


# ------------------------------------------------------------------------------ process


SERVER_EPILOG = """\
environment:
  LLM_SESSIONS_DIR       session root when --root is not given (default ./.llm_sessions)
  KIMI_SESSIONS_DIR      legacy Kimi folder for kimi_chat with LLM_UNIFIED=0 (default ./.kimi_sessions)
  LLM_UNIFIED            1 (default) unified store; 0 keeps the legacy kimi_chat behaviour
  LLM_MCP_CONFIG         TOML/JSON file with custom endpoints and model aliases
  LLM_MCP_ALLOWED_HOSTS  extra Host header values accepted over http (comma-separated, e.g. myhost:8765)
  LLM_SUMMARY_MODEL      model that writes compression summaries (default: the session's model)
  LLM_MCP_FILE_ROOTS     folders chat may read files/images from (os.pathsep-separated; default: the working directory)
  LLM_LOG_LEVEL          DEBUG, INFO (default), WARNING, ERROR; logs go to stderr
  LLM_SEARCH_RANK_WINDOW a search with more matches than this ranks its newest this-many only
                         (default 20000; smaller is faster for very common terms: docs/search-index.md)
  LLM_MCP_TOKEN          over http, every request to /mcp needs 'Authorization: Bearer <token>'
                         (else 401); required for a --host that is not a loopback address
  provider keys and base URLs: see the README, section "Providers"

over http the MCP endpoint is /mcp; DNS-rebinding protection is always on, so only Host
headers naming this server (loopback names, --host, LLM_MCP_ALLOWED_HOSTS) are accepted.
A --host that is not a loopback address refuses to start (exit 2) unless LLM_MCP_TOKEN is
set, or --no-auth says that a reverse proxy in front of the server authenticates.
Sharing a server or the session folder with a team: docs/team.md.
"""


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range: use 1 to 65535")
    return port


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="server.py",
        description="Start the llm-mcp-server MCP server (stdio by default, as MCP clients such as Claude Code expect).",
        epilog=SERVER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="MCP transport (default: stdio)")
    parser.add_argument("--host", default="127.0.0.1", help="address for --transport http (default: 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8765, help="port for --transport http (default: 8765); the endpoint is /mcp")
    parser.add_argument("--root", default=None, help="session root (default: $LLM_SESSIONS_DIR or ./.llm_sessions)")
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help=f"serve http without requiring ${TOKEN_ENV}, even on a non-loopback --host "
        "(only behind a reverse proxy that authenticates)",
    )
    return parser.parse_args(argv)


_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
ALLOWED_HOSTS_ENV = "LLM_MCP_ALLOWED_HOSTS"


def http_security(host: str) -> TransportSecuritySettings:
    """DNS-rebinding protection for every --host (the SDK turns it on only for loopback hosts).

    Accepted Host headers: the loopback names, ``--host`` itself unless it is a wildcard
    address, and whatever ``$LLM_MCP_ALLOWED_HOSTS`` lists (``name`` or ``name:port``).
    """
    names = list(_LOOPBACK_HOSTS)
    if host not in ("0.0.0.0", "::", ""):
        names.append(f"[{host}]" if ":" in host else host)
    names += [item.strip() for item in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if item.strip()]
    allowed_hosts: list[str] = []
    allowed_origins: list[str] = []
    for name in names:
        has_port = re.search(r":\d+$", name) is not None
        patterns = [name] if has_port else [name, f"{name}:*"]
        allowed_hosts += patterns
        allowed_origins += [f"{scheme}://{pattern}" for pattern in patterns for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(dict.fromkeys(allowed_hosts)),
        allowed_origins=list(dict.fromkeys(allowed_origins)),
    )


@contextmanager
def background_indexing(root: Path, indexer: Any = None) -> Iterator[Any]:
    """Run the index watcher (yielded) while the server runs (started on entry, stopped on exit).

    ``indexer``: the app's ``Indexer``, shared so the process has one index writer (one write
    connection, one WAL checkpointer); it is closed here on exit, after the watcher stopped.
    """
    from index import IndexWatcher

    watcher = IndexWatcher(root, indexer=indexer)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop()
        if indexer is not None:
            indexer.close()


def _stop_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def configure_logging() -> None:
    """Log to stderr only (stdout is the MCP channel over stdio), with secrets redacted."""
    from adapters.redact import RedactingFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logging.basicConfig(level=os.environ.get("LLM_LOG_LEVEL", "INFO").upper(), handlers=[handler], force=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    auth: HttpAuth | None = None
    if args.transport == "http":
        try:
            auth = http_auth(args.host, args.port, no_auth=args.no_auth)
        except AuthConfigError as exc:
            print(f"server.py: {exc}", file=sys.stderr)
            return 2
    root = resolve_root(args.root)
    from index.query import configured_rank_window

    try:
        configured_rank_window()
    except ValueError as exc:
        print(f"server.py: {exc}", file=sys.stderr)
        return 2
    try:
        app = default_app(root)
    except OSError as exc:
        print(f"server.py: cannot use session root {root}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    removed = app.store.clean_stale_temp_files()
    if removed:
        log.info("removed %d stale temp file(s) left by crashed writers", len(removed))
    server = build_server(app, auth)
    from adapters.pricing import load_prices
    from utils.gc_tuning import tune_for_serving

    load_prices()  # before the freeze: the price table is start-up data, not the first turn's

    tune_for_serving()  # start-up's objects are never walked by the collector again (p99 of a turn)
    # SIGTERM (service managers, test harnesses) stops the server like Ctrl-C: the watcher is
    # stopped and the process exits 0.
    signal.signal(signal.SIGTERM, _stop_on_signal)
    try:
        with background_indexing(root, app.indexer):
            if args.transport == "http":
                log.info(
                    "serving MCP over streamable HTTP at http://%s:%d/mcp (%s)", args.host, args.port,
                    f"bearer token from ${TOKEN_ENV} required" if auth else "no authentication",
                )
                if auth is None and args.no_auth:
                    log.warning(
                        "--no-auth: NO AUTHENTICATION on http://%s:%d/mcp — anyone who can reach it reads every "
                        "session and spends every configured API key; use it only behind a reverse proxy that "
                        "authenticates%s", args.host, args.port,
                        f" (${TOKEN_ENV} is set but ignored)" if os.environ.get(TOKEN_ENV) else "",
                    )
                server.run(
                    "streamable-http",
                    host=args.host,
                    port=args.port,
                    streamable_http_path="/mcp",
                    transport_security=http_security(args.host),
                )
            else:
                server.run("stdio")
    except KeyboardInterrupt:
        pass
    log.info("server stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
