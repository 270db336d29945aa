from __future__ import annotations

import pytest

from tests.conftest import SHARED_FIXTURES, UPSTREAM_SHARED_FIXTURES


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_copy_holds_every_legacy_fixture() -> None:
    names = {p.name for p in (SHARED_FIXTURES / "legacy_kimi_sessions").iterdir()}
    assert {"empty_20250712_0000.json", "truncated_20250711_2359.json", "中文会话_20250615_1010.json"} <= names


@pytest.mark.skipif(not UPSTREAM_SHARED_FIXTURES.is_dir(), reason="../shared/fixtures is not beside this clone")
def test_the_copy_matches_shared_fixtures_byte_for_byte() -> None:
    assert _files(SHARED_FIXTURES) == _files(UPSTREAM_SHARED_FIXTURES)
