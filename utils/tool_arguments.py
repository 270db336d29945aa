"""Argument errors the MCP SDK finds before a tool runs, said the way the tools say their own.

The SDK validates a tool call's arguments against the tool's input schema (pydantic) and, on
failure, sends pydantic's multi-line dump with an errors.pydantic.dev link. The tools' own
checks say ``<argument> <value> is not valid: use …``. :func:`describe_validation_error`
rewrites the SDK's findings in that shape from the tool's JSON schema, and
:func:`unknown_arguments` names an argument the tool does not take (the SDK ignores those
silently, so a misspelt ``sesion_id`` would start a new session without a word).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

_VALUE_LIMIT = 60
_TYPES = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
          "object": "an object", "null": "null"}


def shown(value: Any) -> str:
    """``value`` as an error message quotes it: repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= _VALUE_LIMIT else text[: _VALUE_LIMIT - 3] + "..."


def _alternatives(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def expected(schema: Mapping[str, Any]) -> str:
    """What a JSON-schema property accepts, in words: ``'low', 'medium' or 'high'``, ``a list of strings``."""
    if "enum" in schema:
        return _alternatives([shown(item) for item in schema["enum"]])
    options = schema.get("anyOf")
    if options:
        described = [expected(option) for option in options if option.get("type") != "null"]
        return _alternatives(described) if described else "null"
    kind = schema.get("type")
    if kind == "array":
        item = expected(schema.get("items", {}))
        return "a list of " + (item.removeprefix("a ").removeprefix("an ") + "s" if item.startswith(("a ", "an ")) else f"values ({item})")
    return _TYPES.get(str(kind), "a valid value")


def _nullable(schema: Mapping[str, Any]) -> bool:
    return any(option.get("type") == "null" for option in schema.get("anyOf", ()))


def _property(tool_schema: Mapping[str, Any], loc: tuple[Any, ...]) -> Mapping[str, Any]:
    """The schema of the value at ``loc`` (an argument, or an item of a list argument)."""
    node: Mapping[str, Any] = tool_schema.get("properties", {}).get(str(loc[0]), {}) if loc else {}
    for part in loc[1:]:
        if isinstance(part, int):
            arrays = [node] + [option for option in node.get("anyOf", ()) if option.get("type") == "array"]
            node = next((option.get("items", {}) for option in arrays if option.get("type") == "array"), {})
        else:
            node = node.get("properties", {}).get(str(part), {})
    return node


def _name(loc: tuple[Any, ...]) -> str:
    name = str(loc[0]) if loc else "arguments"
    return name + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:])


def describe_error(error: Mapping[str, Any], tool_schema: Mapping[str, Any]) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) as ``<arg> <value> is not valid: use …``."""
    loc = tuple(error.get("loc", ()))
    name = _name(loc)
    schema = _property(tool_schema, loc)
    wanted = expected(schema) if schema else "a valid value"
    if error.get("type") == "missing":
        return f"{name} is missing: pass {name} ({wanted})"
    omit = " (or omit it)" if len(loc) == 1 and (_nullable(schema) or "default" in schema) else ""
    return f"{name} {shown(error.get('input'))} is not valid: use {wanted}{omit}"


def describe_validation_error(exc: ValidationError, tool_schema: Mapping[str, Any]) -> str:
    """Every problem of ``exc``, one sentence each, joined with ``; ``."""
    seen: list[str] = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        # One sentence per argument: pydantic reports each branch of a union separately.
        if any(line.startswith(_name(loc) + " ") for line in seen):
            continue
        seen.append(describe_error(error, tool_schema))
    return "; ".join(seen)


def unknown_arguments(arguments: Mapping[str, Any], tool_schema: Mapping[str, Any]) -> str | None:
    """The error for arguments the tool does not take, else None."""
    known = list(tool_schema.get("properties", {}))
    unknown = [name for name in arguments if name not in known]
    if not unknown:
        return None
    names = ", ".join(map(repr, unknown))
    return f"unknown argument{'s' if len(unknown) > 1 else ''} {names}: this tool takes {', '.join(known) or 'no arguments'}"
