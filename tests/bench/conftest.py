"""Fixtures of the benchmark suites: corpus sizes and corpora built once per run.

``make bench`` runs the quick sizes (well under two minutes); ``BENCH_FULL=1`` (``make
bench-full``) selects the sizes of the issue (100,000 sessions / 1,000,000 messages).
Benchmarks are ordinary pytest-benchmark tests: ``make test`` passes ``--benchmark-skip`` so
every test using the ``benchmark`` fixture is skipped there, and fixtures below are only built
for tests that run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.bench.corpus import default_jobs, stderr_progress
from scripts.bench.machine import describe
from scripts.bench.workloads import TurnSessions, add_turn_sessions, ensure_corpus
from tests.bench.figures import FIGURES
from tests.bench.sizes import SEED, BenchSizes, bench_sizes

FULL_TIMEOUT_SECONDS = 3600


@pytest.fixture(scope="session")
def sizes() -> BenchSizes:
    return bench_sizes()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("benchmark figures")
    terminalreporter.write_line(f"machine: {describe().line()}")
    terminalreporter.write_line(f"sizes: {bench_sizes().model_dump()}")
    width = max(len(name) for name in FIGURES)
    for name, value in FIGURES.items():
        terminalreporter.write_line(f"{name.ljust(width)}  {value}")


@pytest.fixture(scope="session")
def search_root(tmp_path_factory: pytest.TempPathFactory, sizes: BenchSizes) -> Path:
    """A root with the search corpus (its index is built by whichever benchmark needs it first)."""
    root = tmp_path_factory.mktemp("search-corpus")
    return ensure_corpus(
        root, sizes.search_sessions, sizes.search_messages, SEED, jobs=default_jobs(), progress=stderr_progress("search corpus")
    )


@pytest.fixture(scope="session")
def indexed_root(search_root: Path) -> Path:
    """``search_root`` with an up-to-date index."""
    from scripts.bench.search_latency import ensure_index

    ensure_index(search_root)
    return search_root


@pytest.fixture(scope="session")
def turn_root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sizes: BenchSizes) -> Path:
    """A root with ``turn_sessions`` corpus sessions of 10 messages and an up-to-date index.

    When the search corpus has the same size (the quick run) it is reused, which saves
    building a second corpus and index.
    """
    from scripts.bench.search_latency import ensure_index

    if sizes.search_sessions == sizes.turn_sessions and sizes.search_messages == 10:
        root: Path = request.getfixturevalue("search_root")
    else:
        root = tmp_path_factory.mktemp("turn-corpus")
        ensure_corpus(root, sizes.turn_sessions, 10, SEED, jobs=default_jobs(), progress=stderr_progress("turn corpus"))
    ensure_index(root)
    return root


@pytest.fixture(scope="session")
def turn_sessions(turn_root: Path, sizes: BenchSizes) -> TurnSessions:
    return add_turn_sessions(turn_root, SEED, small_messages=10, large_messages=sizes.turn_large_messages)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the benchmarks when benchmarks are off (``make test``), so the report says
    "deselected" for what is not meant to run there instead of listing ~70 skips; the smoke
    tests of the bench scripts in this folder still run.

    Give the full-size benchmarks room: pytest-timeout's project default (300 s) covers
    fixture set-up too, and building a 100,000-session corpus and index takes longer."""
    if getattr(config.option, "benchmark_skip", False) and not getattr(config.option, "benchmark_only", False):
        benchmarks = [item for item in items if "benchmark" in getattr(item, "fixturenames", ())]
        if benchmarks:
            config.hook.pytest_deselected(items=benchmarks)
            items[:] = [item for item in items if item not in benchmarks]
    if not bench_sizes().full:
        return
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.timeout(FULL_TIMEOUT_SECONDS))


def pytest_configure(config: pytest.Config) -> None:
    """A benchmark run (``--benchmark-only``) always saves its JSON under ``.benchmarks/``.

    pytest-benchmark reads its options in its own (``trylast``) ``pytest_configure``, after
    this one, so ``make bench`` saves results even without ``--benchmark-autosave``.
    """
    option = config.option
    if getattr(option, "benchmark_only", False) and not (
        getattr(option, "benchmark_json", None) or getattr(option, "benchmark_save", None) or getattr(option, "benchmark_autosave", False)
    ):
        from pytest_benchmark.utils import get_tag

        option.benchmark_autosave = get_tag()  # what --benchmark-autosave stores: commit id + time
