"""llm-mcp-server: the MCP face of the session store and the chat core.

Run ``python server.py --help`` for options. stdio is the default transport (stdout is the MCP
channel: logs go to stderr only). This module holds the tool signatures and their descriptions,
the ``session://`` resources, the one mapping of errors to tool errors (``tool_errors``), the
transport and the command line. A chat turn is run by ``chat.run_turn`` (docs/architecture.md).
"""

from __future__ import annotations

import argparse
import functools
import inspect
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

if __name__ == "__main__":  # run as `python server.py` from anywhere (even with -P / PYTHONSAFEPATH)
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import Resource as MCPResource

from chat import App, TurnOptions, default_app, run_turn, user_message
from chat import ask_models as run_ask_models
from chat import kimi_chat as kimi_chat_turn
from chat.errors import InvalidToolArgument
from chat.progress import ProgressSender
from index.models import InvalidQuery
from store import InvalidSessionId, SessionNotFound, StoreError, resolve_root, validate_session_id
from store.pages import session_page
from utils.dates import InvalidDate, parse_user_time
from utils.http_auth import TOKEN_ENV, AuthConfigError, HttpAuth, http_auth, http_security

log = logging.getLogger("llm_mcp_server")

MAX_PAGE = 500
F = TypeVar("F", bound=Callable[..., Any])


# ------------------------------------------------------------------------------ errors


def _translate(exc: Exception, tool: str) -> ToolError:
    message = str(exc) if isinstance(exc, ToolError) else user_message(exc)
    if message is None:
        log.error("tool %s crashed", tool, exc_info=exc)
        return ToolError(f"internal error in {tool} ({type(exc).__name__}); the server log has the details")
    log.info("tool %s failed: %s", tool, message)
    return ToolError(message)


def tool_errors(fn: F) -> F:
    """The one place where errors become tool errors (the MCP connection stays up).

    Anticipated errors (``UserFacingError`` and the machine's state: ``chat.errors.user_message``)
    are shown with their message; anything else is a crash, logged with its traceback.
    """
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
    if app.reader is not None:
        rows = [(r.session_id, r.title, r.updated_at, r.models_used, r.message_count) for r in app.reader.recent_sessions(limit)]
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
        message = user_message(exc)
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


