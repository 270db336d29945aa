"""docs/search-index.md cannot go stale: every ad-hoc sqlite3 example runs,
and every column of every table is documented."""

from __future__ import annotations

import re
import shlex
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from index import Indexer
from store import SessionStore
from tests.conftest import REPO_ROOT
from tests.index.test_index_search import build_corpus

EXAMPLE = re.compile(r"^sqlite3 \.llm_sessions/index\.sqlite .+$", re.MULTILINE)


def section() -> str:
    return (REPO_ROOT / "docs" / "search-index.md").read_text(encoding="utf-8")


def examples() -> list[str]:
    return EXAMPLE.findall(section())


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    store = SessionStore(tmp_path / ".llm_sessions")
    build_corpus(store)
    with Indexer(store.root) as indexer:
        indexer.sync()
    return tmp_path


def test_there_are_four_or_five_examples() -> None:
    assert 4 <= len(examples()) <= 5


@pytest.mark.parametrize("line", examples())
def test_example_runs_and_returns_rows(workdir: Path, line: str) -> None:
    argv = shlex.split(line)
    assert argv[:2] == ["sqlite3", ".llm_sessions/index.sqlite"] and len(argv) == 3
    sql = argv[2]
    conn = sqlite3.connect(workdir / ".llm_sessions" / "index.sqlite")
    try:
        rows = conn.execute(sql).fetchall()
    finally:
        conn.close()
    assert rows, f"the docs/search-index.md example returned nothing on the test corpus: {sql}"
    if shutil.which("sqlite3"):  # and through the real command line, exactly as written
        result = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert len(result.stdout.strip().splitlines()) >= len(rows)


def test_chinese_example_finds_the_chinese_session(workdir: Path) -> None:
    line = next(line for line in examples() if "全文索引" in line)
    conn = sqlite3.connect(workdir / ".llm_sessions" / "index.sqlite")
    try:
        rows = conn.execute(shlex.split(line)[2]).fetchall()
    finally:
        conn.close()
    assert [row[0] for row in rows] == ["中文会话"]


def test_every_column_is_documented(workdir: Path) -> None:
    documented = section()
    conn = sqlite3.connect(workdir / ".llm_sessions" / "index.sqlite")
    try:
        for table in ("sessions", "messages", "model_switches", "files", "session_models", "session_tags"):
            assert f"`{table}`" in documented
            for column in [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]:
                assert f"`{column}`" in documented, f"{table}.{column} is not described in docs/search-index.md"
        fts = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'")]
    finally:
        conn.close()
    assert sorted(fts) == ["messages_fts", "messages_trigram", "sessions_fts", "sessions_names", "sessions_trigram"]
    for name in fts:
        assert f"`{name}`" in documented
