"""The tools users call, at the size of a year of history, through MCP stdio: start-up to the first
``tools/list``, and p50/p95 of every read tool and ``resources/list``.

Runs ``python server.py --root ROOT`` (or the ``--server`` given, e.g. an older checkout, for
before/after figures from the same command) against a corpus made by ``make_corpus.py`` (written
here if ``ROOT/sessions`` is missing), plus one 1,000-message session. The index is brought up to
date with the server's own code in a subprocess first, and the timing waits for ``index_pending``
0, so what is timed is a server at rest.
Each operation gets one untimed warm-up call, then up to ``--repeat`` timed calls within
``--budget`` seconds (a slow one gets fewer samples, never fewer than one; a warm-up slower
than the budget is the one sample). Start-up is timed
``--starts`` times from the spawn to the answer of the first ``tools/list``, beside the time of
``python -c "import mcp.server.mcpserver"`` alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import anyio  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from scripts.bench.corpus import base_time, default_jobs, generate_session, session_time, stderr_progress, write_corpus  # noqa: E402
from scripts.bench.machine import describe, save_results  # noqa: E402
from scripts.bench.measure import Latency, format_table, summarize  # noqa: E402
from scripts.bench.queries import bench_queries  # noqa: E402
from store.codec import encode_session  # noqa: E402
from store.paths import Layout, resolve_root  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
LONG_SESSION = "bench-long-1000"


class ToolRow(BaseModel):
    name: str
    latency: Latency | None
    error: str | None = None
    index_pending: int | None = None


class ScaleReport(BaseModel):
    server: str
    sessions_on_disk: int
    import_sdk: Latency
    startup: Latency
    rows: list[ToolRow]


def add_long_session(root: Path, seed: int, messages: int = 1000) -> str:
    """One session of ``messages`` messages (for ``get_session``), written once."""
    path = Layout(root).session_file(LONG_SESSION)
    if not path.exists():
        session = generate_session(seed + 7, 0, messages).model_copy(update={"id": LONG_SESSION})
        path.write_bytes(encode_session(session))
    return LONG_SESSION


def index_with(server_py: Path, root: Path) -> None:
    """Bring ``root``'s index up to date with the code of ``server_py``'s checkout (its schema)."""
    code = "import sys; sys.path.insert(0, sys.argv[1]); from index import Indexer; Indexer(sys.argv[2]).sync()"
    subprocess.run([sys.executable, "-c", code, str(server_py.parent), str(root)], check=True, cwd=str(server_py.parent))


def time_import(starts: int) -> Latency:
    durations = []
    for _ in range(starts):
        begun = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import mcp.server.mcpserver"], check=True)
        durations.append(time.perf_counter() - begun)
    return summarize("import mcp.server.mcpserver", durations)


def _params(server_py: Path, root: Path) -> Any:
    from mcp.client.stdio import StdioServerParameters

    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    env["LLM_LOG_LEVEL"] = "WARNING"
    return StdioServerParameters(command=sys.executable, args=[str(server_py), "--root", str(root)], cwd=str(server_py.parent), env=env)


async def _startup(server_py: Path, root: Path, starts: int) -> Latency:
    from mcp import Client

    durations = []
    for _ in range(starts):
        begun = time.perf_counter()
        async with Client(_params(server_py, root), read_timeout_seconds=600) as client:
            await client.list_tools()
            durations.append(time.perf_counter() - begun)
    return summarize("start-up to first tools/list", durations)


def operations(seed: int, sessions: int, long_id: str, short_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(row name, tool or ``resources/list``, arguments) of every timed operation."""
    middle = session_time(seed, sessions // 2)
    ops: list[tuple[str, str, dict[str, Any]]] = [
        ("list_sessions()", "list_sessions", {}),
        ("list_sessions(limit=50, offset=200)", "list_sessions", {"limit": 50, "offset": 200}),
        ("list_sessions(model=gpt-4o)", "list_sessions", {"model": "gpt-4o"}),
        ("list_sessions(model=ollama, offset=1000)", "list_sessions", {"model": "ollama/qwen2.5-coder", "offset": 1000}),
        ("list_sessions(tag=perf)", "list_sessions", {"tag": "perf"}),
        ("list_sessions(query=watcher)", "list_sessions", {"query": "watcher"}),
        ("list_sessions(query=id prefix)", "list_sessions", {"query": short_id[:11]}),
        ("list_sessions(since/until)", "list_sessions", {"since": base_time(seed).date().isoformat(), "until": middle.date().isoformat()}),
        ("list_sessions(model, tag, since)", "list_sessions", {"model": "kimi-k2", "tag": "bug", "since": middle.date().isoformat()}),
        ("model_switch_history()", "model_switch_history", {}),
        ("model_switch_history(model=gpt-4o)", "model_switch_history", {"model": "gpt-4o"}),
        ("resources/list", "resources/list", {}),
        ("get_session(10 msgs)", "get_session", {"session_id": short_id}),
        ("get_session(1000 msgs, limit=50)", "get_session", {"session_id": long_id}),
        ("get_session(1000 msgs, limit=500)", "get_session", {"session_id": long_id, "limit": 500}),
    ]
    for query in bench_queries(seed, sessions)[:15]:
        arguments: dict[str, Any] = {"query": query.query}
        arguments.update({key: value.isoformat() if hasattr(value, "isoformat") else value for key, value in query.search_kwargs().items()})
        ops.append((f"search_sessions({query.name})", "search_sessions", arguments))
    return ops


async def _timed(call: Callable[[], Awaitable[Any]], repeat: int, budget: float) -> tuple[list[float], Any]:
    begun = time.perf_counter()
    result = await call()  # warm-up
    warm_up = time.perf_counter() - begun
    if warm_up > budget:  # a call slower than the whole budget (the listings before issue 25): one sample
        return [warm_up], result
    durations: list[float] = []
    stop = time.perf_counter() + budget
    while len(durations) < repeat and (not durations or time.perf_counter() < stop):
        begun = time.perf_counter()
        result = await call()
        durations.append(time.perf_counter() - begun)
    return durations, result


async def _until_current(client: Any, timeout: float = 900.0) -> None:
    """Wait until the server's index has caught up (``index_pending`` 0; older servers have none)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        result = await client.call_tool("list_sessions", {"limit": 1})
        if (result.structured_content or {}).get("index_pending", 0) == 0:
            return
        await anyio.sleep(0.1)
    raise RuntimeError("the server's index did not catch up")


async def _tools(server_py: Path, root: Path, ops: list[tuple[str, str, dict[str, Any]]], repeat: int, budget: float) -> list[ToolRow]:
    from mcp import Client

    rows: list[ToolRow] = []
    async with Client(_params(server_py, root), read_timeout_seconds=600) as client:
        await _until_current(client)
        for name, tool, arguments in ops:
            if tool == "resources/list":
                durations, _ = await _timed(client.list_resources, repeat, budget)
                rows.append(ToolRow(name=name, latency=summarize(name, durations)))
                continue

            async def call(tool: str = tool, arguments: dict[str, Any] = arguments) -> Any:
                return await client.call_tool(tool, arguments)

            durations, result = await _timed(call, repeat, budget)
            if result.is_error:
                text = " ".join(getattr(item, "text", "") for item in result.content)[:120]
                rows.append(ToolRow(name=name, latency=None, error=text))
                continue
            pending = (result.structured_content or {}).get("index_pending")
            rows.append(ToolRow(name=name, latency=summarize(name, durations), index_pending=pending))
            print(f"  {name}: p50 {rows[-1].latency.p50_ms:.1f} ms", file=sys.stderr)  # type: ignore[union-attr]
    return rows


def run(root: Path, server_py: Path, seed: int, *, repeat: int, budget: float, starts: int) -> ScaleReport:
    long_id = add_long_session(root, seed)
    names = sorted(entry.name for entry in os.scandir(Layout(root).sessions) if entry.name.endswith(".json"))
    short_id = names[len(names) // 2].removesuffix(".json")
    index_with(server_py, root)
    sessions = sum(1 for name in names if name != f"{long_id}.json")
    ops = operations(seed, sessions, long_id, short_id)
    import_sdk = time_import(starts)
    startup = anyio.run(_startup, server_py, root, starts)
    rows = anyio.run(_tools, server_py, root, ops, repeat, budget)
    return ScaleReport(server=str(server_py), sessions_on_disk=len(names), import_sdk=import_sdk, startup=startup, rows=rows)


def report_rows(report: ScaleReport) -> list[dict[str, Any]]:
    rows = [report.import_sdk.row(), report.startup.row()]
    rows[0]["name"], rows[1]["name"] = "import mcp.server.mcpserver", "start-up to first tools/list"
    for row in report.rows:
        if row.latency is None:
            rows.append({"name": row.name, "n": 0, "p50 ms": "error", "p95 ms": row.error or "", "p99 ms": "", "mean ms": "", "max ms": ""})
        else:
            rows.append(row.latency.row())
    return [{key: value for key, value in row.items() if key != "p99 ms"} for row in rows]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tools_at_scale.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="corpus root (default: $LLM_SESSIONS_DIR or ./.llm_sessions)")
    parser.add_argument("--sessions", type=int, default=100_000, help="sessions to write if ROOT/sessions is missing (default: 100000)")
    parser.add_argument("--messages", type=int, default=10, help="messages per written session (default: 10)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default: 1)")
    parser.add_argument("--server", default=str(REPO_ROOT / "server.py"), help="the server.py to run (default: this checkout's)")
    parser.add_argument("--repeat", type=int, default=40, help="timed calls per operation at most (default: 40)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of timed calls per operation at most (default: 20)")
    parser.add_argument("--starts", type=int, default=5, help="timed server start-ups (default: 5)")
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    server_py = Path(args.server).resolve()
    if not server_py.is_file() or args.repeat < 1 or args.starts < 1 or args.budget <= 0:
        print("tools_at_scale.py: --server must be a file; --repeat, --starts, --budget must be positive", file=sys.stderr)
        return 2
    root = resolve_root(args.root).resolve()
    if not Layout(root).sessions.is_dir():
        write_corpus(root, args.sessions, args.messages, args.seed, jobs=default_jobs(), progress=stderr_progress("corpus"))
    report = run(root, server_py, args.seed, repeat=args.repeat, budget=args.budget, starts=args.starts)
    machine = describe()
    print(machine.line())
    print(f"server: {report.server}; {report.sessions_on_disk} sessions on disk at {root}")
    print(format_table(report_rows(report)))
    if args.json:
        save_results(args.json, machine, report=report)
    return 0


if __name__ == "__main__":
    from scripts.bench.corpus import cli_exit_code

    sys.exit(cli_exit_code(main))
