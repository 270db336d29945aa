"""The chat overhead users see (``scripts/bench/mcp_overhead.py``): server.py over MCP stdio, the
real adapter of ``--provider`` (OpenAI by default) and its loopback provider; overhead = chat -
trivial tool - direct HTTP, per turn.

Targets (issue 11): 10 messages p50 < 1 ms / p99 < 5 ms; 1,000 messages p50 < 3 ms / p99 < 10 ms
(figures recorded, never asserted: the machine is shared and noisy). The smoke test below runs in
``make test`` with tiny sizes and checks the script's output, not its speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.bench.mcp_overhead import PROVIDERS, REPO_ROOT, run
from tests.bench.figures import record
from tests.bench.sizes import SEED, BenchSizes


def test_mcp_chat_overhead(benchmark, turn_root: Path, sizes: BenchSizes) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "mcp overhead"
    report = benchmark.pedantic(
        lambda: run(
            turn_root.resolve(), REPO_ROOT / "server.py", SEED, sizes.turn_sessions, 10, turns=10, pause=0.1, per_size=3,
            in_process=True, sizes=(10, sizes.turn_large_messages),
        ),
        rounds=1,
    )
    for row in report.rows:
        record(benchmark, f"mcp chat overhead p50 ms, {row.messages} msgs", row.overhead.p50_ms)
        record(benchmark, f"mcp chat overhead p99 ms, {row.messages} msgs", row.overhead.p99_ms)
    for latency in report.in_process:
        record(benchmark, f"{latency.name} p50 ms", latency.p50_ms)
    if report.server_vm_hwm_mb is not None:
        record(benchmark, "mcp overhead server peak RSS MB", report.server_vm_hwm_mb)


def test_the_script_reports_every_row_as_json(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    completed = subprocess.run(
        [
            sys.executable, str(REPO_ROOT / "scripts" / "bench" / "mcp_overhead.py"), "--root", str(tmp_path / "root"),
            "--sessions", "5", "--messages", "2", "--sizes", "4,12", "--per-size", "1", "--turns", "2", "--pause", "0",
            "--json", str(out),
        ],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    assert "OVERHEAD chat - trivial - direct, 12 msgs" in completed.stdout
    assert "IN-PROCESS _chat_unified, instant adapter, 4 msgs" in completed.stdout
    report = json.loads(out.read_text())["report"]
    assert [row["messages"] for row in report["rows"]] == [4, 12]
    assert all(row["turns"] == 2 and row["chat"]["n"] == 2 for row in report["rows"])
    assert report["sessions_on_disk"] == 7


def test_bad_arguments_are_refused_with_a_message(tmp_path: Path) -> None:
    script = str(REPO_ROOT / "scripts" / "bench" / "mcp_overhead.py")
    for args, message in (
        (["--sizes", "ten"], "--sizes 'ten'"),
        (["--turns", "0"], "must be >= 1"),
        (["--server", str(tmp_path / "nope.py")], "no such file"),
    ):
        completed = subprocess.run([sys.executable, script, "--root", str(tmp_path / "r"), *args], capture_output=True, text=True, timeout=60)
        assert completed.returncode == 2 and message in completed.stderr


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_the_provider_option_chats_through_that_wire_format(tmp_path: Path, provider: str) -> None:
    out = tmp_path / "overhead.json"
    completed = subprocess.run(
        [
            sys.executable, str(REPO_ROOT / "scripts" / "bench" / "mcp_overhead.py"), "--root", str(tmp_path / "root"),
            "--sessions", "3", "--messages", "2", "--sizes", "6", "--per-size", "1", "--turns", "2", "--pause", "0",
            "--no-in-process", "--provider", provider, "--json", str(out),
        ],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    model = PROVIDERS[provider].model
    assert f"provider {provider} ({model})" in completed.stdout
    assert "OVERHEAD chat - trivial - direct, 6 msgs" in completed.stdout
    report = json.loads(out.read_text())["report"]
    assert (report["provider"], report["model"]) == (provider, model)
    assert [(row["messages"], row["turns"], row["direct_http"]["n"]) for row in report["rows"]] == [(6, 2, 2)]
    # The chatted-in session holds that model's answers: the fake echoed each prompt (warm-up + 2 turns).
    sessions = [json.loads(path.read_text()) for path in (tmp_path / "root" / "sessions").glob("*.json")]
    chatted = [session for session in sessions if any(str(m["content"]).startswith("Turn 1: ") for m in session["messages"])]
    assert len(chatted) == 1
    answers = [m for m in chatted[0]["messages"] if m["role"] == "assistant"][-3:]
    assert [m["model"] for m in answers] == [model] * 3
    assert all(m["content"].startswith("echo: ") and f"Turn {n}: " in m["content"] for n, m in enumerate(answers, 1))


def test_the_collector_is_off_only_while_turns_are_timed() -> None:
    import gc

    from scripts.bench.mcp_overhead import collector_between_turns

    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_between_turns():
        assert not gc.isenabled()
        raise RuntimeError("a failed turn")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_between_turns():
            pass
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()
