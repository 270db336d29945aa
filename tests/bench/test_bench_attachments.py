"""What attachments cost: preparing a directory, and a chat turn with a file attached vs without.

In-process (``InstantAdapter``, real store, real index): the turn with a 100 KB file attached
pays for reading and checking it, the idempotent blob write, expanding the reference at send
time (read + SHA-256 check of the blob) and indexing its text. Each round uses a new session,
so every prompt holds the file once.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

import server
from chat.attachments import prepare_attachments
from scripts.bench.chat_paths import LoopRunner, bench_app, close_app
from tests.bench.figures import median_ms, record
from tests.chat_helpers import chat_unified

MEDIANS: dict[str, float] = {}
MODEL = "gpt-4o"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for index in range(199):  # + big.py: the 200-file cap
        path = root / f"pkg{index % 10}" / f"module_{index:03}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"def function_{index}_{line}():\n    return {line}\n" for line in range(40)))
    (root / "big.py").write_text("value = 'abcdefghij'  # a line of code\n" * 2700)  # ~100 KB
    return root


@pytest.fixture
def runner() -> Iterator[LoopRunner]:
    loop = LoopRunner()
    yield loop
    loop.close()


def test_prepare_a_directory_of_200_files(benchmark, project: Path) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "attachments: prepare"
    prepared = benchmark(lambda: prepare_attachments([str(project)], roots=[project]))
    assert len(prepared.files) == 200
    record(benchmark, "prepare 200 files p50 ms", median_ms(benchmark))


@pytest.mark.parametrize("attached", [False, True], ids=["plain", "100KB-file"])
def test_turn_with_and_without_an_attachment(benchmark, project: Path, tmp_path: Path, runner: LoopRunner, monkeypatch, attached: bool) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LLM_MCP_FILE_ROOTS", str(project))
    app = bench_app(tmp_path / "root", tmp_path / "legacy")
    files = [str(project / "big.py")] if attached else None
    numbers = count()
    benchmark.group = "attachments: turn"
    try:
        result = benchmark.pedantic(
            lambda: runner.run(chat_unified(app, f"question {next(numbers)}", MODEL, files=files)), rounds=60, warmup_rounds=3
        )
    finally:
        close_app(app)
    assert result["model"] == MODEL
    label = "turn with a 100 KB file" if attached else "turn without attachments"
    MEDIANS[label] = median_ms(benchmark)
    record(benchmark, f"{label} p50 ms", MEDIANS[label])
    if len(MEDIANS) == 2:
        record(benchmark, "attachment turn / plain turn", MEDIANS["turn with a 100 KB file"] / MEDIANS["turn without attachments"], "x")
