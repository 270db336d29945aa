"""Property tests: any legacy-shaped document survives legacy -> unified -> disk -> legacy."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.codec import decode_session, encode_session
from store.legacy import LegacySource, first_difference, parse_legacy_document, to_legacy, to_unified
from store.legacy.mapping import (
    CONTENT_KEYS,
    CREATED_KEYS,
    ID_KEYS,
    MESSAGE_ID_KEYS,
    MESSAGE_TIME_KEYS,
    MESSAGES_KEYS,
    MODEL_KEYS,
    ROLE_ALIASES,
    ROLE_KEYS,
    TAGS_KEYS,
    TITLE_KEYS,
    TOOL_CALL_ID_KEYS,
    TOOL_CALLS_KEYS,
    UPDATED_KEYS,
    USAGE_KEYS,
)

FALLBACK = datetime(2024, 2, 29, 12, 0, tzinfo=timezone.utc)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)
moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc))


@st.composite
def timestamps(draw: st.DrawFn) -> Any:
    moment = draw(moments)
    style = draw(st.sampled_from(["s", "s_float", "ms", "iso_naive", "iso_z", "iso_offset", "junk"]))
    if style == "s":
        return int(moment.timestamp())
    if style == "s_float":
        return moment.timestamp()
    if style == "ms":
        return int(moment.timestamp() * 1000)
    if style == "iso_naive":
        return moment.replace(tzinfo=None).isoformat(timespec=draw(st.sampled_from(["seconds", "microseconds"])))
    if style == "iso_z":
        return moment.replace(tzinfo=None).isoformat() + "Z"
    if style == "iso_offset":
        return moment.astimezone(timezone(timedelta(hours=draw(st.integers(-12, 14))))).isoformat(sep=" ")
    return draw(json_values)


@st.composite
def tool_calls(draw: st.DrawFn) -> Any:
    arguments = draw(st.dictionaries(st.text(max_size=5), json_scalars, max_size=3))
    encoded = draw(
        st.sampled_from(
            [
                json.dumps(arguments),
                json.dumps(arguments, ensure_ascii=False),
                json.dumps(arguments, separators=(",", ":")),
                json.dumps(arguments, indent=2),
            ]
        )
    )
    args_value = draw(st.one_of(st.just(encoded), st.just(arguments), json_values))
    call_id = draw(st.one_of(st.text(min_size=1, max_size=8), json_values))
    if draw(st.booleans()):
        function = {"name": draw(st.text(max_size=8)), draw(st.sampled_from(["arguments", "args", "input"])): args_value}
        function.update(draw(st.dictionaries(st.sampled_from(["strict", "x"]), json_values, max_size=1)))
        call = {"id": call_id, "type": "function", "function": function}
    else:
        call = {"id": call_id, "name": draw(st.text(max_size=8)), draw(st.sampled_from(["arguments", "input"])): args_value}
    call.update(draw(st.dictionaries(st.sampled_from(["index", "extra", "function"]), json_values, max_size=1)))
    return call


def optional(draw: st.DrawFn, keys: tuple[str, ...], values: st.SearchStrategy[Any]) -> dict[str, Any]:
    if not draw(st.booleans()):
        return {}
    return {draw(st.sampled_from(keys)): draw(values)}


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    role_value = draw(st.sampled_from(sorted(ROLE_ALIASES)))
    role_value = draw(st.sampled_from([role_value, role_value.upper(), role_value.title(), f" {role_value}"]))
    # Arbitrary extra keys first, so the core keys below win where names clash.
    message: dict[str, Any] = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3))
    message.update(optional(draw, CONTENT_KEYS, st.one_of(st.text(), st.none(), st.lists(st.dictionaries(st.text(max_size=4), json_scalars, max_size=2), max_size=2), json_values)))
    message.update(optional(draw, MESSAGE_ID_KEYS, st.one_of(st.text(max_size=10), json_values)))
    message.update(optional(draw, MESSAGE_TIME_KEYS, timestamps()))
    message.update(optional(draw, ("model",), st.one_of(st.text(max_size=10), json_values)))
    usage = st.dictionaries(
        st.sampled_from(["prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "promptTokens", "total_tokens", "extra"]),
        st.one_of(st.integers(0, 10**6), json_scalars),
        max_size=4,
    )
    message.update(optional(draw, USAGE_KEYS, st.one_of(usage, json_values)))
    message.update(optional(draw, TOOL_CALLS_KEYS, st.one_of(st.lists(tool_calls(), max_size=2), json_values)))
    message.update(optional(draw, TOOL_CALL_ID_KEYS, st.one_of(st.text(max_size=8), json_values)))
    message.update(optional(draw, ("name",), st.one_of(st.text(max_size=8), json_values)))
    message[draw(st.sampled_from(ROLE_KEYS))] = role_value
    return message


@st.composite
def legacy_documents(draw: st.DrawFn) -> Any:
    items = draw(st.lists(messages(), max_size=5))
    if draw(st.booleans()):
        return items
    document: dict[str, Any] = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3))
    document.update(optional(draw, ID_KEYS, st.one_of(st.text(max_size=10), json_values)))
    document.update(optional(draw, MODEL_KEYS, st.one_of(st.text(max_size=10), json_values)))
    document.update(optional(draw, CREATED_KEYS, timestamps()))
    document.update(optional(draw, UPDATED_KEYS, timestamps()))
    document.update(optional(draw, TITLE_KEYS, st.one_of(st.text(max_size=10), json_values)))
    document.update(optional(draw, TAGS_KEYS, st.one_of(st.lists(st.text(max_size=5), max_size=3), json_values)))
    document[draw(st.sampled_from(MESSAGES_KEYS))] = items
    return document


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(legacy_documents())
def test_generated_documents_round_trip_through_disk(document: Any) -> None:
    data = json.dumps(document, ensure_ascii=bool(len(str(document)) % 2)).encode("utf-8")
    parsed = parse_legacy_document(data)
    assert first_difference(parsed, document) is None
    session = to_unified(parsed, session_id="generated", source=LegacySource("generated.json", "generated", "0" * 64, FALLBACK))
    reread = decode_session(encode_session(session), Path("generated.json"))
    assert first_difference(to_legacy(reread), document) is None
    legacy_messages = document if isinstance(document, list) else None
    if legacy_messages is not None:
        assert len(reread.messages) == len(legacy_messages)
