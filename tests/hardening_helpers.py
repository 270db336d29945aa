"""Shared machinery for the hardening tests (``tests/server/test_hardening_*.py``).

- :func:`mcp_server`: ``server.py`` as a subprocess driven by the SDK's real stdio MCP client,
  with its pid (for SIGKILL) and its stderr log; :func:`http_server`: ``server.py --transport
  http`` as a subprocess, for the SDK's streamable-HTTP client or raw requests;
- :func:`run_script` / :func:`start_script`: the CLIs under ``scripts/`` (and ``server.py``) as
  subprocesses, the suite's one runner;
- :func:`wait_until`: the suite's one bounded poll;
- :func:`snapshot` / :func:`index_strings`: byte-exact pictures of the session files and every
  text cell of every table of ``index.sqlite`` (for "nothing touched" and "no secret" proofs);
- :data:`FUZZ`: the hypothesis settings of the fuzz tests, short in CI, long with
  ``HARDENING_LONG=1``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, settings
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVER = REPO_ROOT / "server.py"
SCRIPTS = REPO_ROOT / "scripts"

#: ``HARDENING_LONG=1`` selects the long fuzz profile (hundreds of examples, longer runs).
LONG = os.environ.get("HARDENING_LONG", "") == "1"
settings.register_profile(
    "hardening-ci",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
settings.register_profile(
    "hardening-long",
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("hardening-long" if LONG else "hardening-ci")


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02, what: str = "condition") -> Any:
    """Poll ``predicate`` every ``interval`` s until it returns something truthy (returned)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(interval)


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for a child: no provider variables of the developer, coverage kept."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_BASE_URL")) and not key.startswith(("LLM_", "KIMI_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


# ------------------------------------------------------------------------------ MCP server


class McpClient:
    """A blocking facade over an MCP ``ClientSession`` running in a portal thread.

    ``pid`` and ``log_path`` (the server process and its stderr file) are known when the
    client was started by :func:`mcp_server`; other starters may leave them out.
    """

    def __init__(self, portal: BlockingPortal, session: ClientSession, pid: int = 0, log_path: Path | None = None) -> None:
        self.portal = portal
        self.session = session
        self.pid = pid
        self.log_path = log_path

    def raw(self, name: str, timeout: float = 60, **arguments: Any) -> Any:
        return self.portal.call(lambda: self.session.call_tool(name, arguments, read_timeout_seconds=timeout))

    def start(self, name: str, timeout: float = 60, **arguments: Any) -> Future[Any]:
        """Send ``name(**arguments)`` without waiting; the future holds the result."""
        return self.portal.start_task_soon(
            lambda: self.session.call_tool(name, arguments, read_timeout_seconds=timeout)
        )

    def call(self, name: str, **arguments: Any) -> dict[str, Any]:
        result = self.raw(name, **arguments)
        assert not result.is_error, result.content
        return result.structured_content

    def error(self, name: str, **arguments: Any) -> str:
        """The text of the tool error ``name(**arguments)`` must give."""
        result = self.raw(name, **arguments)
        assert result.is_error, result.structured_content
        return result.content[0].text

    def log(self) -> str:
        assert self.log_path is not None, "this client was started without a log file"
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _children_running(script: Path, marker: str) -> list[int]:
    """Pids of processes whose command line runs ``script`` with ``marker`` among its args."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        decoded = [arg.decode(errors="replace") for arg in args]
        if str(script) in decoded and marker in decoded:
            found.append(int(entry.name))
    return found


@contextmanager
def mcp_server(
    root: Path, env: dict[str, str], log_path: Path, cwd: Path | None = None, argv: list[str] | None = None
) -> Iterator[McpClient]:
    """``server.py --root root`` under the SDK's stdio client; yields a blocking client.

    ``env`` is the child's whole environment (see :func:`subprocess_env`). ``argv`` replaces
    the command (it must still name ``server.py`` and ``root``: that is how the pid is found).
    On exit the client closes stdin (the server exits); a server killed meanwhile is fine.
    """
    errlog = log_path.open("a", encoding="utf-8")
    command = argv or [sys.executable, str(SERVER), "--root", str(root)]
    params = StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=str(cwd or root.parent))
    with ExitStack() as stack:
        stack.callback(errlog.close)
        portal = stack.enter_context(start_blocking_portal())
        read, write = stack.enter_context(portal.wrap_async_context_manager(stdio_client(params, errlog=errlog)))
        session = stack.enter_context(portal.wrap_async_context_manager(ClientSession(read, write, read_timeout_seconds=60)))
        portal.call(session.initialize)
        pids = wait_until(lambda: _children_running(SERVER, str(root)), what="server pid")
        pid = max(pids)  # the newest server on this root (another may still be running)
        yield McpClient(portal, session, pid, log_path)


#: A valid ``initialize`` request and the headers MCP streamable HTTP needs, for raw requests.
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_server(tmp: Path, env: dict[str, str], *extra: str, host: str = "127.0.0.1") -> Iterator[tuple[str, Path]]:
    """``server.py --transport http --host host --root tmp/root`` until it accepts connections.

    Yields the ``/mcp`` URL and the server's stderr log; on exit SIGTERM, and the server must
    have exited 0.
    """
    port = free_port(host)
    log = tmp / "http.log"
    with log.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, str(SERVER), "--transport", "http", "--host", host, "--port", str(port),
             "--root", str(tmp / "root"), *extra],
            env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=errors, stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((host, port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.02)
        yield f"http://{host}:{port}/mcp", log
    finally:
        stop(process, timeout=20)
    assert process.returncode == 0, log.read_text()


def kill(pid: int) -> None:
    """SIGKILL ``pid`` (ignored if it is already gone)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ------------------------------------------------------------------------------ scripts


@dataclass
class ScriptResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_script(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None) -> ScriptResult:
    """Run ``scripts/<name>`` (or ``server.py``) with ``args`` to completion: the suite's one
    way to run a program of the project in a child process (stdin closed)."""
    program = SERVER if name == "server.py" else SCRIPTS / name
    done = subprocess.run(
        [sys.executable, str(program), *args],
        env=env or subprocess_env(),
        cwd=str(cwd or REPO_ROOT),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return ScriptResult(done.returncode, done.stdout, done.stderr)


def start_script(name: str, *args: str, log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``scripts/<name>`` in the background, stdout and stderr into ``log_path``."""
    handle = log_path.open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, str(SCRIPTS / name), *args],
            env=env or subprocess_env(),
            cwd=str(REPO_ROOT),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    finally:
        handle.close()


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, wait (bounded), SIGKILL as a last resort; return the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def settle_index(root: Path, timeout: float = 60) -> ScriptResult:
    """Run ``reindex.py`` then ``reindex.py --check`` until the check passes (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        run_script("reindex.py", "--root", str(root))
        check = run_script("reindex.py", "--root", str(root), "--check")
        if check.returncode == 0 or time.monotonic() > deadline:
            return check


# ------------------------------------------------------------------------------ snapshots


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` (relative path -> bytes); symlinks as ``-> target``."""
    result: dict[str, bytes] = {}
    if not folder.exists():
        return result
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            result[rel] = b"-> " + os.readlink(path).encode()
        elif path.is_file():
            result[rel] = path.read_bytes()
    return result


def session_files(root: Path) -> dict[str, bytes]:
    """``sessions/*.json`` of ``root`` (name -> bytes)."""
    folder = root / "sessions"
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def index_strings(db_path: Path) -> Iterator[tuple[str, str]]:
    """(table, text) for every text or blob cell of every table in the SQLite file (read-only)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            try:
                rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            except sqlite3.DatabaseError:
                continue  # FTS5 shadow internals that cannot be read directly
            for row in rows:
                for cell in row:
                    if isinstance(cell, bytes):
                        yield table, cell.decode("utf-8", errors="replace")
                    elif isinstance(cell, str):
                        yield table, cell
    finally:
        conn.close()


def legacy_document(session_id: str, messages: int, marker: str = "legacy") -> dict[str, Any]:
    """A legacy ``.kimi_sessions/<id>.json`` document as the old Kimi server wrote it."""
    return {
        "session_id": session_id,
        "model": "kimi-k2-0711-preview",
        "created_at": "2025-07-01T10:00:00",
        "updated_at": "2025-07-01T10:05:00",
        "messages": [
            {"role": "user" if i % 2 == 0 else "assistant", "content": f"{marker} {session_id} message {i}"}
            for i in range(messages)
        ],
    }


def write_legacy_folder(folder: Path, count: int, messages: int = 4, marker: str = "legacy") -> list[str]:
    """Write ``count`` legacy sessions into ``folder``; return their ids."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(count):
        session_id = f"kimi_{20250701 + i // 100}_{i:05d}"
        (folder / f"{session_id}.json").write_text(json.dumps(legacy_document(session_id, messages, marker)), encoding="utf-8")
        ids.append(session_id)
    return ids


# ------------------------------------------------------------------------------ appender


def _append_loop(root: str, prefix: str, seconds: float) -> int:
    """Append ``<prefix>-<n>`` messages round-robin to sessions ``<prefix>-s0..s2`` (and the
    servers' ``shared-0``) for ``seconds``; print each marker once its write has returned."""
    sys.path.insert(0, str(REPO_ROOT))
    from store import Message, SessionExists, SessionStore

    store = SessionStore(root)
    targets = [f"{prefix}-s{i}" for i in range(3)] + ["shared-0"]
    for session_id in targets:
        try:
            store.create(session_id, model="appender")
        except SessionExists:
            pass
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        marker = f"{prefix}-{count}"
        store.append_message(targets[count % len(targets)], Message(role="user", content=marker))
        print(marker, flush=True)
        count += 1
    return 0


if __name__ == "__main__":  # python tests/hardening_helpers.py append ROOT PREFIX SECONDS
    if len(sys.argv) == 5 and sys.argv[1] == "append":
        sys.exit(_append_loop(sys.argv[2], sys.argv[3], float(sys.argv[4])))
    sys.exit("usage: hardening_helpers.py append ROOT PREFIX SECONDS")
