"""What a user sees: the overhead a ``chat`` turn adds, through MCP stdio, the real adapters and a loopback provider.

Starts ``python server.py --root ROOT`` as a subprocess (or the ``--server`` given, e.g. an older
checkout, for before/after figures from the same command), talks to it with the MCP SDK's stdio
client, and points the adapter of ``--provider`` (``openai``, the default; ``anthropic``; ``gemini``) at
that wire format's loopback fake provider (``tests.fakes.FakeOpenAI``, ``FakeAnthropic``, ``FakeGemini``:
real HTTP on 127.0.0.1, validating the wire format). Every measured turn is three timed calls:

* ``chat``: the ``chat`` tool's round trip (load, prompt, HTTP call to the fake, store, index);
* ``direct HTTP``: the exact body the server just sent, POSTed by this process to the same URL of the
  fake with the same key and a kept-alive client (what the provider call costs without the server);
* ``trivial tool``: a ``list_models`` round trip (what MCP stdio itself costs);

and its overhead is ``chat - trivial tool - direct HTTP`` (per turn; p50/p99 of those). Sessions of
10 and of 1,000 messages are used, with ``--sessions`` corpus sessions (10,000) on disk and indexed;
each session gets one untimed warm-up turn, then ``--turns`` timed consecutive turns (the session
grows by two messages per turn, as in a conversation), with ``--pause`` seconds between turns (a
real provider takes that long or longer, so the background index watcher has settled). This
process's own garbage collector runs between turns, untimed, not inside the timed calls (see
:func:`collector_between_turns`).

Beside it, labelled as in-process, the same turns through ``chat.run_turn`` with an instant
in-process adapter (no MCP, no HTTP): the session layer alone. The server's peak RSS (VmHWM) is
read from ``/proc`` at the end (Linux).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import anyio  # noqa: E402
import httpx  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from scripts.bench.chat_paths import LoopRunner, bench_app, close_app, unified_turn  # noqa: E402
from scripts.bench.corpus import default_jobs, generate_session, stderr_progress  # noqa: E402
from scripts.bench.machine import describe, save_results  # noqa: E402
from scripts.bench.measure import Latency, format_table, summarize  # noqa: E402
from scripts.bench.server_rss import find_server_pid, proc_status_kb  # noqa: E402
from scripts.bench.turn_latency import measure_chat_turns  # noqa: E402
from scripts.bench.workloads import add_corpus_arguments, ensure_corpus  # noqa: E402
from store.codec import encode_session  # noqa: E402
from store.paths import Layout, resolve_root  # noqa: E402
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI, FakeProvider, RecordedRequest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ProviderTarget:
    """A wire format to measure: its loopback fake, the variables that point the server at it, the
    model chatted with, and the headers a direct call to the fake needs (from the fake's key)."""

    fake: Callable[[], FakeProvider]
    env_prefix: str
    model: str
    headers: Callable[[str], dict[str, str]]


PROVIDERS: dict[str, ProviderTarget] = {
    "openai": ProviderTarget(FakeOpenAI, "OPENAI", "gpt-4o", lambda key: {"Authorization": f"Bearer {key}"}),
    "anthropic": ProviderTarget(
        FakeAnthropic, "ANTHROPIC", "claude-sonnet-4-5", lambda key: {"x-api-key": key, "anthropic-version": "2023-06-01"}
    ),
    "gemini": ProviderTarget(FakeGemini, "GEMINI", "gemini-2.5-flash", lambda key: {"x-goog-api-key": key}),
}
MODEL = PROVIDERS["openai"].model
# Corpus indexes of the sessions this benchmark talks to: far above any corpus size.
FIRST_TURN_INDEX = 20_000_000


class OverheadRow(BaseModel):
    """One session size: the three timed calls and the overhead, per turn, in milliseconds."""

    messages: int
    sessions: int
    turns: int
    chat: Latency
    direct_http: Latency
    trivial_tool: Latency
    overhead: Latency
    overhead_ms: list[float]  # per turn, in the order measured (where the tail falls)


class OverheadReport(BaseModel):
    server: str
    provider: str = "openai"
    model: str = MODEL
    sessions_on_disk: int
    pause_seconds: float
    rows: list[OverheadRow]
    server_vm_hwm_mb: float | None
    in_process: list[Latency]


def turn_sessions(root: Path, seed: int, messages: int, count: int, offset: int) -> list[str]:
    """Write ``count`` sessions of ``messages`` messages (fresh bytes each run); their ids."""
    layout = Layout(root)
    ids = []
    for number in range(count):
        session = generate_session(seed, FIRST_TURN_INDEX + offset + number, messages)
        layout.session_file(session.id).write_bytes(encode_session(session))
        ids.append(session.id)
    return ids


def index_with(server_py: Path, root: Path) -> None:
    """Rebuild the index of ``root`` with the code of ``server_py``'s checkout (its schema).

    Run in a subprocess so an older checkout (``--server``) builds the index it expects, and its
    server does not rebuild it while being measured.
    """
    # A full sync: the bulk path (an incremental sync into an index of another schema crawls).
    code = "import sys; sys.path.insert(0, sys.argv[1]); from index import Indexer; Indexer(sys.argv[2]).sync(full=True)"
    subprocess.run([sys.executable, "-c", code, str(server_py.parent), str(root)], check=True, cwd=str(server_py.parent))


def _prompt(number: int) -> str:
    return f"Turn {number}: does the watcher debounce atomic renames? 索引"


@contextlib.contextmanager
def collector_between_turns() -> Iterator[None]:
    """Turn this process's automatic garbage collection off (the caller collects between turns).

    This process hosts the loopback fake, which decodes and validates every body it is sent
    (~250 KB at 1,000 messages), and the MCP client: its collector's full passes (~40 ms, at
    the same turns from run to run) fell inside timed calls and were the 1,000-message p99,
    in the chat round trip and the direct HTTP call alike. The server's own collector is left
    as it is: that one is part of what users see.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _sent_url(fake: FakeProvider, request: RecordedRequest) -> str:
    """The URL ``request`` was POSTed to (Gemini's names the model and asks for a stream in it)."""
    query = urlencode(request.query, doseq=True)
    return f"{fake.origin}{request.path}{'?' + query if query else ''}"


async def _exercise(
    server_py: Path, root: Path, groups: list[tuple[int, list[str]]], turns: int, pause: float, target: ProviderTarget
) -> tuple[list[OverheadRow], float | None]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    rows: list[OverheadRow] = []
    with target.fake() as fake:
        params = StdioServerParameters(
            command=sys.executable,
            args=[str(server_py), "--root", str(root)],
            cwd=str(server_py.parent),
            env={"LLM_LOG_LEVEL": "WARNING", **fake.env(target.env_prefix)},
        )
        headers = {"Content-Type": "application/json", **target.headers(fake.api_key or "")}
        async with Client(params, read_timeout_seconds=600) as client, httpx.AsyncClient() as http:
            pid = find_server_pid(os.getpid(), marker=server_py.name)
            counter = 0

            async def one_turn(session_id: str) -> tuple[float, float, float]:
                nonlocal counter
                counter += 1
                begun = time.perf_counter()
                arguments = {"prompt": _prompt(counter), "model": target.model, "session_id": session_id}
                result = await client.call_tool("chat", arguments)
                chat = time.perf_counter() - begun
                if result.is_error:
                    raise RuntimeError(f"chat failed: {result.content}")
                sent = fake.requests[-1]
                url = _sent_url(fake, sent)
                fake.reset()
                begun = time.perf_counter()
                answer = await http.post(url, content=sent.raw, headers=headers)
                direct = time.perf_counter() - begun
                answer.raise_for_status()
                begun = time.perf_counter()
                await client.call_tool("list_models", {})
                trivial = time.perf_counter() - begun
                gc.collect()  # untimed (see collector_between_turns)
                await anyio.sleep(pause)
                return chat, direct, trivial

            with collector_between_turns():
                for messages, session_ids in groups:
                    samples: list[tuple[float, float, float]] = []
                    for session_id in session_ids:
                        await one_turn(session_id)  # warm-up: first read of the file, model switch to the target's
                        for _ in range(turns):
                            samples.append(await one_turn(session_id))
                    chats, directs, trivials = zip(*samples)
                    label = f"{messages} msgs"
                    rows.append(
                        OverheadRow(
                            messages=messages,
                            sessions=len(session_ids),
                            turns=len(samples),
                            chat=summarize(f"chat round trip, {label}", chats),
                            direct_http=summarize(f"direct HTTP, same body, {label}", directs),
                            trivial_tool=summarize(f"trivial tool round trip, {label}", trivials),
                            overhead=summarize(f"OVERHEAD chat - trivial - direct, {label}", [c - t - d for c, d, t in samples]),
                            overhead_ms=[round((c - t - d) * 1000, 3) for c, d, t in samples],
                        )
                    )
            hwm = proc_status_kb(pid, "VmHWM") / 1024 if Path(f"/proc/{pid}/status").exists() else None
    return rows, hwm


def in_process_rows(root: Path, groups: list[tuple[int, list[str]]], turns: int) -> list[Latency]:
    """The same warm turns through ``chat.run_turn`` with an instant in-process adapter (no MCP, no HTTP)."""
    runner = LoopRunner()
    app = bench_app(root, root.parent / "legacy-unused")
    store = app.store
    results = []
    try:
        for messages, session_ids in groups:
            durations: list[float] = []
            for session_id in session_ids:
                path = store.path_for(session_id)
                durations += measure_chat_turns(runner, unified_turn(app, session_id, MODEL), path, turns, warmup=1, restore=False)
            results.append(summarize(f"IN-PROCESS _chat_unified, instant adapter, {messages} msgs", durations))
    finally:
        close_app(app)
        runner.close()
    return results


def run(
    root: Path,
    server_py: Path,
    seed: int,
    sessions: int,
    messages: int,
    turns: int,
    pause: float,
    per_size: int,
    in_process: bool,
    sizes: Sequence[int] = (10, 1000),
    provider: str = "openai",
) -> OverheadReport:
    target = PROVIDERS[provider]
    ensure_corpus(root, sessions, messages, seed, jobs=default_jobs(), progress=stderr_progress("corpus"))
    groups = [(size, turn_sessions(root, seed, size, per_size, number * 1000)) for number, size in enumerate(sizes)]
    index_with(server_py, root)
    rows, hwm = anyio.run(_exercise, server_py, root, groups, turns, pause, target)
    extra = in_process_rows(root, groups, turns) if in_process else []
    gc.collect()
    return OverheadReport(
        server=str(server_py),
        provider=provider,
        model=target.model,
        sessions_on_disk=sessions + 2 * per_size,
        pause_seconds=pause,
        rows=rows,
        server_vm_hwm_mb=hwm,
        in_process=extra,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcp_overhead.py", description=__doc__.split("\n\n")[0])
    add_corpus_arguments(parser, sessions=10_000)
    parser.add_argument("--server", default=str(REPO_ROOT / "server.py"), help="the server.py to run (default: this checkout's)")
    parser.add_argument(
        "--provider", choices=sorted(PROVIDERS), default="openai",
        help="the wire format chatted with, through its adapter and loopback fake (default: openai)",
    )
    parser.add_argument("--turns", type=int, default=20, help="timed turns per session (default: 20)")
    parser.add_argument("--per-size", type=int, default=10, help="sessions of each size (default: 10)")
    parser.add_argument(
        "--sizes", default="10,1000", help="messages in the chatted-in sessions, comma-separated (default: 10,1000)"
    )
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between turns, untimed (default: 0.1)")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process rows")
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.sessions < 1 or args.messages < 1 or args.turns < 1 or args.per_size < 1 or args.pause < 0:
        print("mcp_overhead.py: --sessions, --messages, --turns and --per-size must be >= 1, --pause >= 0", file=sys.stderr)
        return 2
    try:
        sizes = [int(item) for item in args.sizes.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        print(f"mcp_overhead.py: --sizes {args.sizes!r}: give whole numbers >= 1, e.g. 10,1000", file=sys.stderr)
        return 2
    server_py = Path(args.server).resolve()
    if not server_py.is_file():
        print(f"mcp_overhead.py: --server {args.server}: no such file", file=sys.stderr)
        return 2
    machine = describe()
    root = resolve_root(args.root).resolve()
    report = run(
        root, server_py, args.seed, args.sessions, args.messages, args.turns, args.pause, args.per_size,
        not args.no_in_process, sizes, args.provider,
    )
    print(machine.line())
    print(f"server {report.server}, provider {report.provider} ({report.model}), {report.sessions_on_disk:,} sessions on disk, {report.pause_seconds:g} s between turns")
    table = []
    for row in report.rows:
        table += [row.overhead.row(), row.chat.row(), row.direct_http.row(), row.trivial_tool.row()]
    table += [latency.row() for latency in report.in_process]
    print(format_table(table))
    if report.server_vm_hwm_mb is not None:
        print(f"server peak RSS (VmHWM): {report.server_vm_hwm_mb:.1f} MB")
    if args.json:
        save_results(args.json, machine, report=report)
    return 0


if __name__ == "__main__":
    from scripts.bench.corpus import cli_exit_code

    sys.exit(cli_exit_code(main))
