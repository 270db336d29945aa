"""One chat turn, the one path every chat tool takes: ``chat``, each model of ``ask_models``
and ``kimi_chat`` with the unified store.

The route: check the options -> resolve the model's adapter -> read the attachments -> load or
create the session -> fit the prompt to the window (compression) -> send -> store the exchange
in one atomic write -> hand the store's write receipt to the index.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from typing import Any, TYPE_CHECKING

import anyio

from adapters.base import Adapter, ChatReply
from adapters.errors import AdapterError
from adapters.redact import scrub_reply
from adapters.streaming import StreamInterrupted
from chat.app import App
from chat.compression import fit_prompt
from chat.errors import ChatFailed, PromptTooLarge, SummariserUnavailable
from chat.legacy_migration import migrate_if_legacy
from chat.options import TurnOptions, check_model_name, check_prompt, check_session_id
from chat.progress import AnswerWatch, ProgressSender
from chat.prompt import FAILED_MARK, effective_system, output_reserve
from chat.answer import call_model, incomplete_answer, stored_answer
from chat.turn_attachments import check_attachment_budget, prepare_attachments_for
from store import Message, ModelSwitch, Session, SessionExists, SessionIdClash, SessionNotFound, SessionQuarantined, Summary, Usage, utc_now
from store.blobs import BlobStore
from store.near_match import best_near_match, near_match_warning
from store.titles import title_from_prompt

if TYPE_CHECKING:
    from chat.attachments import PreparedAttachments

log = logging.getLogger("llm_mcp_server")

SUMMARY_MODEL_ENV = "LLM_SUMMARY_MODEL"


@dataclass
class TurnResult:
    """What a turn answers; ``as_dict`` is the tool result ``{session_id, model, reply, warnings, usage}``."""

    session_id: str
    model: str
    reply: str
    warnings: list[str]
    usage: dict[str, Any]
    created: bool = False
    title: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        result = {"session_id": self.session_id, "model": self.model, "reply": self.reply,
                  "warnings": self.warnings, "usage": self.usage}
        if self.created:
            result["created"] = True
        return result


def result_usage(message: Message) -> dict[str, Any]:
    """A tool result's ``usage``: token counts and ``cost_usd`` (each None when not known)."""
    return (message.usage or Usage()).model_dump(exclude={"extra"})


