"""A key held in a variable whose name does not look secret is still scrubbed from replies."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from adapters.base import ChatReply
from adapters.redact import scrub_reply
from adapters.registry import ResolvedModel

KEY = "lm-studio-key-0123456789abcdef"


@dataclass
class KeyedAdapter:
    api_key: str
    provider: str = "lmstudio"


def test_the_adapters_own_key_is_scrubbed_even_from_an_unsecret_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMSTUDIO_CREDENTIAL", KEY)  # a name redact's env rule does not recognise
    echoed = ChatReply(text=f"your key is {KEY}", model="lmstudio/q", provider="lmstudio", provider_extra={"auth": KEY})
    adapter = KeyedAdapter(api_key=KEY)
    resolved = ResolvedModel(model="lmstudio/q", provider="lmstudio", upstream_model="q", adapter=adapter)  # type: ignore[arg-type]

    for holder in (adapter, resolved):
        scrubbed = scrub_reply(echoed, holder)
        assert KEY not in scrubbed.model_dump_json()
        assert scrubbed.text == "your key is [REDACTED]"
    assert KEY in scrub_reply(echoed).text  # without the adapter, only secret-looking names are known
