"""The LLM_UNIFIED flag: every accepted spelling, default on, clear errors, read at call time."""

from __future__ import annotations

import pytest

from utils.feature_flags import LLM_UNIFIED, InvalidFlagValue, llm_unified_enabled, read_flag

TRUE_SPELLINGS = ["1", "true", "TRUE", "True", "yes", "YES", "on", "On", " on ", "\ttrue\n"]
FALSE_SPELLINGS = ["0", "false", "FALSE", "False", "no", "NO", "off", "Off", " 0 ", "\tno\n"]


@pytest.mark.parametrize("value", TRUE_SPELLINGS)
def test_true_spellings(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(LLM_UNIFIED, value)
    assert llm_unified_enabled() is True


@pytest.mark.parametrize("value", FALSE_SPELLINGS)
def test_false_spellings(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(LLM_UNIFIED, value)
    assert llm_unified_enabled() is False


@pytest.mark.parametrize("value", ["", " ", "\t\n"])
def test_blank_means_default_on(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(LLM_UNIFIED, value)
    assert llm_unified_enabled() is True


def test_unset_means_default_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LLM_UNIFIED, raising=False)
    assert llm_unified_enabled() is True
    assert read_flag("SOME_OTHER_FLAG_NOT_SET_ANYWHERE", default=False) is False


@pytest.mark.parametrize("value", ["2", "maybe", "enable", "y", "n", "tru", "1.0", "-1", "oui", "on off"])
def test_invalid_values_name_the_value(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(LLM_UNIFIED, value)
    with pytest.raises(InvalidFlagValue) as caught:
        llm_unified_enabled()
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.name == LLM_UNIFIED and error.value == value
    assert f"LLM_UNIFIED={value!r}" in str(error)
    assert "1/0, true/false, yes/no, on/off" in str(error)


def test_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LLM_UNIFIED, "0")
    assert llm_unified_enabled() is False
    monkeypatch.setenv(LLM_UNIFIED, "1")
    assert llm_unified_enabled() is True
    monkeypatch.setenv(LLM_UNIFIED, "off")
    assert llm_unified_enabled() is False
    monkeypatch.delenv(LLM_UNIFIED)
    assert llm_unified_enabled() is True
