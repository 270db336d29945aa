"""docs/cli.md shows each program's current ``--help`` (scripts/cli_docs.py fills it)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_cli_page_matches_every_programs_help() -> None:
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "cli_docs.py"), "--check"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr + "\nrun: python scripts/cli_docs.py"


def test_no_help_block_is_empty() -> None:
    page = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert "```text\n\n```" not in page and "```text\n```" not in page
