"""Search and read the session store from a terminal: ``search``, ``show``, ``list``, ``switches``,
``stats``, ``status``, ``export``; share it through git: ``git-setup``, ``merge-driver``; ``scan`` for secrets.

A thin command line over ``index.SearchIndex`` (search, list, switches), ``index.state``
(status), ``store.SessionStore`` (show, export), ``index.usage`` (stats), ``store.git_setup`` and ``store.merge``; run with ``--help``. Exit
codes: 0 ok; 1 not found / unreadable / a merge side unreadable; 2 usage error (bad query or
search syntax, bad id, bad date or limit, no session store at the root); 141 stdout closed
early (``| head``), quietly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

if __package__ in (None, ""):  # run as `python scripts/sessions.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from index import InvalidQuery, SearchIndex  # noqa: E402
from index.listing import ListingFilters  # noqa: E402
from index.state import index_status  # noqa: E402
from index.usage import GROUP_KEYS, UsageGroup  # noqa: E402
from store import (  # noqa: E402
    CorruptSession,
    InvalidSessionId,
    SessionNotFound,
    SessionQuarantined,
    SessionStore,
    UnsupportedSchemaVersion,
    message_text,
    validate_session_id,
)
from store.atomic import atomic_write_bytes  # noqa: E402
from store.codec import encode_session  # noqa: E402
from store.markdown import render_session  # noqa: E402
from store.git_setup import GitSetupError, git_setup  # noqa: E402
from store.gitignore import has_managed_block  # noqa: E402
from store.merge import UnmergeableSession, merge_files  # noqa: E402
from store.existing_root import NoStore, require_store  # noqa: E402
from store.paths import SESSIONS_DIR_ENV, resolve_root  # noqa: E402
from scripts import sessions_organise  # noqa: E402
from store.errors import StoreError, WrongCase  # noqa: E402
from utils.closed_pipe import closed_pipe_exit  # noqa: E402
from utils.progress import ProgressBar  # noqa: E402
from utils.dates import InvalidDate, parse_user_time  # noqa: E402

DESCRIPTION = f"""\
Look into the session store without an MCP client.

  search QUERY   ranked full-text search over every message and title (FTS5 syntax allowed:
                 "exact phrase", a OR b, prefix*; Chinese/Japanese/Korean as substrings)
  show ID        print one session's messages
  list           list sessions, newest update first (--query, --model, --tag, --group, --since, --until)
  switches       model-switch history
  status         the index's state: sessions on disk, indexed, pending, quarantined, size, last error
  stats          turns, failures, latency p50/p95, tokens and cost per model/provider/day/session
  export ID      one whole session as Markdown (or --format json), to stdout or --output FILE
  git-setup      make the git repository holding the session root merge session files
                 with the llm-session driver (once per clone; see docs/team.md)
  merge-driver   BASE OURS THEIRS: the three-way merge git runs for sessions/*.json
{sessions_organise.HELP.rstrip()}
  scan           find secrets (keys, tokens, passwords) already in the store; --fix redacts them
  browse         the index in a web browser (Datasette, read-only; needs the 'browse' extra)

Search, list, switches, status and stats read the index (<root>/index.sqlite, built on first
use); show and export read the session files. The root is --root, else ${SESSIONS_DIR_ENV}, else ./.llm_sessions;
a command that only reads never creates it (no store there: exit 2, naming the folder).
"""


STATS_DESCRIPTION = """\
Monitoring from the index: for each group (--by) and in total,

  turns        questions sent to a model (answered + failed + incomplete)
  answered     turns that got an answer
  failed       turns whose provider call failed (the question is kept, marked delivery_failed)
  incomplete   answers cut short (a stream that stopped; the partial answer is kept)
  p50/p95 ms   latency percentiles of the answered turns (linear interpolation)
  in/out tok   input and output tokens, as the providers reported them
  cost USD     summed cost_usd of the turns with a known price; "+N unpriced" counts answers
               without one (local models, unknown prices), so the sum is then a lower bound

Times are the messages' times (UTC); a turn counts in the day of its answer (or of the failed
question). --json gives {by, since, until, groups: [...], total: {...}} with the same fields.
"""


class UsageError(Exception):
    """A bad argument value (exit code 2)."""


def _since(value: str) -> datetime:
    try:
        return parse_user_time(value)
    except InvalidDate as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _until(value: str) -> datetime:
    """A plain date as ``--until`` includes that whole day."""
    try:
        return parse_user_time(value, end_of_day=True)
    except InvalidDate as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    root_help = f"session root (default: ${SESSIONS_DIR_ENV}, else ./.llm_sessions)"
    json_help = "print JSON on stdout (for machines)"
    # --root/--json work before or after the command; SUPPRESS keeps a subcommand from
    # resetting a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", metavar="DIR", default=argparse.SUPPRESS, help=root_help)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=json_help)
    parser = argparse.ArgumentParser(
        prog="sessions.py", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", metavar="DIR", default=None, help=root_help)
    parser.add_argument("--json", action="store_true", default=False, help=json_help)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    search = commands.add_parser("search", parents=[common], help="ranked full-text search with snippets")
    search.add_argument("query", help="words to find (FTS5 syntax allowed)")
    search.add_argument("--model", help="only messages written by this model")
    search.add_argument("--role", choices=["system", "user", "assistant", "tool"], help="only messages with this role")
    search.add_argument("--session", dest="session_id", metavar="ID", help="only this session")
    search.add_argument("--since", type=_since, help="only messages at or after this date or time (ISO-8601, UTC if no zone)")
    search.add_argument("--until", type=_until, help="only messages at or before this time; a plain date includes that whole day")
    search.add_argument("--limit", type=int, default=20, help="number of hits (1-1000, default 20)")
    search.add_argument("--offset", type=int, default=0, help="skip this many hits (paging)")

    show = commands.add_parser("show", parents=[common], help="print one session")
    show.add_argument("session_id", metavar="ID")

    listing = commands.add_parser("list", parents=[common], help="list sessions, newest update first (from the index)")
    listing.add_argument("--query", help="only sessions with these words (prefixes) in their title or id")
    listing.add_argument("--model", help="only sessions that used this model")
    listing.add_argument("--tag", help="only sessions with this tag")
    listing.add_argument("--group", dest="group_id", metavar="GROUP_ID", help="only the sessions of one ask_models call")
    listing.add_argument("--since", type=_since, help="only sessions updated at or after this date or time")
    listing.add_argument("--until", type=_until, help="only sessions updated at or before this time (a plain date: that whole day)")
    listing.add_argument("--limit", type=int, default=50, help="number of sessions (1-1000, default 50)")
    listing.add_argument("--offset", type=int, default=0, help="skip this many sessions (paging)")

    commands.add_parser(
        "status", parents=[common],
        help="the index's state: sessions on disk, indexed, pending, quarantined, size, schema, last error (read-only)",
    )

    switches = commands.add_parser("switches", parents=[common], help="model-switch history")
    switches.add_argument("--session", dest="session_id", metavar="ID", help="only this session")
    switches.add_argument("--model", help="only switches from or to this model")

    stats = commands.add_parser(
        "stats",
        parents=[common],
        help="turns, failures, latency, tokens and cost from the index",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=STATS_DESCRIPTION,
    )
    stats.add_argument("--since", type=_since, help="only turns at or after this date or time (ISO-8601, UTC if no zone)")
    stats.add_argument("--until", type=_until, help="only turns at or before this time; a plain date includes that whole day")
    stats.add_argument("--by", choices=list(GROUP_KEYS), help="one row per model, provider, UTC day or session (default: the total only)")

    export = commands.add_parser(
        "export",
        parents=[common],
        help="write one whole session as Markdown (default) or JSON",
        description="Write one whole session as Markdown (the same text as the MCP resource session://ID, "
        "with every message) or as its JSON document (the session file's content).",
    )
    export.add_argument("session_id", metavar="ID")
    export.add_argument("--format", choices=["markdown", "json"], default=None, help="markdown (default) or json; --json means --format json")
    export.add_argument("--output", metavar="FILE", help="write to FILE (replaced atomically) instead of stdout")

    setup = commands.add_parser(
        "git-setup", parents=[common], help="register the llm-session merge driver (once per clone)",
        description="Write <root>/.gitattributes (sessions/*.json merge=llm-session; commit it) and register "
        "the driver in the repository's .git/config with this checkout's Python. Idempotent: says what it did.",
    )
    setup.add_argument("--repo", metavar="DIR", type=Path, help="the git repository (default: the one holding the session root)")

    driver = commands.add_parser(
        "merge-driver", help="three-way merge of one session file (git runs it)",
        description="Merge BASE, OURS and THEIRS (the files git passes as %O %A %B) and write the result over "
        "OURS. Exit 0 merged; 1 a side is not a readable session file (nothing written, git reports a conflict).",
    )
    for name, what in (("base", "the common ancestor (empty: none)"), ("ours", "our version; the result is written here"),
                       ("theirs", "the version being merged in")):
        driver.add_argument(name, metavar=name.upper(), type=Path, help=what)
    sessions_organise.add_commands(commands, common)
    # -- scan (issue 30) --
    scan = commands.add_parser(
        "scan", parents=[common], help="find secrets already stored; --fix redacts them in place",
        description="Read every session file and the attached files they reference, and report each secret found "
        "(session, place, line, kind; never the value). --fix rewrites those sessions (atomically, under their "
        "locks) with [REDACTED <kind>] markers. Exit 0: none left; 1: secrets found and not fixed.",
    )
    scan.add_argument("--fix", action="store_true", help="redact what was found, in place")

    # browse: index/browse/ does the work (docs/browse.md).
    browse = commands.add_parser(
        "browse", help="browse, search and chart the index in a web browser (Datasette)",
        description="Serve the index read-only with Datasette: tables with search and facets, each session as a "
        "conversation, charts of cost, tokens, turns and latency. Needs the optional extra: pip install -e '.[browse]'. "
        "A --host that is not a loopback address needs LLM_MCP_TOKEN (the MCP server's rule); with it set, "
        "every page asks for the token.",
    )
    browse.add_argument("--root", metavar="DIR", default=argparse.SUPPRESS, help=root_help)
    browse.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    browse.add_argument("--port", type=int, default=8001, help="port (default 8001)")
    browse.add_argument("--open", action="store_true", help="open the start page in the default web browser")
    browse.add_argument("--no-auth", action="store_true", help="no token on a non-loopback --host (an authenticating proxy is in front)")
    return parser


def _dump(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, ensure_ascii=False, indent=1, default=str) + "\n")


def cmd_search(args: argparse.Namespace, out: TextIO) -> int:
    with SearchIndex(require_store(args.root)) as index:
        hits = index.search(
            args.query, model=args.model, role=args.role, session_id=args.session_id,
            since=args.since, until=args.until, limit=args.limit, offset=args.offset,
        )
    if args.json:
        _dump({"hits": [hit.model_dump(mode="json") for hit in hits]}, out)
        return 0
    for hit in hits:
        where = f"{hit.session_id}/{hit.message_id}" if hit.message_id else f"{hit.session_id} (title)"
        who = " ".join(part for part in (hit.role, hit.model) if part)
        out.write(f"{hit.score:10.4g}  {hit.created_at:%Y-%m-%d %H:%M}  {where}  {who}\n")
        out.write("            " + " ".join(hit.snippet.split()) + "\n")
        if hit.file:
            out.write(f"            in attached file {hit.file}\n")
    out.write(f"{len(hits)} hit(s)\n")
    return 0


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    session = SessionStore(require_store(args.root)).load(args.session_id)
    if args.json:
        out.write(session.model_dump_json(indent=1) + "\n")
        return 0
    out.write(f"{session.id}  {session.title or '(untitled)'}\n")
    out.write(f"model {session.current_model or '-'}; used {', '.join(session.models_used) or '-'}\n")
    switches = {switch.at_message: switch for switch in session.model_switches}
    for position, message in enumerate(session.messages):
        if position in switches:
            switch = switches[position]
            out.write(f"--- switched {switch.from_model} -> {switch.to_model}\n")
        who = f"{message.role}" + (f" ({message.model})" if message.model else "")
        out.write(f"[{position}] {message.created_at:%Y-%m-%d %H:%M:%S} {who}: {message_text(message)}\n")
        for call in message.tool_calls or []:
            out.write(f"    tool call {call.name} {json.dumps(call.arguments, ensure_ascii=False)}\n")
    return 0


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    filters = ListingFilters(
        query=args.query, model=args.model, tag=args.tag, group_id=args.group_id, since=args.since, until=args.until
    )
    with SearchIndex(require_store(args.root)) as index:
        page = index.list_sessions(filters, args.limit, args.offset)
    if args.json:
        _dump(page.model_dump(mode="json"), out)
        return 0
    for item in page.sessions:
        out.write(
            f"{item.id}  {item.updated_at:%Y-%m-%d %H:%M}  {item.current_model or '-'}  "
            f"{item.message_count} msg  {item.title or ''}\n"
        )
    shown = f"{args.offset + 1}-{args.offset + len(page.sessions)} of " if page.sessions and len(page.sessions) < page.total else ""
    out.write(f"{shown}{page.total} session(s)\n")
    return 0


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    status = index_status(require_store(args.root))
    if args.json:
        _dump(status.model_dump(mode="json"), out)
        return 0
    schema = "none" if status.schema_version is None else str(status.schema_version)
    if status.schema_version is not None and not status.schema_current:
        schema += " (another version: the next use rebuilds it)"
    error = "none" if status.last_error is None else f"{status.last_error.at:%Y-%m-%d %H:%M} {status.last_error.error}"
    out.write(
        f"root:              {status.root}\n"
        f"sessions on disk:  {status.sessions_on_disk}\n"
        f"indexed:           {status.indexed}\n"
        f"pending:           {status.pending}\n"
        f"refused (newer):   {status.refused}\n"
        f"quarantined files: {status.quarantined_files}\n"
        f"index:             {'%.1f MB' % (status.index_bytes / 1e6) if status.index_exists else 'missing'}, schema {schema}\n"
        f"last index error:  {error}\n"
    )
    return 0


def cmd_switches(args: argparse.Namespace, out: TextIO) -> int:
    with SearchIndex(require_store(args.root)) as index:
        records = index.model_switch_history(session_id=args.session_id, model=args.model)
    if args.json:
        _dump({"switches": [record.model_dump(mode="json") for record in records]}, out)
        return 0
    for record in records:
        out.write(
            f"{record.at:%Y-%m-%d %H:%M}  {record.session_id}  before message [{record.at_message}]: "
            f"{record.from_model or '-'} -> {record.to_model}\n"
        )
    out.write(f"{len(records)} switch(es)\n")
    return 0


def _stats_row(group: UsageGroup, label: str) -> list[str]:
    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}"

    cost = "-" if group.cost_usd is None else f"{group.cost_usd:.6f}"
    if group.unpriced_answers:
        cost += f" (+{group.unpriced_answers} unpriced)"
    return [
        label, f"{group.turns:,}", f"{group.answered:,}", f"{group.failed:,}", f"{group.incomplete:,}",
        number(group.latency_ms_p50), number(group.latency_ms_p95), f"{group.input_tokens:,}", f"{group.output_tokens:,}", cost,
    ]


def cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    with SearchIndex(require_store(args.root)) as index:
        report = index.usage_report(by=args.by, since=args.since, until=args.until)
    if args.json:
        _dump(report.model_dump(mode="json"), out)
        return 0
    header = [args.by or "", "turns", "answered", "failed", "incomplete", "p50 ms", "p95 ms", "in tok", "out tok", "cost USD"]
    rows = [_stats_row(group, group.key if group.key is not None else "(unknown)") for group in report.groups]
    rows.append(_stats_row(report.total, "total"))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:-1], widths[1:-1])] + [row[-1]]
        out.write("  ".join(cells).rstrip() + "\n")
    return 0


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    session = SessionStore(require_store(args.root)).load(args.session_id)
    as_json = args.format == "json" or (args.format is None and args.json)
    text = encode_session(session).decode("utf-8") if as_json else render_session(session)
    if args.output is None:
        out.write(text)
        return 0
    target = Path(args.output).expanduser()
    if not target.parent.is_dir():
        raise ValueError(f"--output {args.output}: the folder {target.parent} does not exist: create it or name a file in an existing folder")
    if target.is_dir():
        raise ValueError(f"--output {args.output} is a folder: name a file, e.g. {target / (session.id + ('.json' if as_json else '.md'))}")
    atomic_write_bytes(target, text.encode("utf-8"))
    return 0


def cmd_git_setup(args: argparse.Namespace, out: TextIO) -> int:
    store = SessionStore(resolve_root(args.root))  # creates the root and its .gitignore
    program = [sys.executable, str(Path(__file__).resolve())]
    try:
        report = git_setup(store.root, program, args.repo)
    except GitSetupError as exc:
        raise UsageError(str(exc)) from exc
    if args.json:
        _dump({"repository": str(report.repository), "actions": report.actions, "advice": report.advice}, out)
        return 0
    for action in report.actions + report.advice:
        out.write(action + "\n")
    gitignore = store.root / ".gitignore"
    if has_managed_block(store.root):
        out.write(f"{gitignore}: keeps the index, locks and views out of git (commit this file)\n")
    else:
        out.write(
            f"{gitignore}: your own file (no llm-mcp-server block), left as it is: make sure it ignores "
            "index.sqlite*, .locks/, by-model/ and by-date/\n"
        )
    out.write(f"done for {report.repository}; every other clone runs `sessions.py git-setup` once too\n")
    return 0


def cmd_merge_driver(args: argparse.Namespace, out: TextIO) -> int:
    out.write(merge_files(args.base, args.ours, args.theirs).describe() + "\n")
    return 0


def cmd_scan(args: argparse.Namespace, out: TextIO) -> int:  # issue 30
    from chat.secrets.scan import describe_report, scan_store

    store = SessionStore(require_store(args.root))
    bar = ProgressBar(sys.stderr, "scanning", unit="session files")  # drawn only on a terminal
    report = scan_store(store, fix=args.fix, progress=bar)
    bar.finish()
    if report.fixed_sessions and (store.root / "index.sqlite").exists():  # the index's copy of the text too
        from index import Indexer

        indexer = Indexer(store.root)
        try:
            indexer.index_paths([store.path_for(session_id) for session_id in report.fixed_sessions])
        finally:
            indexer.close()
    if args.json:
        _dump(report.as_json(), out)
    else:
        out.write("\n".join(describe_report(report)) + "\n")
    return 1 if report.findings and not args.fix else 0
def cmd_browse(args: argparse.Namespace, out: TextIO) -> int:
    import index.browse as browse  # it imports Datasette only after checking that it is installed

    root = resolve_root(args.root)  # only its index is read: no index there is said by browse (exit 1)

    def announce(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    try:
        browse.serve(root, args.host, args.port, open_browser=args.open, no_auth=args.no_auth, announce=announce)
    except browse.BrowseUnavailable as exc:
        raise UsageError(str(exc)) from exc
    except browse.NoIndex as exc:
        sys.stderr.write(f"sessions.py browse: {exc}\n")
        return 1
    return 0


COMMANDS = {
    "search": cmd_search,
    "show": cmd_show,
    "list": cmd_list,
    "status": cmd_status,
    "switches": cmd_switches,
    "stats": cmd_stats,
    "export": cmd_export,
    "git-setup": cmd_git_setup,
    "merge-driver": cmd_merge_driver,
    "scan": cmd_scan,
}
COMMANDS["browse"] = cmd_browse


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "session_id", None) is not None:
            validate_session_id(args.session_id)  # every command that takes an id refuses a bad one
        if args.command in COMMANDS:
            return COMMANDS[args.command](args, out)
        return sessions_organise.run(args, out, err) or 0
    except UnmergeableSession as exc:
        err.write(f"sessions.py merge-driver: cannot merge: {exc}; {args.ours} is left as it was\n")
        return 1
    except (InvalidQuery, InvalidSessionId, NoStore, UsageError, ValueError) as exc:
        err.write(f"sessions.py {args.command}: error: {exc}\n")
        return 2
    except WrongCase as exc:
        err.write(f"sessions.py {args.command}: {exc}\n")
        return 1
    except SessionNotFound as exc:
        if isinstance(exc, SessionQuarantined):  # says where the file went and how to restore it
            err.write(f"sessions.py {args.command}: {exc}\n")
            return 1
        err.write(f"sessions.py {args.command}: no session with id {exc.session_id!r}; `sessions.py list` shows the ids\n")
        return 1
    except (CorruptSession, UnsupportedSchemaVersion, StoreError) as exc:
        err.write(f"sessions.py {args.command}: {exc}\n")
        return 1
    except BrokenPipeError:  # the reader went away (`sessions.py list | head -1`)
        return closed_pipe_exit()
    except OSError as exc:  # e.g. --root is a file, or a folder that cannot be created
        where = f" {exc.filename}" if exc.filename else ""
        err.write(f"sessions.py {args.command}: error: cannot use{where}: {exc.strerror or exc}\n")
        return 2


if __name__ == "__main__":
    from utils.closed_pipe import run_command

    sys.exit(run_command(main))