@dataclass
class _Turn:
    """The state of one turn between its steps."""

    app: App
    adapter: Adapter
    model: str
    options: TurnOptions
    session: Session
    pending: list[Message]
    user: Message
    watch: AnswerWatch
    summary: Summary | None = None
    notes: list[str] = field(default_factory=list)  # blobs that could not be read

    def commit(self, messages: list[Message], *, answered: bool) -> ModelSwitch | None:
        """Store the exchange in one atomic write, then index it (read-your-writes)."""
        receipt = self.app.store.record_exchange(
            self.session.id, messages, answered_by=self.model if answered else None, summary=self.summary
        )
        self.app.indexed(receipt)
        return receipt.result

    async def save_failed(self, error: str, reason: str) -> None:
        """Keep the user's message (marked failed) and whatever part of the answer arrived."""
        provider = getattr(self.adapter, "provider", None)
        mark: dict[str, Any] = {"model": self.model, "provider": provider, "error": error, "at": utc_now().isoformat()}
        if self.watch.text:
            mark["incomplete_answer"] = True  # the turn is counted once, by the incomplete answer after it
        # A new object: the one sent may still be referenced by the request (never changed after sending).
        failed = self.user.model_copy(update={"extra": {**self.user.extra, FAILED_MARK: mark}})
        kept = [failed if message is self.user else message for message in self.pending]
        if self.watch.text:
            kept.append(incomplete_answer(self.watch.text, self.model, provider, reason, self.adapter))
        await anyio.to_thread.run_sync(functools.partial(self.commit, kept, answered=False))

    def summariser(self) -> tuple[Adapter, str, int]:
        summary_model = os.environ.get(SUMMARY_MODEL_ENV) or self.model
        if summary_model == self.model:
            return self.adapter, self.model, self.app.context_window(self.model)
        try:
            chosen = self.app.resolve_adapter(summary_model)
        except AdapterError as exc:
            raise SummariserUnavailable(f"{SUMMARY_MODEL_ENV}={summary_model!r} cannot summarise older turns: {exc}") from exc
        return chosen, summary_model, self.app.context_window(summary_model)

    async def ask(self, progress: ProgressSender | None) -> ChatReply:
        """Fit the conversation to the window, send it, and return the (scrubbed) reply."""
        window = self.app.context_window(self.model)
        fitted = await fit_prompt(
            self.session,
            self.pending,
            model=self.model,
            window=window,
            reserve=output_reserve(self.options.max_tokens, window),
            estimate=self.app.estimate_tokens,
            summariser=self.summariser,
            system_override=self.options.system,
        )
        self.summary = fitted.summary
        messages, missing = fitted.prompt.messages, []
        from chat.attachments import expand_attachments, has_attachments  # not needed to start a server

        if any(map(has_attachments, messages)):  # reading blobs: off the event loop
            blobs = BlobStore(self.app.store.root)
            messages, missing = await anyio.to_thread.run_sync(expand_attachments, messages, blobs)
        self.notes.extend(missing)
        request = self.options.request(self.model, messages, fitted.prompt.system)
        from chat.secrets import redact_reply  # loaded with the first turn, not at start-up

        reply, echoed = redact_reply(scrub_reply(await call_model(self.adapter, request, self.watch, progress), self.adapter))
        self.notes.extend(echoed)  # a model may echo a secret: never stored nor returned
        return reply


def _load_or_create(app: App, session_id: str | None, model: str, title: str | None) -> tuple[Session, bool]:
    """The session to build the prompt from (read-only: it may be shared with the store's cache),
    and whether this call created it (``SessionIdClash`` if the id differs only in case from an existing one)."""
    if session_id is None:
        return app.store.create(model=model, title=title), True
    try:
        return app.store.snapshot(session_id).session, False
    except SessionQuarantined:
        raise  # a new empty session under that id would hide the quarantined one
    except SessionNotFound:
        try:
            return app.store.create(session_id, model=model, title=title), True
        except SessionIdClash:  # an id differing only in case exists: never a second session
            raise
        except SessionExists:  # created concurrently by another call
            return app.store.snapshot(session_id).session, False


def _near_match_note(app: App, session_id: str) -> str | None:
    """A warning when a new session's id is a near match of an existing one (a likely typo)."""
    match = best_near_match(app.store, session_id)
    return near_match_warning(session_id, match) if match is not None else None


def _summary_warning(summary: Summary, model: str) -> str:
    first, last = summary.covers
    how = {"resummarised": ", then shortened again to fit", "cut": ", then cut to fit"}.get(summary.extra.get("method"), "")
    return (
        f"the conversation was longer than {model}'s context window: messages {first + 1}-{last + 1} were "
        f"summarised by {summary.model}{how} for this prompt (the full history stays in the session)"
    )


