"""The CLIs turn an unusable --root into a one-line error (exit 2), never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.parametrize(
    "command",
    [
        ["scripts/sessions.py", "list"],
        ["scripts/sessions.py", "search", "anything"],
        ["scripts/reindex.py"],
    ],
)
def test_a_root_under_a_file_is_a_clear_error(tmp_path: Path, command: list[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / command[0]), *command[1:], "--root", str(blocker / "root")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    # These commands only read: a root that cannot be a store is "no session store there".
    assert f"no session store at {blocker / 'root'}" in result.stderr and "--root" in result.stderr
    assert "Traceback" not in result.stderr
    assert blocker.read_text() == "x"


def test_sessions_cli_takes_root_and_json_before_or_after_the_command(tmp_path: Path) -> None:
    from scripts import sessions
    from store import SessionStore

    SessionStore(tmp_path / "r").create("only")
    for argv in (["--root", str(tmp_path / "r"), "--json", "list"], ["list", "--root", str(tmp_path / "r"), "--json"]):
        out = __import__("io").StringIO()
        assert sessions.main(argv, out=out) == 0
        assert '"id": "only"' in out.getvalue()


def test_sessions_cli_not_found_names_its_own_list_command(tmp_path: Path) -> None:
    import io

    from scripts import sessions

    from store import SessionStore

    SessionStore(tmp_path / "r")
    err = io.StringIO()
    assert sessions.main(["show", "nope", "--root", str(tmp_path / "r")], out=io.StringIO(), err=err) == 1
    assert "`sessions.py list` shows the ids" in err.getvalue()
