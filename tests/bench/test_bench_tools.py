"""The benchmark scripts and helpers work (tiny sizes, no timing asserts).

Ordinary tests: they run with ``make test`` and are skipped by ``--benchmark-only``. Each
standalone script is run as a subprocess the way the README shows, on a tiny corpus.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.bench.corpus import write_corpus
from scripts.bench.measure import format_table, percentile, summarize, time_calls
from scripts.bench.queries import bench_queries, grep_scan, naive_json_scan
from scripts.bench.workloads import FileReset, ensure_corpus

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH = REPO_ROOT / "scripts" / "bench"


def _run(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=timeout
    )


def test_percentile_nearest_rank() -> None:
    samples = [float(value) for value in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 95) == 95.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 100) == 100.0
    assert percentile([3.0], 99) == 3.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarize_and_table() -> None:
    latency = summarize("x", [0.001, 0.002, 0.003, 0.004])
    assert latency.p50_ms == pytest.approx(2.0) and latency.max_ms == pytest.approx(4.0)
    table = format_table([latency.row()])
    assert table.splitlines()[0].startswith("name") and "2.000" in table
    assert format_table([]) == "(no rows)"
    calls: list[str] = []
    durations = time_calls(lambda: calls.append("call"), 3, setup=lambda: calls.append("setup"), warmup=1)
    assert len(durations) == 3 and calls == ["setup", "call"] * 4


def test_naive_scans_agree_with_the_text(tmp_path: Path) -> None:
    write_corpus(tmp_path, 40, 8, seed=2)
    sessions = tmp_path / "sessions"
    queries = {query.name: query for query in bench_queries(2, 40)}
    assert len(queries) == 20
    assert naive_json_scan(sessions, queries["no hit"]) == [] and grep_scan(sessions, queries["no hit"]) == 0
    hits = naive_json_scan(sessions, queries["word common"], limit=5)
    assert 0 < len(hits) <= 5
    session_id, message_id = hits[0]
    document = json.loads((sessions / f"{session_id}.json").read_text(encoding="utf-8"))
    message = next(m for m in document["messages"] if m["id"] == message_id)
    assert "session" in message["content"].lower()
    assert grep_scan(sessions, queries["word common"]) > 0
    for hit_session, hit_message in naive_json_scan(sessions, queries["model filter"]):
        document = json.loads((sessions / f"{hit_session}.json").read_text(encoding="utf-8"))
        assert next(m for m in document["messages"] if m["id"] == hit_message)["model"] == "gemini-2.5-pro"


def test_ensure_corpus_reuses_a_complete_corpus_and_file_reset_restores(tmp_path: Path) -> None:
    ensure_corpus(tmp_path, 5, 3, seed=1)
    first = sorted((tmp_path / "sessions").iterdir())
    reset = FileReset(first[0])
    first[0].write_text("changed", encoding="utf-8")
    ensure_corpus(tmp_path, 5, 3, seed=1)  # marker matches: nothing rewritten
    assert first[0].read_text(encoding="utf-8") == "changed"
    reset()
    assert first[0].read_bytes() == reset.data
    ensure_corpus(tmp_path, 6, 3, seed=1)  # other parameters: written again
    assert len(list((tmp_path / "sessions").iterdir())) == 6


def test_search_and_reindex_scripts_on_a_tiny_corpus(tmp_path: Path) -> None:
    root = tmp_path / "root"
    done = _run("reindex_throughput.py", "--root", str(root), "--sessions", "30", "--messages", "6", "--json", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    figures = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["figures"]
    assert figures["sessions"] == 30 and figures["messages"] == 180 and figures["index_bytes"] > 0
    assert "no-op incremental reindex" in done.stdout
    done = _run("search_latency.py", "--root", str(root), "--sessions", "30", "--messages", "6", "--repeat", "2", "--naive", "3", "--json", str(tmp_path / "s.json"))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))["report"]
    assert len(report["queries"]) == 20
    assert report["queries"][0]["naive_json_ms"] is not None and report["queries"][3]["naive_json_ms"] is None
    assert "all 20 queries: p50" in done.stdout
    assert _run("search_latency.py", "--naive", "21").returncode == 2
    done = _run("search_latency.py", "--root", str(root), "--sessions", "30", "--messages", "6", "--repeat", "1", "--naive", "0", "--held-out")
    assert done.returncode == 0, done.stderr
    assert "all 32 queries: p50" in done.stdout and "prefix mod*" in done.stdout and "CJK + common word" in done.stdout


def test_turn_latency_script_on_a_tiny_corpus(tmp_path: Path) -> None:
    root = tmp_path / "root"
    done = _run("turn_latency.py", "--root", str(root), "--sessions", "20", "--large", "30", "--turns", "3", "--json", str(tmp_path / "t.json"))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))["report"]
    names = [result["name"] for result in report["results"]]
    assert names[:4] == [
        "store append, 10 msgs",
        "unified _chat_unified, 10 msgs",
        "unified, no inline index, 10 msgs",
        "legacy kimi_chat (LLM_UNIFIED=0), 10 msgs",
    ]
    assert set(report["ratios"]) == {"unified/legacy p50, 10 msgs", "unified/legacy p99, 10 msgs", "unified/legacy p50, 30 msgs", "unified/legacy p99, 30 msgs"}
    assert (tmp_path / "root-legacy").is_dir()
    assert _run("turn_latency.py", "--turns", "0").returncode == 2


def test_watcher_lag_script_on_a_tiny_corpus(tmp_path: Path) -> None:
    done = _run("watcher_lag.py", "--root", str(tmp_path / "root"), "--sessions", "20", "--rate", "20", "--seconds", "0.5", "--json", str(tmp_path / "w.json"))
    assert done.returncode == 0, done.stderr
    figures = json.loads((tmp_path / "w.json").read_text(encoding="utf-8"))["figures"]
    assert figures["writes"] == 10 and figures["unseen"] == 0 and figures["searchable_checked"] >= 1
    assert _run("watcher_lag.py", "--rate", "0").returncode == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status")
def test_server_rss_script_on_a_tiny_corpus(tmp_path: Path) -> None:
    done = _run("server_rss.py", "--root", str(tmp_path / "root"), "--sessions", "20", "--rounds", "1", "--json", str(tmp_path / "m.json"))
    assert done.returncode == 0, done.stderr
    figures = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))["figures"]
    assert figures["vm_hwm_mb"] > 10 and figures["tool_round_trip"]["n"] == 20 and figures["total_hits"] > 0
    assert _run("server_rss.py", "--rounds", "0").returncode == 2
