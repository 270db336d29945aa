"""The project as MCP servers are installed: build the wheel, install it into a fresh virtualenv,
start ``llm-mcp-server`` from its entry point in a folder that is not the checkout, and talk MCP.

What this catches: a package left out of the wheel, a script that only works from the checkout
(``sys.path`` tricks, files read next to the sources), an entry point that points at nothing, and
build warnings (the deprecated ``project.license`` table). The dependencies come from pip's usual
indexes and cache; only the build and the installed copy are under test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from store import SessionStore
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

REPO_ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
ENTRY_POINTS = {
    "llm-mcp-server": "server:main",
    "llm-sessions": "scripts.sessions:main",
    "llm-reindex": "scripts.reindex:main",
    "llm-migrate-kimi": "scripts.migrate_kimi:main",
}
TOOLS = {"chat", "ask_models", "kimi_chat", "list_sessions", "get_session", "search_sessions", "model_switch_history", "list_models"}
# Kept in the repository on purpose (they drive tests/fakes and read the checkout).
NOT_SHIPPED = ("tests", "scripts.bench")
# Build back-end warnings look like `SetuptoolsDeprecationWarning` / `BuildBackendWarning: ...
# deprecated`; pip's own `WARNING: Location ... is ignored` (this machine's pip.conf) is not ours.
BUILD_WARNING = re.compile(r"[A-Za-z]+Warning\b|deprecat")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    cwd: Path
    build_output: str

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name


def top_level_packages(source: Path) -> list[Path]:
    return sorted(child for child in source.iterdir() if (child / "__init__.py").is_file() and child.name != "tests")


def shipped_packages(source: Path) -> set[str]:
    """Every package of the checkout (a folder with ``__init__.py``), dotted, except the unshipped."""
    found = {
        ".".join(init.parent.relative_to(source).parts)
        for top in top_level_packages(source)
        for init in top.rglob("__init__.py")
    }
    return {name for name in found if not any(name == skip or name.startswith(skip + ".") for skip in NOT_SHIPPED)}


def copy_sources(target: Path) -> None:
    """What an sdist of the checkout holds: pyproject, README, server.py and every top-level package
    (the wheel is built from a copy, so the checkout gets no build/ or egg-info of ours)."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md", "server.py"):
        shutil.copy2(REPO_ROOT / name, target / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in top_level_packages(REPO_ROOT):
        shutil.copytree(package, target / package.name, ignore=skip)


# What pip says when a distribution is neither in its cache nor reachable (no network).
UNREACHABLE = re.compile(r"No matching distribution found for|Could not find a version that satisfies the requirement")


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def pip(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """A pip command; skipped (not failed) only when pip can reach no copy of a distribution."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 and UNREACHABLE.search(done.stdout + done.stderr):
        pytest.skip(f"cannot build or install offline: a distribution is neither reachable nor in pip's cache:\n{done.stderr[-2000:]}")
    assert done.returncode == 0, f"{command} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def clean_env(home: Path) -> dict[str, str]:
    """No PYTHONPATH and no virtualenv of the test run: the installed copy must stand alone."""
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    env["HOME"] = str(home)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    tmp = tmp_path_factory.mktemp("packaging")
    source, dist, venv, cwd = tmp / "src", tmp / "dist", tmp / "venv", tmp / "elsewhere"
    copy_sources(source)
    cwd.mkdir()
    base = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    # Build isolation fetches setuptools (>=77) from the index or pip's cache, as any user's pip does.
    built = pip([*base, "wheel", "--no-deps", "--wheel-dir", str(dist), str(source)], cwd=tmp, timeout=90)
    (wheel,) = dist.glob("llm_mcp_server-*.whl")
    # No pip inside the new virtualenv (seconds saved): this interpreter's pip installs into it.
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    pip([*base, "--python", str(venv / "bin" / "python"), "install", "--quiet", "--no-compile", str(wheel)], cwd=tmp, timeout=150)
    yield Installed(wheel, venv, cwd, built.stdout + built.stderr)


def test_version_is_read_from_the_checkout() -> None:
    from utils.version import package_version

    assert package_version() == PYPROJECT["project"]["version"]


def test_a_stray_pyproject_of_another_project_is_not_our_version(tmp_path: Path) -> None:
    from utils.version import _checkout_version

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\nversion = "9.9"\n', encoding="utf-8")
    assert _checkout_version(tmp_path / "pyproject.toml") is None
    assert _checkout_version(tmp_path / "missing.toml") is None
    (tmp_path / "ours.toml").write_text('[project]\nname = "llm-mcp-server"\nversion = "1.2.3"\n', encoding="utf-8")
    assert _checkout_version(tmp_path / "ours.toml") == "1.2.3"


def test_pyproject_declares_the_entry_points_and_an_spdx_license() -> None:
    project = PYPROJECT["project"]
    assert project["scripts"] == ENTRY_POINTS
    assert isinstance(project["license"], str), "an SPDX string: the TOML table form is deprecated"
    assert "chat*" in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]


@pytest.mark.slow
def test_wheel_builds_without_warnings_and_holds_every_package(installed: Installed) -> None:
    warnings = [line for line in installed.build_output.splitlines() if BUILD_WARNING.search(line)]
    assert warnings == [], "\n".join(warnings)
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
        entry_points = next(wheel.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    in_wheel = {name.removesuffix("/__init__.py").replace("/", ".") for name in names if name.endswith("/__init__.py")}
    assert shipped_packages(REPO_ROOT) <= in_wheel, "packages missing from the wheel: add them to [tool.setuptools.packages.find]"
    assert "server.py" in names
    assert not any(name.startswith(("tests/", "scripts/bench/")) for name in names)
    for command, target in ENTRY_POINTS.items():
        assert f"{command} = {target}" in entry_points


@pytest.mark.slow
def test_installed_copy_runs_outside_the_checkout(installed: Installed) -> None:
    probe = (
        "import server, scripts.sessions, utils.version as v; "
        "print(server.__file__); print(scripts.sessions.__file__); print(v.package_version())"
    )
    done = run([str(installed.bin("python")), "-c", probe], cwd=installed.cwd, env=clean_env(installed.cwd))
    server_file, sessions_file, version = done.stdout.split()
    site = str(installed.venv)
    assert server_file.startswith(site) and sessions_file.startswith(site), done.stdout
    # Read from the installed metadata (there is no pyproject.toml next to site-packages).
    assert version == PYPROJECT["project"]["version"]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["llm-sessions", "llm-reindex", "llm-migrate-kimi"])
def test_script_entry_points_answer_help(installed: Installed, command: str) -> None:
    done = run([str(installed.bin(command)), "--help"], cwd=installed.cwd, env=clean_env(installed.cwd))
    assert done.stdout.startswith("usage:") and "--root" in done.stdout


@pytest.mark.slow
def test_reindex_entry_point_builds_an_index(installed: Installed, tmp_path: Path) -> None:
    root = tmp_path / "root"
    SessionStore(root)  # reindex.py never creates a store: it indexes one that exists
    run([str(installed.bin("llm-reindex")), "--root", str(root)], cwd=installed.cwd, env=clean_env(installed.cwd))
    assert (root / "index.sqlite").is_file()


async def list_tools_and_sessions(params: StdioServerParameters, errlog_path: Path) -> tuple[set[str], dict[str, object]]:
    with anyio.fail_after(60), errlog_path.open("w", encoding="utf-8") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = {tool.name for tool in (await session.list_tools()).tools}
                listed = await session.call_tool("list_sessions", {})
                assert not listed.is_error, listed.content
                assert listed.structured_content is not None
                return tools, listed.structured_content


@pytest.mark.slow
def test_server_entry_point_speaks_mcp_from_another_folder(installed: Installed, tmp_path: Path) -> None:
    root = tmp_path / "sessions-root"
    params = StdioServerParameters(
        command=str(installed.bin("llm-mcp-server")),
        args=["--root", str(root)],
        env=clean_env(installed.cwd),
        cwd=str(installed.cwd),
    )
    log = tmp_path / "server-stderr.log"
    tools, listed = anyio.run(list_tools_and_sessions, params, log)
    assert TOOLS <= tools, f"missing tools: {sorted(TOOLS - tools)}\n{log.read_text()}"
    assert listed["sessions"] == [] and listed["total"] == 0
    assert (root / "sessions").is_dir()
    assert not (installed.cwd / ".llm_sessions").exists(), "--root was ignored"
