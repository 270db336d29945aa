"""The version of llm-mcp-server that is running (``serverInfo.version``, ``--version``).

Read once, when first asked: from ``pyproject.toml`` when the code runs from a checkout (it is
the truth there, even when an editable install's metadata is older), else from the installed
distribution's metadata (a wheel installed by pip, pipx or uvx), else ``"0+unknown"``.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "llm-mcp-server"
UNKNOWN = "0+unknown"

# utils/version.py -> the folder holding server.py, store/, ...: the checkout, or site-packages.
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def _checkout_version(pyproject: Path) -> str | None:
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    # site-packages could hold a stray pyproject.toml of another project: only ours counts.
    if project.get("name") != DISTRIBUTION or not isinstance(project.get("version"), str):
        return None
    return str(project["version"])


@functools.cache
def package_version() -> str:
    """The running version, e.g. ``"0.3.0"``; never raises."""
    found = _checkout_version(_SOURCE_ROOT / "pyproject.toml")
    if found is not None:
        return found
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN


def __getattr__(name: str) -> str:
    # `from utils.version import __version__` works, without reading anything at import time.
    if name == "__version__":
        return package_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
