"""Real image bytes and project trees on disk for the attachment tests."""

from __future__ import annotations

import base64
from pathlib import Path

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"


def data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def project(root: Path) -> Path:
    """A small repository: sources, a .gitignore (with a negation and a nested one), junk."""
    write(root / ".gitignore", "*.log\nbuild/\n!keep.log\n")
    write(root / "src" / "app.py", "import os\n\ndef main():\n    return 'flux capacitor'\n")
    write(root / "src" / "util.py", "def helper():\n    return 42\n")
    write(root / "src" / "debug.log", "noise\n")
    write(root / "src" / "keep.log", "kept on purpose\n")
    write(root / "build" / "out.py", "generated = True\n")
    write(root / "docs" / ".gitignore", "draft.md\n")
    write(root / "docs" / "draft.md", "not yet\n")
    write(root / "docs" / "guide.md", "# Guide\nread me\n")
    write(root / "assets" / "logo.png", PNG)
    write(root / "config" / ".env", "SECRET=1\n")
    write(root / ".git" / "HEAD", "ref: refs/heads/main\n")
    return root
