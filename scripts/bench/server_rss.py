"""Peak memory (VmHWM) of the real server process with an indexed corpus.

Starts ``python server.py --root ROOT`` as a subprocess, talks to it over stdio with the MCP
SDK's client, runs the 20 benchmark queries through the ``search_sessions`` tool (timing each
round trip), then reads ``VmHWM`` (peak resident set) and ``VmRSS`` from
``/proc/<pid>/status``. The index is built first if ``ROOT`` has none (the server's own
watcher start-up sync then finds nothing to do). Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import anyio  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from scripts.bench.corpus import default_jobs, stderr_progress  # noqa: E402
from scripts.bench.machine import describe, save_results  # noqa: E402
from scripts.bench.measure import Latency, format_table, summarize  # noqa: E402
from scripts.bench.queries import bench_queries  # noqa: E402
from scripts.bench.search_latency import ensure_index  # noqa: E402
from scripts.bench.workloads import add_corpus_arguments, ensure_corpus  # noqa: E402
from store.paths import resolve_root  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]


class RssFigures(BaseModel):
    sessions: int
    messages: int
    pid: int
    vm_hwm_mb: float
    vm_rss_mb: float
    vm_hwm_before_queries_mb: float
    startup_seconds: float
    tool_round_trip: Latency
    total_hits: int


def proc_status_kb(pid: int, field: str) -> int:
    """A ``kB`` field (``VmHWM``, ``VmRSS``) of ``/proc/<pid>/status``."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/{pid}/status")


def find_server_pid(parent: int, marker: str = "server.py") -> int:
    """The pid of the child of ``parent`` whose command line contains ``marker``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="utf-8")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        # Field 4 of /proc/<pid>/stat is the parent pid; the command name (field 2) may hold spaces.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and marker in cmdline:
            return int(entry.name)
    raise LookupError(f"no child process of {parent} runs {marker}")


class _Run(BaseModel):
    pid: int
    startup_seconds: float
    durations: list[float]
    hits: int
    vm_hwm_before_queries_kb: int
    vm_hwm_kb: int
    vm_rss_kb: int


async def _exercise(root: Path, seed: int, sessions: int, rounds: int) -> _Run:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=[str(REPO_ROOT / "server.py"), "--root", str(root)],
        cwd=str(REPO_ROOT),
        env={"LLM_LOG_LEVEL": "WARNING"},
    )
    started = time.perf_counter()
    durations: list[float] = []
    hits = 0
    async with Client(params, read_timeout_seconds=600) as client:
        startup = time.perf_counter() - started
        pid = find_server_pid(os.getpid())
        await client.list_tools()
        before_queries = proc_status_kb(pid, "VmHWM")
        for _ in range(rounds):
            for query in bench_queries(seed, sessions):
                arguments: dict[str, object] = {"query": query.query}
                for key, value in query.search_kwargs().items():
                    arguments[key] = value.isoformat() if hasattr(value, "isoformat") else value
                begun = time.perf_counter()
                result = await client.call_tool("search_sessions", arguments)
                durations.append(time.perf_counter() - begun)
                if result.is_error:
                    raise RuntimeError(f"search_sessions failed for {query.name}: {result.content}")
                hits += len((result.structured_content or {}).get("hits", []))
        return _Run(
            pid=pid,
            startup_seconds=startup,
            durations=durations,
            hits=hits,
            vm_hwm_before_queries_kb=before_queries,
            vm_hwm_kb=proc_status_kb(pid, "VmHWM"),
            vm_rss_kb=proc_status_kb(pid, "VmRSS"),
        )


def measure_rss(root: Path, seed: int, sessions: int, messages: int, rounds: int = 3) -> RssFigures:
    """Run the server over ``root`` (a corpus of ``sessions`` x ``messages``) and measure it."""
    run = anyio.run(_exercise, root, seed, sessions, rounds)
    return RssFigures(
        sessions=sessions,
        messages=sessions * messages,
        pid=run.pid,
        vm_hwm_mb=run.vm_hwm_kb / 1024,
        vm_rss_mb=run.vm_rss_kb / 1024,
        vm_hwm_before_queries_mb=run.vm_hwm_before_queries_kb / 1024,
        startup_seconds=run.startup_seconds,
        tool_round_trip=summarize("search_sessions round trip (MCP stdio)", run.durations),
        total_hits=run.hits,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="server_rss.py", description=__doc__.split("\n\n")[0])
    add_corpus_arguments(parser, sessions=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="times the 20 queries are sent (default: 3)")
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.sessions < 1 or args.messages < 1 or args.rounds < 1:
        print("server_rss.py: --sessions, --messages and --rounds must be >= 1", file=sys.stderr)
        return 2
    if not Path("/proc/self/status").exists():
        print("server_rss.py: needs Linux /proc to read the peak RSS", file=sys.stderr)
        return 2
    machine = describe()
    root = resolve_root(args.root)
    ensure_corpus(root, args.sessions, args.messages, args.seed, jobs=default_jobs(), progress=stderr_progress("corpus"))
    ensure_index(root)
    figures = measure_rss(root.resolve(), args.seed, args.sessions, args.messages, rounds=args.rounds)
    print(machine.line())
    print(
        f"server over {figures.sessions:,} sessions / {figures.messages:,} messages: peak RSS (VmHWM) "
        f"{figures.vm_hwm_mb:.1f} MB ({figures.vm_hwm_before_queries_mb:.1f} MB before the first query), RSS now {figures.vm_rss_mb:.1f} MB, start-up + handshake {figures.startup_seconds:.2f} s"
    )
    print(format_table([figures.tool_round_trip.row()]))
    if args.json:
        save_results(args.json, machine, figures=figures)
    return 0


if __name__ == "__main__":
    from scripts.bench.corpus import cli_exit_code

    sys.exit(cli_exit_code(main))
