"""Encoding a provider request body: once per call, fast.

:func:`encode_body` gives the bytes httpx would send for ``json=body`` (compact, UTF-8), encoded
by ``orjson``: a 1,000-message conversation (~500 KB) takes ~0.15 ms instead of ~8 ms with the
standard library, on every turn. Whatever orjson refuses (an integer beyond 64 bits, a key that
is not a string) is encoded by the standard library instead, as httpx would. One difference: a
NaN or infinite float (which JSON cannot hold) is sent as ``null`` instead of failing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson


def encode_body(body: Mapping[str, Any]) -> bytes:
    """``body`` as the UTF-8 JSON bytes of a request (see the module docstring)."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
