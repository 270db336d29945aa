"""How an attached file is shown to the model: its path, then its lines, numbered.

The same block is sent to every provider (an OpenAI text part, an Anthropic ``document``
block titled with the path, a Gemini text part: see ``adapters._convert.ATTACHMENT_KEY``),
so a model can cite ``path:line`` whichever provider serves it.
"""

from __future__ import annotations


def numbered(text: str) -> str:
    """``text`` with each line prefixed by its number (right-aligned, then two spaces)."""
    lines = text.splitlines()
    if not lines:
        return "(empty file)"
    width = len(str(len(lines)))
    return "\n".join(f"{number:>{width}}  {line}" for number, line in enumerate(lines, start=1))


def line_count(text: str) -> int:
    return len(text.splitlines())


def file_block(path: str, text: str) -> str:
    """The text part a model sees for one attached file."""
    lines = line_count(text)
    return f'<file path="{path}" lines="{lines}">\n{numbered(text)}\n</file>'


def unchanged_note(path: str, sha256: str) -> str:
    """What a later turn says instead of sending an unchanged file again."""
    return (
        f'<file path="{path}" unchanged="true">(unchanged since it was attached earlier in this conversation, '
        f"sha256 {sha256[:12]}; not repeated)</file>"
    )


def missing_note(path: str, sha256: str) -> str:
    """What the model sees when the stored copy of a file is gone from ``blobs/``."""
    return f'<file path="{path}" missing="true">(the stored copy, blob {sha256[:12]}, is missing; not sent)</file>'
