"""tools/list stays small: schemas without pydantic's field titles, a parameter named ``title`` kept."""

from __future__ import annotations

import json
from pathlib import Path

import anyio

import server
from chat import results


def test_schemas_have_no_field_titles_but_keep_a_title_parameter(tmp_path: Path) -> None:
    listed = anyio.run(server.build_server(server.default_app(tmp_path / "root")).list_tools)
    chat = next(tool for tool in listed if tool.name == "chat")
    assert "title" in chat.input_schema["properties"] and chat.input_schema["properties"]["title"]
    text = json.dumps([tool.model_dump(mode="json", exclude_none=True, by_alias=True) for tool in listed])
    assert '"title": "Session Id"' not in text and '"title": "Prompt"' not in text
    assert all(tool.output_schema and tool.output_schema.get("type") == "object" for tool in listed)


def test_untitled_walks_every_kind_of_subschema() -> None:
    schema = {
        "title": "Out", "type": "object", "additionalProperties": True,
        "properties": {"title": {"title": "Title", "type": "string", "default": None},
                       "n": {"anyOf": [{"type": "integer", "title": "N"}, {"type": "null"}], "default": 3}},
        "$defs": {"Item": {"title": "Item", "items": {"title": "X", "type": "string"}, "additionalProperties": {"title": "Y"}}},
    }
    assert results.untitled(schema, output=True) == {
        "type": "object",
        "properties": {"title": {"type": "string"}, "n": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 3}},
        "$defs": {"Item": {"items": {"type": "string"}, "additionalProperties": {}}},
    }
    assert results.untitled(schema)["additionalProperties"] is True  # an input schema keeps what it says
    assert results.untitled([1]) == [1]
