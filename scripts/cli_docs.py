"""Fill docs/cli.md's help blocks from the programs' own ``--help`` (so the page cannot go stale).

Under each heading naming a program (``## `server.py` ``, ``## `scripts/reindex.py` ``,
``### `sessions.py search` ``), the first ````text`` block is replaced by what that command
prints for ``--help``, at a fixed width. ``--check`` changes nothing and exits 1 when the page
differs (tests/test_docs_cli_help.py runs it).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "cli.md"
WIDTH = "100"
_HEADING = re.compile(r"^#{2,3} `(?P<command>[^`]+)`\s*$")


def command_for(title: str) -> list[str] | None:
    """``server.py`` -> [server.py]; ``scripts/reindex.py`` -> [...]; ``sessions.py search`` -> [scripts/sessions.py, search]."""
    program, *rest = title.split()
    if not program.endswith(".py"):
        return None
    path = REPO / program if (REPO / program).exists() else REPO / "scripts" / program
    if not path.exists():
        return None
    return [str(path), *rest]


def help_text(command: list[str]) -> str:
    env = {**os.environ, "COLUMNS": WIDTH, "LINES": "50"}
    done = subprocess.run([sys.executable, *command, "--help"], capture_output=True, text=True, env=env, timeout=60, check=True)
    return done.stdout.rstrip() + "\n"


def render(page: str) -> str:
    """``page`` with every program's help block replaced by its current ``--help``."""
    lines = page.splitlines(keepends=True)
    out: list[str] = []
    command: list[str] | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        heading = _HEADING.match(line)
        if heading:
            command = command_for(heading.group("command"))
        elif line.rstrip() == "```text" and command is not None:
            end = index + 1
            while end < len(lines) and lines[end].rstrip() != "```":
                end += 1
            out += [line, help_text(command), "```\n"]
            command = None  # only the first block under a heading
            index = end + 1
            continue
        out.append(line)
        index += 1
    return "".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cli_docs.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if docs/cli.md is not current")
    args = parser.parse_args(argv)
    current = PAGE.read_text(encoding="utf-8")
    wanted = render(current)
    if wanted == current:
        return 0
    if args.check:
        sys.stderr.write("docs/cli.md differs from the programs' --help: run `python scripts/cli_docs.py`\n")
        return 1
    PAGE.write_text(wanted, encoding="utf-8")
    sys.stderr.write("docs/cli.md updated\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