class SessionTools:
    """The MCP tools, bound to one ``App``. Each method's docstring is the tool's description
    (a model reads it on every request); ``build_server`` registers the methods in ``TOOLS``."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def chat(
        self,
        prompt: str,
        model: str,
        session_id: str | None = None,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        reasoning_effort: Literal["low", "medium", "high"] | None = None,
        files: list[str] | None = None,
        images: list[str] | None = None,
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
        """
        options = TurnOptions.checked(system=system, temperature=temperature, max_tokens=max_tokens,
                                      reasoning_effort=reasoning_effort, files=files, images=images)
        turn = await run_turn(self.app, prompt, model, session_id, options, progress=progress_sender(ctx))
        return turn.as_dict()

    async def ask_models(
        self,
        prompt: str,
        models: list[str],
        session_id: str | None = None,
        system: str | None = None,
        files: list[str] | None = None,
        images: list[str] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        reasoning_effort: Literal["low", "medium", "high"] | None = None,
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
        progress token, progress is sent while the answers stream in.
        """
        options = TurnOptions.checked(system=system, temperature=temperature, max_tokens=max_tokens,
                                      reasoning_effort=reasoning_effort, files=files, images=images)
        return await run_ask_models(self.app, prompt, models, session_id, options, progress_sender(ctx))

    async def kimi_chat(self, prompt: str, session_id: str | None = None) -> dict[str, Any]:
        """Chat with Kimi (Moonshot); kept for clients of the older Kimi-only server.

        Same as `chat` with the Kimi model ($KIMI_MODEL, default kimi-k2-0711-preview). Pass
        `session_id` to continue a conversation, including one from the old `.kimi_sessions/`
        folder (it is imported on first use). Prefer `chat` for new work.
        """
        return await kimi_chat_turn(self.app, prompt, session_id)

    def list_sessions(
        self,
        query: str | None = None,
        model: str | None = None,
        tag: str | None = None,
        group_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """List stored conversations, most recently updated first.

        Use it to find a session_id to continue or inspect. `query` matches words of the title
        or the id (each word as a prefix); filter by a `model` the session used, a `tag`, the
        `group_id` of one ask_models call, or `since`/`until` (ISO dates, on the last update).
        Each entry has session_id, title, times, current_model, models_used, tags,
        message_count, cost_usd (the answers' summed price in USD, null if none is known),
        unpriced_answers, group_id. `total` is the number of matching sessions; page with
        `offset`/`limit`. `index_pending` > 0: that many session files are not in the index yet.
        """
        from index.listing import ListingFilters, listed_from_summary, page_of

        _check_page(limit, offset)
        if query is not None and not query.strip():
            raise InvalidToolArgument("query is empty: pass words of a title or an id, or leave it out")
        filters = ListingFilters(
            query=query, model=model, tag=tag, group_id=group_id,
            since=_parse_time(since, "since"), until=_parse_time(until, "until", end_of_day=True),
        )
        # Read before and after the listing: 0 then means every catch-up commit is visible to it
        # and the read found no damaged index (which the reader replaces by an empty one).
        pending = self.app.index_pending()
        try:
            if self.app.reader is not None:
                page = self.app.reader.list_sessions(filters, limit, offset)
            else:  # no index configured: the files are the listing
                page = page_of([listed_from_summary(s) for s in self.app.store.list().sessions], filters, limit, offset)
        except InvalidQuery as exc:
            raise InvalidToolArgument(str(exc)) from exc
        result = page.model_dump(mode="json")
        result.update(quarantined=[], refused=[], index_pending=max(pending, self.app.index_pending()))
        return result

    def get_session(
        self,
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
        return session_page(self.app.store.snapshot(validate_session_id(session_id)).session, offset, limit, max_chars_per_message)

    def search_sessions(
        self,
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
        if self.app.reader is None:
            raise StoreError("search is not available: the index is not configured in this server")
        after, before = _parse_time(since, "since"), _parse_time(until, "until", end_of_day=True)
        pending = self.app.index_pending()  # before the search (see list_sessions)
        try:
            hits = self.app.reader.search(
                query, model=model, role=role, session_id=session_id, since=after, until=before, limit=limit, offset=offset
            )
        except InvalidQuery as exc:  # the index's documented refusals: an unusable query, since after until
            raise InvalidToolArgument(str(exc)) from exc
        return {"hits": [_as_dict(hit) for hit in hits], "index_pending": max(pending, self.app.index_pending())}

    def model_switch_history(
        self, session_id: str | None = None, model: str | None = None, limit: int = 100, offset: int = 0
    ) -> dict[str, Any]:
        """List the recorded model switches, newest first (from which model to which, when, and the warning).

        Filter by `session_id` or by a `model` on either side of the switch. Use it to see
        which model wrote which part of a conversation. `total` counts the matching switches;
        page with `offset`/`limit`.
        """
        _check_page(limit, offset)
        if session_id is not None:
            validate_session_id(session_id)
        if self.app.reader is None:
            raise StoreError("model switch history is not available: the index is not configured in this server")
        pending = self.app.index_pending()  # before the query (see list_sessions)
        page = self.app.reader.model_switch_page(session_id=session_id, model=model, limit=limit, offset=offset)
        return {
            "switches": [_as_dict(item) for item in page.switches],
            "total": page.total, "limit": limit, "offset": offset, "index_pending": max(pending, self.app.index_pending()),
        }

    def list_models(self, ) -> dict[str, Any]:
        """List the model families and aliases this server can reach, and whether each is configured.

        Use it before `chat` to pick a model name. Shows the environment variable each provider
        needs (never its value).
        """
        if self.app.list_models is None:
            return {"models": []}
        return {"models": [_as_dict(item) for item in self.app.list_models()]}



TOOLS = ("chat", "ask_models", "kimi_chat", "list_sessions", "get_session", "search_sessions", "model_switch_history", "list_models")


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

    tools = SessionTools(app)
    for name in TOOLS:
        method = getattr(tools, name)
        # The SDK sends the description as it is; a model reads it on every request.
        server.tool(name=name, description=inspect.getdoc(method))(tool_errors(method))
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


@contextmanager
def background_indexing(root: Path, indexer: Any = None) -> Iterator[Any]:
    """Run the index watcher (yielded) while the server runs (started on entry, stopped on exit).

    ``indexer``: the app's ``Indexer``, shared so the process has one index writer (one write
    connection, one WAL checkpointer); it is closed here on exit, after the watcher stopped.
    """
    from index import IndexWatcher

    watcher = IndexWatcher(root, indexer=indexer, start_delay_seconds=START_DELAY_SECONDS)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop()
        if indexer is not None:
            indexer.close()


#: The index watcher's catch-up (a stat of every session file), the clean-up of stale temp files
#: and the loading of the price table start this long after start-up, so that they do not slow
#: down the first requests (start-up to the first tools/list).
START_DELAY_SECONDS = 0.5


def _load_prices() -> None:
    import gc
    import time

    time.sleep(START_DELAY_SECONDS)  # after the first requests (a turn before then loads the table itself)
    from chat.pricing import load_prices

    load_prices()  # the price table is start-up data, not the first priced turn's
    gc.freeze()  # like the rest of start-up: never walked by the collector again


def _clean_stale_temp_files(app: App) -> None:
    import time

    time.sleep(START_DELAY_SECONDS)  # a listing of sessions/: not while the first requests are answered
    try:
        removed = app.store.clean_stale_temp_files()
    except OSError as exc:
        log.warning("could not clean stale temp files: %s", exc)
        return
    if removed:
        log.info("removed %d stale temp file(s) left by crashed writers", len(removed))


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
    from index.ranking import configured_rank_window

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
    # A listing of sessions/ scales with the store: off the start-up path (nothing waits for it).
    threading.Thread(target=_clean_stale_temp_files, args=(app,), name="clean-temp-files", daemon=True).start()
    server = build_server(app, auth)
    from utils.gc_tuning import tune_for_serving

    tune_for_serving()  # start-up's objects are never walked by the collector again (p99 of a turn)
    # The price table (~60 ms) loads after the first request could be answered, then is frozen too.
    threading.Thread(target=_load_prices, name="load-prices", daemon=True).start()
    # SIGTERM (service managers, test harnesses) stops the server like Ctrl-C: the watcher is
    # stopped and the process exits 0.
    signal.signal(signal.SIGTERM, _stop_on_signal)
    try:
        with background_indexing(root, app.index):
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
