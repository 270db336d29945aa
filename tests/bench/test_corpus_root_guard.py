"""The corpus writer never mixes synthetic sessions into a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.bench.corpus import CORPUS_ROOT_MARKER, NotACorpusRoot, cli_exit_code, write_corpus
from store import SessionStore


def test_a_real_store_is_refused_and_left_alone(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "real")
    store.create("mine")
    with pytest.raises(NotACorpusRoot, match="holds 1 session file"):
        write_corpus(store.root, 3, 2, seed=1)
    assert [p.name for p in store.layout.sessions.iterdir()] == ["mine.json"]
    assert not (store.root / CORPUS_ROOT_MARKER).exists()


def test_a_new_folder_is_claimed_and_can_be_rewritten(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    write_corpus(root, 3, 2, seed=1)
    assert (root / CORPUS_ROOT_MARKER).is_file()
    write_corpus(root, 3, 2, seed=1)  # its own earlier corpus is not "someone's sessions"
    assert len(list((root / "sessions").glob("*.json"))) == 3


def test_cli_exit_code_turns_the_refusal_into_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse() -> int:
        raise NotACorpusRoot("refusing to write a synthetic corpus into /x")

    assert cli_exit_code(refuse) == 2
    assert "error: refusing" in capsys.readouterr().err
    assert cli_exit_code(lambda: 0) == 0
