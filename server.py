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
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

if __name__ == "__main__":  # run as `python server.py` from anywhere (even with -P / PYTHONSAFEPATH)
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from mcp.types import Resource as MCPResource
from pydantic import ValidationError

from chat import App, TurnOptions, default_app, results, run_turn, user_message
from chat import ask_models as run_ask_models
from chat import kimi_chat as kimi_chat_turn
from chat import organise, reading
from chat.resources import (
    RECENT_RESOURCES,
    SESSION_RESOURCE_MAX_CHARS,
    SESSION_RESOURCE_TEMPLATE,
    read_message_resource,
    read_session_resource,
    session_resources,
)
from chat.progress import ProgressSender
from store import resolve_root
from chat.after_start import START_DELAY_SECONDS, after_start
from index.background import background_indexing
from utils.version import package_version
from utils.startup_line import startup_line
from utils.tool_arguments import describe_validation_error, unknown_arguments
from utils.http_auth import TOKEN_ENV, AuthConfigError, HttpAuth, http_auth, http_security

log = logging.getLogger("llm_mcp_server")

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


class SessionsServer(MCPServer):
    """``MCPServer`` whose ``resources/list`` lists the most recently updated sessions.

    The SDK lists only resources registered one by one; sessions come and go, so the list is
    built on each request from ``app.recent_sessions`` (the index), else from the store.
    """

    def __init__(self, app: App, **settings: Any) -> None:
        super().__init__(**settings)
        self.app = app

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        """The SDK's ``call_tool``, with argument errors said as the tools say theirs (``utils.tool_arguments``)."""
        tool = self._tool_manager.get_tool(name)
        schema = tool.parameters if tool is not None else {}
        unknown = unknown_arguments(arguments, schema) if tool is not None else None
        if unknown is not None:
            raise ToolError(f"Error executing tool {name}: {unknown}")
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if not isinstance(exc.__cause__, ValidationError):
                raise
            raise ToolError(f"Error executing tool {name}: {describe_validation_error(exc.__cause__, schema)}") from None

    async def list_resources(self) -> list[MCPResource]:
        listed = await super().list_resources()
        return listed + await anyio.to_thread.run_sync(session_resources, self.app, RECENT_RESOURCES)


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
        title: str | None = None,
        allow_secrets: bool = False,
        ctx: Context | None = None,
    ) -> Annotated[CallToolResult, results.ChatOutput]:
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
        A new session is titled from the first line of `prompt` unless `title` is given; the
        result then has `created: true` (and a warning if an existing id is a near match).
        Secrets (API keys, tokens, private keys, passwords in URLs...) found in `prompt`,
        `system`, the files and the reply are replaced by [REDACTED <kind>] before anything is
        sent or stored; `warnings` names where. `allow_secrets=true` sends them as they are:
        only when the user explicitly asks for it.
        """
        options = TurnOptions.checked(system=system, temperature=temperature, max_tokens=max_tokens,
                                      reasoning_effort=reasoning_effort, files=files, images=images, title=title,
                                      allow_secrets=allow_secrets)
        turn = await run_turn(self.app, prompt, model, session_id, options, progress=progress_sender(ctx))
        return results.chat_result(turn.as_dict(), lambda: turn.extra.get("message_id") or reading.last_answer_id(self.app, turn.session_id))

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
        title: str | None = None,
        allow_secrets: bool = False,
        ctx: Context | None = None,
    ) -> Annotated[CallToolResult, results.AskModelsOutput]:
        """Ask 2 to 8 different LLMs the same question at once and get every answer side by side.

        Use it for a second (or third) opinion, to compare how models answer one question, or
        to check an answer you doubt: e.g. models=["gpt-5", "claude-sonnet-4-5", "gemini-2.5-pro"].
        For a conversation with one model use `chat`. The models are asked concurrently, so it
        takes about as long as the slowest one. Each answer is stored in a session of its own
        (continue any of them with `chat` and its session_id); the sessions of one call share a
        `group_id`. Pass `session_id` to ask about an existing conversation: every model gets a
        copy of it (a branch, with `forked_from` recorded) and the original stays unchanged.
        `system`, `files`, `images`, `temperature`, `max_tokens`, `reasoning_effort` and `title` apply
        to every model, as in `chat` (the files are read once and every model sees the same
        text). Unknown models or bad arguments are refused before anything is sent; a model
        that fails, or whose API key is not set, gets an `error` and the others still answer. Returns {group_id, answers:
        [{model, session_id, reply, warnings, usage, error}]} in the order of `models`. With a
        progress token, progress is sent while the answers stream in. Secrets are redacted
        and `allow_secrets` works as in `chat`.
        """
        options = TurnOptions.checked(system=system, temperature=temperature, max_tokens=max_tokens,
                                      reasoning_effort=reasoning_effort, files=files, images=images, title=title,
                                      allow_secrets=allow_secrets)
        asked = await run_ask_models(self.app, prompt, models, session_id, options, progress_sender(ctx))
        return results.ask_models_result(asked, functools.partial(reading.last_answer_id, self.app))

    async def kimi_chat(self, prompt: str, session_id: str | None = None) -> Annotated[CallToolResult, results.ChatOutput]:
        """Chat with Kimi (Moonshot); kept for clients of the older Kimi-only server.

        Same as `chat` with the Kimi model ($KIMI_MODEL, default kimi-k2-0711-preview). Pass
        `session_id` to continue a conversation, including one from the old `.kimi_sessions/`
        folder (it is imported on first use). Prefer `chat` for new work.
        """
        answered = await kimi_chat_turn(self.app, prompt, session_id)
        return results.chat_result(answered, lambda: reading.last_answer_id(self.app, answered["session_id"]))

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
    ) -> Annotated[CallToolResult, results.ListSessionsOutput]:
        """List stored conversations, most recently updated first.

        Use it to find a session_id to continue or inspect. `query` matches words of the title
        or the id (each word as a prefix); filter by a `model` the session used, a `tag`, the
        `group_id` of one ask_models call, or `since`/`until` (ISO dates, on the last update).
        Each entry has session_id, title, times, current_model, models_used, tags,
        message_count, cost_usd (the answers' summed price in USD, null if none is known),
        unpriced_answers, group_id. `total` is the number of matching sessions; page with
        `offset`/`limit`. `index_pending` > 0: that many session files are not in the index yet.
        """
        page = reading.list_sessions(self.app, query, model, tag, group_id, since, until, limit, offset)
        return results.list_sessions_result(page, offset)

    def update_session(
        self,
        session_id: str,
        title: str | None = None,
        add_tags: list[str] | None = None,
        remove_tags: list[str] | None = None,
    ) -> Annotated[CallToolResult, results.SessionSummaryOutput]:
        """Give a stored conversation a title or add/remove tags; returns the session's summary.

        `title` replaces the title (an empty string clears it). Tags are short words without
        spaces; filter by one with list_sessions(tag=...). Organising does not change the
        session's place in list_sessions (its updated_at stays).
        """
        return results.session_summary_result(organise.update_session(self.app, session_id, title, add_tags, remove_tags))

    def delete_session(self, session_id: str) -> Annotated[CallToolResult, results.DeletedOutput]:
        """Move a stored conversation to the trash (never deleted); it leaves listings and search.

        The result says how to restore it (`sessions.py restore ID`).
        """
        return results.deleted_result(organise.delete_session(self.app, session_id))

    def get_session(
        self,
        session_id: str, offset: int | None = None, limit: int = 50, max_chars_per_message: int = 20_000
    ) -> Annotated[CallToolResult, results.SessionPageOutput]:
        """Read one stored conversation: its metadata, model switches, summaries and messages.

        Without `offset` it returns the newest `limit` messages; pass `offset` (0 = first message)
        to page through older ones. Very long messages are cut at `max_chars_per_message`.
        `cost_usd` is the whole session's summed price in USD (null if no answer has a known
        price; `unpriced_answers` counts the answers without one).
        """
        page = reading.get_session(self.app, session_id, offset, limit, max_chars_per_message)
        return results.session_page_result(page, newest_first_page=offset is None)

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
    ) -> Annotated[CallToolResult, results.SearchOutput]:
        """Full-text search over every stored conversation (any language, code identifiers too).

        Use it to find what was discussed before, with which model, and when. Optional filters:
        `model`, `role` (user/assistant/system/tool), `session_id`, `since`/`until` (ISO dates).
        Returns {hits: [{session_id, message_id, model, role, created_at, snippet, score}]},
        best first; open a hit with get_session. For very common terms (over 20,000 matching
        messages after the filters) the hits are the best matches among the most recent 20,000.
        """
        found = reading.search_sessions(self.app, query, model, role, session_id, since, until, limit, offset)
        return results.search_result(found, offset)

    def model_switch_history(
        self, session_id: str | None = None, model: str | None = None, limit: int = 100, offset: int = 0
    ) -> Annotated[CallToolResult, results.SwitchesOutput]:
        """List the recorded model switches, newest first (from which model to which, when, and the warning).

        Filter by `session_id` or by a `model` on either side of the switch. Use it to see
        which model wrote which part of a conversation. `total` counts the matching switches;
        page with `offset`/`limit`. `at_message` is the 0-based
        position of the first message after the switch (as get_session's `index`).
        """
        return results.switches_result(reading.model_switch_history(self.app, session_id, model, limit, offset))

    def list_models(self, provider: str | None = None, query: str | None = None) -> Annotated[CallToolResult, results.ModelsOutput]:
        """List the models this server can call, with context window and price, and each provider's key state.

        Use it before `chat` to pick a model name. `models`: {model, provider, context_window,
        input_usd_per_mtok, output_usd_per_mtok, key_set} for the providers whose key is set
        (from genai-prices' data, and from GET /models of OpenAI-compatible endpoints);
        `providers`: each provider's name patterns, key variable (never its value), whether the
        key is set, and aliases. Pass `provider` (e.g. "anthropic") to list one provider's
        models whether or not its key is set, `query` (e.g. "sonnet") to keep the names
        containing it. Other names a provider accepts work too, with a
        warning saying what was assumed.
        """
        return results.models_result(reading.list_models(self.app, provider, query))


TOOLS = ("chat", "ask_models", "kimi_chat", "list_sessions", "update_session", "delete_session", "get_session", "search_sessions", "model_switch_history", "list_models")


def build_server(app: App, auth: HttpAuth | None = None) -> MCPServer:
    """The MCP server with every tool and the ``session://`` resources bound to ``app``.

    ``auth`` (over http) makes every request to ``/mcp`` carry the bearer token.
    """
    server = SessionsServer(
        app,
        name="llm-mcp-server",
        version=package_version(),
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

    @server.resource(
        results.MESSAGE_RESOURCE_TEMPLATE,
        name="message",
        title="One stored message, whole",
        description="The whole text of one stored message (where a tool result that was cut to the size limit links to).",
        mime_type="text/markdown",
    )
    async def message_resource(session_id: str, message_id: str) -> str:
        return await anyio.to_thread.run_sync(read_message_resource, app, session_id, message_id)

    tools = SessionTools(app)
    text_only = results.result_mode() == "text"
    for name in TOOLS:
        method = getattr(tools, name)
        # The SDK sends the description as it is; a model reads it on every request.
        server.tool(name=name, description=inspect.getdoc(method))(tool_errors(method))
        registered = server._tool_manager.get_tool(name)
        registered.parameters = results.untitled(registered.parameters)
        metadata = registered.fn_metadata
        if text_only:  # no structuredContent is sent, so no outputSchema may be promised
            metadata.output_schema, metadata.output_model = None, None
        elif metadata.output_schema is not None:
            metadata.output_schema = results.untitled(metadata.output_schema, output=True)
    from chat.workflows import register_prompts

    register_prompts(server)
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
  LLM_MCP_RESULTS        forms of a tool result: both (default), text or structured
  LLM_MCP_MAX_RESULT_CHARS  size limit of a tool result per form (default 40000); a longer
                         answer is cut, with a link to the whole (session://ID/messages/MSG)
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


def _stop_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def configure_logging() -> None:
    """Log to stderr only (stdout is the MCP channel over stdio), with secrets redacted."""
    from adapters.redact import RedactingFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logging.basicConfig(level=os.environ.get("LLM_LOG_LEVEL", "INFO").upper(), handlers=[handler], force=True)


def _settings_problem() -> str | None:
    """What is wrong with the environment's settings (checked before anything starts), or None."""
    from index.ranking import configured_rank_window

    try:
        configured_rank_window()
        results.check_settings()
    except (ValueError, results.ResultSettingError) as exc:
        return str(exc)
    return None


def _serve_http(server: MCPServer, args: argparse.Namespace, auth: HttpAuth | None, root: Path) -> None:
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
    print(startup_line(root, "streamable HTTP", f"http://{args.host}:{args.port}/mcp"), file=sys.stderr, flush=True)
    server.run("streamable-http", host=args.host, port=args.port, streamable_http_path="/mcp",
               transport_security=http_security(args.host))


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
    problem = _settings_problem()
    if problem is not None:
        print(f"server.py: {problem}", file=sys.stderr)
        return 2
    try:
        app = default_app(root)
    except OSError as exc:
        print(f"server.py: cannot use session root {root}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    server = build_server(app, auth)
    from utils.gc_tuning import tune_for_serving

    tune_for_serving()  # start-up's objects are never walked by the collector again (p99 of a turn)
    # Work that scales with the store, or is not needed by the first requests, starts after them.
    stopped = threading.Event()
    threading.Thread(target=after_start, args=(app.store, START_DELAY_SECONDS, stopped), name="after-start", daemon=True).start()
    # SIGTERM (service managers, test harnesses) stops the server like Ctrl-C: the watcher is
    # stopped and the process exits 0.
    signal.signal(signal.SIGTERM, _stop_on_signal)
    try:
        with background_indexing(root, app.index, start_delay_seconds=START_DELAY_SECONDS):
            if args.transport == "http":
                _serve_http(server, args, auth, root)
            else:
                print(startup_line(root, "stdio"), file=sys.stderr, flush=True)
                server.run("stdio")
    except KeyboardInterrupt:
        pass
    finally:
        stopped.set()
    log.info("server stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
