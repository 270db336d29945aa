"""Stored attachment references -> what a provider is sent, at the moment the prompt is sent.

A user message stores ``{"type": "file", "path", "sha256", ...}`` and ``{"type": "image",
"sha256", "media_type", ...}`` parts (references to ``blobs/``). :func:`expand_attachments`
turns the prompt's messages into ones an adapter can send: a file becomes a text part (its
path and numbered lines, marked with ``adapters._convert.ATTACHMENT_KEY`` so an adapter may
give it its wire format's natural shape), an image a ``data:`` URL ``image_url`` part (which
every adapter converts). A file already sent earlier in the same prompt with the same path and
sha256 is not repeated: the later turn says it is unchanged.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from adapters._convert import ATTACHMENT_KEY
from store.blobs import FILE_PART, IMAGE_PART, BlobMissing, BlobStore
from store.schema import Message

from .render import file_block, missing_note, numbered, unchanged_note


def has_attachments(message: Message) -> bool:
    content = message.content
    return isinstance(content, list) and any(part.get("type") in (FILE_PART, IMAGE_PART) for part in content)


def expand_attachments(messages: Sequence[Message], blobs: BlobStore) -> tuple[list[Message], list[str]]:
    """The messages to send (inputs are not modified) and warnings (blobs that are missing)."""
    sent: set[tuple[str, str]] = set()
    warnings: list[str] = []
    out: list[Message] = []
    for message in messages:
        if not has_attachments(message):
            out.append(message)
            continue
        parts: list[dict[str, Any]] = []
        for part in message.content:  # type: ignore[union-attr]  (has_attachments: a list)
            kind = part.get("type")
            if kind == FILE_PART:
                parts.append(_file_part(part, blobs, sent, warnings))
            elif kind == IMAGE_PART:
                parts.append(_image_part(part, blobs, warnings))
            else:
                parts.append(part)
        out.append(message.model_copy(update={"content": parts}))
    return out, warnings


def _file_part(part: dict[str, Any], blobs: BlobStore, sent: set[tuple[str, str]], warnings: list[str]) -> dict[str, Any]:
    path, sha256 = str(part.get("path")), str(part.get("sha256"))
    if (path, sha256) in sent:
        return {"type": "text", "text": unchanged_note(path, sha256)}
    try:
        text = blobs.read(sha256).decode("utf-8")
    except (BlobMissing, ValueError) as exc:
        warnings.append(f"attached file {path} was not sent: {exc}")
        return {"type": "text", "text": missing_note(path, sha256)}
    sent.add((path, sha256))
    return {"type": "text", "text": file_block(path, text), ATTACHMENT_KEY: {"path": path, "sha256": sha256, "body": numbered(text)}}


def _image_part(part: dict[str, Any], blobs: BlobStore, warnings: list[str]) -> dict[str, Any]:
    sha256 = str(part.get("sha256"))
    label = part.get("path") or f"image {sha256[:12]}"
    try:
        data = blobs.read(sha256)
    except (BlobMissing, ValueError) as exc:
        warnings.append(f"attached image {label} was not sent: {exc}")
        return {"type": "text", "text": f"[image {label}: its stored copy is missing; not sent]"}
    url = f"data:{part.get('media_type') or 'image/png'};base64,{base64.b64encode(data).decode('ascii')}"
    return {"type": "image_url", "image_url": {"url": url}}
