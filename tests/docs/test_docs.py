"""The documentation cannot drift from the code (in the spirit of sqlite-utils' test_docs.py).

Every MCP tool, every CLI command, sub-command and flag, and every environment variable the
code reads must be named in README.md or a page under docs/; every CLI option must have help
text; the README stays a short front page and every docs/ page is linked from it.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
README_MAX_BYTES = 20_000
# The CLIs a user runs, as (module to import, the name the docs call it by).
CLIS = [
    ("server", "server.py"),
    ("scripts.reindex", "reindex.py"),
    ("scripts.sessions", "sessions.py"),
    ("scripts.migrate_kimi", "migrate_kimi.py"),
]
# Production code: where an environment variable read must be documented.
CODE = [REPO_ROOT / "server.py", *(REPO_ROOT / name for name in ("store", "index", "adapters", "attachments", "utils", "scripts"))]
PROVIDER_PREFIXES = ("LLM_", "KIMI_", "MOONSHOT_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "DEEPSEEK_", "OPENROUTER_", "OLLAMA_")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")


def documentation() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in [README, *sorted(DOCS.glob("*.md"))])


# ------------------------------------------------------------------------------ CLIs


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def cli_parser(module_name: str, monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The argparse parser a CLI builds, captured when it starts parsing (nothing runs)."""

    def capture(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Captured(self)

    module = importlib.import_module(module_name)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    entry = getattr(module, "parse_args", None) or module.main
    with pytest.raises(_Captured) as caught:
        entry([])
    return caught.value.parser


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.Action]]:
    """Every (sub-command path, action) of a parser, sub-commands included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, (*path, name))
        else:
            yield path, action


@pytest.mark.parametrize(("module_name", "prog"), CLIS)
def test_every_cli_command_and_flag_is_documented_with_help(
    module_name: str, prog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = documentation()
    parser = cli_parser(module_name, monkeypatch)
    assert parser.description, f"{prog} --help has no description"
    assert prog in docs, f"{prog} is not mentioned in README.md or docs/"
    problems: list[str] = []
    for path, action in walk(parser):
        command = " ".join((prog, *path))
        if path and not re.search(rf"{re.escape(prog)}\b[^\n]*\b{re.escape(path[-1])}\b", docs):
            problems.append(f"sub-command `{command}` is not documented")
        for option in action.option_strings:
            if option in ("-h", "--help") or not option.startswith("--"):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                problems.append(f"`{command} {option}` has no help text")
            if option not in docs:
                problems.append(f"`{command} {option}` is not documented")
    assert not sorted(set(problems)), "\n".join(sorted(set(problems)))


# ------------------------------------------------------------------------------ tools


def tool_names(tmp_path: Path) -> list[str]:
    import server

    app = server.default_app(tmp_path / ".llm_sessions", tmp_path / ".kimi_sessions")
    mcp = server.build_server(app)
    return sorted(tool.name for tool in asyncio.run(mcp.list_tools()))


def test_every_tool_is_in_the_readme_tools_table(tmp_path: Path) -> None:
    readme = README.read_text(encoding="utf-8")
    table = readme.split("\n## Tools\n", 1)[1].split("\n## ", 1)[0]
    names = tool_names(tmp_path)
    assert "chat" in names and "search_sessions" in names
    missing = [name for name in names if not re.search(rf"^\| `{name}\(", table, re.MULTILINE)]
    assert not missing, f"tools missing from the README tools table: {missing}"


# ------------------------------------------------------------------------------ environment


def _python_files() -> Iterator[Path]:
    for place in CODE:
        if place.is_file():
            yield place
        else:
            yield from (path for path in place.rglob("*.py") if "bench" not in path.parts)


def _is_environ_read(node: ast.Call) -> bool:
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "getenv":
        return True
    if isinstance(func, ast.Attribute) and func.attr in ("get", "pop", "setdefault"):
        target = func.value
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        return name in ("environ", "env", "environment")
    return False


def environment_variables() -> set[str]:
    """Names the code reads from the environment: passed to environ.get/getenv, kept in a
    ``*_ENV``/``*_VARIABLE`` constant, or a literal with a provider or project prefix."""
    found: set[str] = set()
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            candidates: list[ast.expr] = []
            if isinstance(node, ast.Call) and _is_environ_read(node) and node.args:
                candidates.append(node.args[0])
            elif isinstance(node, ast.Subscript) and getattr(node.value, "attr", getattr(node.value, "id", "")) == "environ":
                candidates.append(node.slice)
            elif isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id.endswith(("_ENV", "_VARIABLE")) for target in node.targets
            ):
                candidates.append(node.value)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(PROVIDER_PREFIXES):
                candidates.append(node)
            for candidate in candidates:
                if isinstance(candidate, ast.Constant) and isinstance(candidate.value, str) and ENV_NAME.match(candidate.value):
                    found.add(candidate.value)
    return found


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    names = environment_variables()
    # The detector itself must see the variables we know are read, or it proves nothing.
    assert {"LLM_SESSIONS_DIR", "LLM_UNIFIED", "LLM_MCP_CONFIG", "OPENAI_API_KEY", "LLM_LOG_LEVEL"} <= names
    docs = documentation()
    missing = sorted(name for name in names if not re.search(rf"\b{name}\b", docs))
    assert not missing, f"environment variables read by the code but not documented: {missing}"


# ------------------------------------------------------------------------------ shape


def test_readme_is_a_short_front_page_linking_every_docs_page() -> None:
    readme = README.read_text(encoding="utf-8")
    assert len(readme.encode("utf-8")) <= README_MAX_BYTES, f"README.md is over {README_MAX_BYTES:,} bytes: move text to docs/"
    unlinked = [page.name for page in sorted(DOCS.glob("*.md")) if f"docs/{page.name}" not in readme]
    assert not unlinked, f"docs pages not linked from the README's documentation index: {unlinked}"
    for heading in ("## Set-up: the two commands", "## Providers", "## Tools", "## Model switching", "## Documentation"):
        assert heading in readme


def test_links_between_docs_pages_resolve() -> None:
    broken: list[str] = []
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO_ROOT)} -> {target}")
    assert not broken, f"broken links: {broken}"
