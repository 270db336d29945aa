"""What secret detection costs (issue 30): ``find_secrets`` on 100 KB, and preparing attachments
with detection on (the default) vs off (``allow_secrets=True``: the cost before detection existed).

Inputs: ``server.py`` repeated to 100 KB (keyword-dense code: "key", "token" on many lines,
no secret), the same size of prose, the secret corpus repeated (every line a finding: the slow
path), and a 200-file project (the attachment cap) whose files hold ordinary code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.attachments import prepare_attachments
from chat.secrets import find_secrets
from tests.bench.figures import median_ms, record
from tests.secret_corpus import settings_py

REPO = Path(__file__).resolve().parents[2]
SIZE = 100_000


def _repeat(text: str) -> str:
    return (text * (SIZE // len(text) + 1))[:SIZE]


TEXTS = {
    "code": lambda: _repeat((REPO / "server.py").read_text(encoding="utf-8")),
    "prose": lambda: _repeat("The quick brown fox jumps over the lazy dog; the answer was long and careful. "),
    "secrets": lambda: _repeat(settings_py()),
}


@pytest.mark.parametrize("kind", list(TEXTS))
def test_find_secrets_in_100kb(benchmark, kind: str) -> None:  # type: ignore[no-untyped-def]
    text = TEXTS[kind]()
    benchmark.group = "secrets: find_secrets 100 KB"
    findings = benchmark(lambda: find_secrets(text, "module.py"))
    assert (len(findings) > 100) if kind == "secrets" else findings == []
    record(benchmark, f"find_secrets 100 KB {kind} p50 ms", median_ms(benchmark))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    source = (REPO / "server.py").read_text(encoding="utf-8")
    for index in range(200):  # the cap; ~500 KB together
        path = root / f"pkg{index % 10}" / f"module_{index:03}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        start = (index * 2500) % max(len(source) - 2500, 1)
        path.write_text(source[start : start + 2500])
    (root / "big.py").write_text(TEXTS["code"]())
    return root


@pytest.mark.parametrize("detect", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("what", ["100KB-file", "200-files"])
def test_prepare_with_and_without_detection(benchmark, project: Path, what: str, detect: bool) -> None:  # type: ignore[no-untyped-def]
    paths = [str(project / "big.py")] if what == "100KB-file" else [str(project / f"pkg{i}") for i in range(10)]
    benchmark.group = f"secrets: prepare {what}"
    prepared = benchmark(lambda: prepare_attachments(paths, roots=[project], allow_secrets=not detect))
    assert len(prepared.files) == (1 if what == "100KB-file" else 200)
    record(benchmark, f"prepare {what} {'with' if detect else 'without'} detection p50 ms", median_ms(benchmark))
