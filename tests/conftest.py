from __future__ import annotations

from pathlib import Path

import pytest

from store import SessionStore

REPO_ROOT = Path(__file__).resolve().parent.parent
# A verbatim copy of ../shared/fixtures (the design's test data), so a clone tests on its own;
# tests/store/test_fixture_copy.py checks the copy still matches ../shared when that folder is present.
SHARED_FIXTURES = REPO_ROOT / "tests" / "data" / "shared_fixtures"
UPSTREAM_SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / ".llm_sessions")
