"""The tools users call at scale (``scripts/bench/tools_at_scale.py``): server.py over MCP stdio,
start-up to the first tools/list, p50/p95 of every read tool and resources/list.

Targets (issue 25), at 100,000 sessions / 1,000,000 messages (``BENCH_FULL=1``, ``make
bench-full``): every listing and resources/list p95 < 20 ms, get_session of 1,000 messages p95
< 20 ms, search p95 < 50 ms, start-up within 150 ms of ``import mcp.server.mcpserver`` (figures
recorded, never asserted: the machine is shared and noisy). The smoke test runs in ``make test``
with tiny sizes and checks the script's output, not its speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scripts.bench.tools_at_scale import REPO_ROOT, run
from tests.bench.figures import record
from tests.bench.sizes import SEED


def test_tools_at_scale(benchmark, search_root: Path) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "tools at scale"
    report = benchmark.pedantic(
        lambda: run(search_root.resolve(), REPO_ROOT / "server.py", SEED, repeat=30, budget=20.0, starts=5), rounds=1
    )
    record(benchmark, "import mcp.server.mcpserver p50 ms", report.import_sdk.p50_ms)
    record(benchmark, "start-up to first tools/list p50 ms", report.startup.p50_ms)
    for row in report.rows:
        if row.latency is not None:
            record(benchmark, f"{row.name} p95 ms", row.latency.p95_ms)


def test_the_script_times_every_tool(tmp_path: Path) -> None:
    out = tmp_path / "tools.json"
    completed = subprocess.run(
        [
            sys.executable, str(REPO_ROOT / "scripts" / "bench" / "tools_at_scale.py"), "--root", str(tmp_path / "root"),
            "--sessions", "30", "--messages", "4", "--repeat", "2", "--starts", "1", "--budget", "1", "--json", str(out),
        ],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    assert "start-up to first tools/list" in completed.stdout and "resources/list" in completed.stdout
    report = json.loads(out.read_text())["report"]
    assert report["sessions_on_disk"] == 31  # the corpus and the 1,000-message session
    rows = {row["name"]: row for row in report["rows"]}
    assert all(row["error"] is None and row["latency"]["n"] == 2 for row in rows.values()), rows
    assert rows["list_sessions(model, tag, since)"]["index_pending"] == 0
    assert any(name.startswith("search_sessions(") for name in rows)
