"""Strict JSON for legacy files: parse without silent loss, compare without type coercion."""

from __future__ import annotations

import json
import math
from typing import Any


class LegacyReadError(ValueError):
    """Legacy bytes that cannot be read as one JSON document; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # json.loads would keep only the last value: refuse rather than drop data.
            raise LegacyReadError(f"duplicate key {key!r} in a JSON object (a value would be lost)")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise LegacyReadError(f"non-standard JSON constant {name} (cannot be stored losslessly)")


def parse_legacy_bytes(data: bytes) -> Any:
    """Decode UTF-8 (a BOM is allowed) and parse strict JSON; raise ``LegacyReadError``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LegacyReadError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise LegacyReadError("the file is empty")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise LegacyReadError(
            f"invalid JSON (truncated or corrupt): {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise LegacyReadError("invalid JSON: nested too deeply") from exc


def json_equal(left: Any, right: Any) -> bool:
    """JSON equality that, unlike ``==``, tells ``true`` from ``1`` and ``1`` from ``1.0``."""
    return first_difference(left, right) is None


def first_difference(left: Any, right: Any, path: str = "$") -> str | None:
    """``None`` if equal, else a JSON path and a short description of the first difference."""
    if type(left) is not type(right):
        return f"{path}: {_short(left)} != {_short(right)}"
    if isinstance(left, dict):
        for key in left:
            if key not in right:
                return f"{path}.{key}: only in the first document"
        for key in right:
            if key not in left:
                return f"{path}.{key}: only in the second document"
        for key in left:
            found = first_difference(left[key], right[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(left, list):
        for index, (a, b) in enumerate(zip(left, right)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        if len(left) != len(right):
            return f"{path}: {len(left)} items != {len(right)} items"
        return None
    if isinstance(left, float) and math.isnan(left) and math.isnan(right):
        return None
    return None if left == right else f"{path}: {_short(left)} != {_short(right)}"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."