async def run_turn(
    app: App,
    prompt: str,
    model: str,
    session_id: str | None,
    options: TurnOptions,
    *,
    progress: ProgressSender | None = None,
    watch: AnswerWatch | None = None,
    attachments: PreparedAttachments | None = None,
) -> TurnResult:
    """Ask ``model`` one question in ``session_id`` (created when it does not exist) and store the exchange.

    Everything that can be refused is refused before anything is written or sent: the prompt,
    the model (unknown, no key), a reasoning setting the provider cannot take, attachments
    refused or too large for the model's window. ``attachments`` are passed prepared by a
    caller asking several models (read once); otherwise ``options.files``/``images`` are read here.
    A ``session_id`` that exists only in the legacy ``.kimi_sessions/`` folder is migrated first.
    If the provider or the compression fails, ``ChatFailed`` is raised with the user's message
    saved; when the call stops mid-answer (a broken stream, or the caller cancels: the
    cancellation goes on after the save), the part that arrived is saved marked incomplete.
    ``progress`` is sent while the answer streams in, heard by ``watch``.
    """
    check_prompt(prompt)
    check_session_id(session_id)
    check_model_name(model)
    adapter = app.resolve_adapter(model)
    # An alias is recorded as the model it stands for (price, switches, search by model), the alias beside it.
    requested, model = model, getattr(adapter, "called", None) or model
    plan = plan_for_options(adapter, model, options)
    # Secrets are redacted before the request is built and before anything is stored.
    from chat.secrets import redact_request_text, redact_text  # the detector loads with the first turn

    prompt, system, secret_notes = redact_request_text(prompt, options.system, options.allow_secrets, context=f"chat {model}")
    title = redact_text(options.title, "title")[0] if options.title else title_from_prompt(prompt)
    options = options.model_copy(update={"system": system})
    prepared = attachments if attachments is not None else await prepare_attachments_for(options, [adapter])
    check_attachment_budget(app, prepared, model, prompt, options)
    if prepared:  # before the session that references them, so a reader never meets a dangling blob
        await anyio.to_thread.run_sync(prepared.store, BlobStore(app.store.root))
    if session_id is not None:
        session_id = await migrate_if_legacy(app, session_id)
    session, created = await anyio.to_thread.run_sync(_load_or_create, app, session_id, model, title)
    near = await anyio.to_thread.run_sync(_near_match_note, app, session.id) if created and session_id else None
    pending: list[Message] = []
    if options.system is not None and options.system != effective_system(session.messages):
        pending.append(Message(role="system", content=options.system))
    user = Message(role="user", content=prepared.content(prompt) if prepared else prompt)
    pending.append(user)
    turn = _Turn(app, adapter, model, options, session, pending, user, watch or AnswerWatch())
    try:
        reply = await turn.ask(progress)
    except anyio.get_cancelled_exc_class():  # the client cancelled: save what we have, then stop
        with anyio.CancelScope(shield=True):
            await turn.save_failed("cancelled by the client", "cancelled by the client")
        raise
    except Exception as exc:  # whatever went wrong, the user's message is kept
        # Only anticipated errors are described in the file; a crash's text stays in the log.
        error = str(exc) if isinstance(exc, (AdapterError, PromptTooLarge)) else type(exc).__name__
        reason = exc.reason if isinstance(exc, StreamInterrupted) else error
        await turn.save_failed(error, reason)
        raise ChatFailed(session.id, exc, len(turn.watch.text)) from exc
    answer = stored_answer(reply, model)
    if requested != model:
        answer.extra["alias"] = requested
    switch = await anyio.to_thread.run_sync(functools.partial(turn.commit, [*pending, answer], answered=True))
    warnings = [*secret_notes, *([switch.warning] if switch else [])]
    if near:
        warnings.append(near)
    warnings += [*prepared.notes, *turn.notes, *plan.warnings, *getattr(adapter, "notes", ())]
    if turn.summary is not None:
        warnings.append(_summary_warning(turn.summary, model))
    from utils.gc_tuning import collect_after_turn

    collect_after_turn()  # the turn's HTTP request (the whole conversation) sits in httpx's cycles
    return TurnResult(session.id, model, reply.text, warnings, result_usage(answer), created=created, title=session.title,
                      extra={"message_id": answer.id})


def plan_for_options(adapter: Adapter, model: str, options: TurnOptions) -> Any:
    """How ``adapter`` will send the reasoning setting; ``InvalidToolArgument`` if it cannot (nothing sent yet).

    The plan depends on the settings only, not on the conversation.
    """
    from adapters.reasoning import plan_for

    return plan_for(adapter, options.request(model, []))
