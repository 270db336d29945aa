"""Make a git repository merge session files with the ``llm-session`` driver (``sessions.py git-setup``).

Two parts, both idempotent: ``<root>/.gitattributes`` (committed, so every clone gets it) says
``sessions/*.json merge=llm-session``; the repository's own config (``.git/config``, never
shared by git, so each clone runs this once) says how to run the driver.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from store.atomic import atomic_write_bytes

DRIVER = "llm-session"
ATTRIBUTE_LINE = f"sessions/*.json merge={DRIVER}"
DRIVER_NAME = "llm-mcp-server three-way merge of session files"


class GitSetupError(Exception):
    """git-setup cannot be done as asked; the message says what to do."""


#: what git-setup says about secrets: the store is shared with everyone who can read the repository
SCAN_ADVICE = (
    "before the first commit of the store: run `sessions.py scan` (it reports keys, tokens and passwords in "
    "sessions written before secrets were redacted, imported or migrated ones); `sessions.py scan --fix` redacts them"
)


@dataclass
class GitSetupReport:
    repository: Path
    actions: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=lambda: [SCAN_ADVICE])


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60)
    except FileNotFoundError as exc:
        raise GitSetupError("git is not installed (or not on PATH)") from exc
    if check and done.returncode != 0:
        raise GitSetupError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip() or done.stdout.strip()}")
    return done


def repository_of(folder: Path) -> Path:
    """The top folder of the git work tree ``folder`` is in."""
    done = _git(folder, "rev-parse", "--show-toplevel", check=False)
    if done.returncode != 0:
        raise GitSetupError(
            f"{folder} is not inside a git repository: run `git init` in your project (or pass --repo DIR)"
        )
    return Path(done.stdout.strip()).resolve()


def driver_command(program: Sequence[str]) -> str:
    """The shell command git runs for a merge: ``program`` then ``merge-driver %O %A %B``."""
    return " ".join([*(shlex.quote(part) for part in program), "merge-driver", "%O", "%A", "%B"])


def _ensure_attributes(root: Path, report: GitSetupReport) -> None:
    path = root / ".gitattributes"
    try:
        current = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    if current is not None and ATTRIBUTE_LINE in current.splitlines():
        report.actions.append(f"{path}: already says {ATTRIBUTE_LINE!r}")
        return
    if current is None:
        text = ATTRIBUTE_LINE + "\n"
    else:  # keep what is there, add our line
        text = current + ("" if current.endswith("\n") or not current else "\n") + ATTRIBUTE_LINE + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))
    report.actions.append(f"{path}: {'wrote' if current is None else 'added'} {ATTRIBUTE_LINE!r} (commit this file)")


def _ensure_config(repo: Path, key: str, value: str, report: GitSetupReport) -> None:
    done = _git(repo, "config", "--local", "--get", key, check=False)
    old = done.stdout.rstrip("\n") if done.returncode == 0 else None
    if old == value:
        report.actions.append(f"git config {key}: already set")
        return
    _git(repo, "config", "--local", key, value)
    report.actions.append(f"git config {key} = {value}" + (f" (was {old})" if old is not None else ""))


def git_setup(root: Path, program: Sequence[str], repo: Path | None = None) -> GitSetupReport:
    """Write ``<root>/.gitattributes`` and register the driver in ``repo`` (default: the one holding ``root``).

    ``program`` is the command line that runs ``sessions.py`` (this checkout's Python and script).
    The session root must be inside the repository, else the attributes would have no effect.
    """
    root = root.resolve()
    top = repository_of(repo.resolve() if repo is not None else root)
    if top != root and top not in root.parents:
        raise GitSetupError(
            f"the session root {root} is not inside the repository {top}: git would never apply the "
            "merge driver to its files; pass the --root that lives in that repository (or --repo of the one it is in)"
        )
    report = GitSetupReport(top)
    _ensure_attributes(root, report)
    _ensure_config(top, f"merge.{DRIVER}.name", DRIVER_NAME, report)
    _ensure_config(top, f"merge.{DRIVER}.driver", driver_command(program), report)
    return report
