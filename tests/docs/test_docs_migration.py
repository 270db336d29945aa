"""docs/migration.md's commands run as written and do what it says."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT, SHARED_FIXTURES

BROKEN = ("empty_20250712_0000.json", "truncated_20250711_2359.json")


def section() -> str:
    return (REPO_ROOT / "docs" / "migration.md").read_text(encoding="utf-8")


def commands() -> list[list[str]]:
    found: list[list[str]] = []
    for block in re.findall(r"```sh\n(.*?)```", section(), flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                found.append(words)
    return found


def test_readme_documents_every_option() -> None:
    text = section()
    for option in ("--from", "--to", "--root", "--dry-run", "--verify", "--json", "KIMI_SESSIONS_DIR", "LLM_SESSIONS_DIR"):
        assert option in text
    assert "quarantine" in text and "-legacy-" in text


def test_readme_commands_run_as_written(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(SHARED_FIXTURES / "legacy_kimi_sessions", project / ".kimi_sessions")
    (project / ".kimi_sessions").chmod(0o755)  # the shared fixtures are read-only
    for name in BROKEN:
        (project / ".kimi_sessions" / name).unlink()
    env = {k: v for k, v in os.environ.items() if k not in ("KIMI_SESSIONS_DIR", "LLM_SESSIONS_DIR")}
    listed = commands()
    assert [words[:2] for words in listed] == [[".venv/bin/python", "scripts/migrate_kimi.py"]] * 3
    outputs = []
    for words in listed:
        argv = [sys.executable, str(REPO_ROOT / words[1]), *words[2:]]
        result = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.append(result.stdout)
    dry_run, first, second = outputs
    assert "would migrate        6" in dry_run
    assert "migrated             6" in first and "verified ok          6" in first
    report = json.loads(second)
    assert report["changed"] is False and report["summary"]["unchanged"] == 6 and report["summary"]["verify_ok"] == 6
    assert len(list((project / ".llm_sessions" / "sessions").glob("*.json"))) == 6
