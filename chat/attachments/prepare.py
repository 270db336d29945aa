"""``chat``/``ask_models`` attachments: paths and ``data:`` URLs in, validated blobs-to-be out.

:func:`prepare_attachments` reads every file and image once, checks it against the whole
refusal list (see ``docs/attachments.md``) and returns :class:`PreparedAttachments`, which
any number of model calls may share: nothing is written and nothing is sent until the caller
stores the blobs (:meth:`PreparedAttachments.store`) and puts the parts in a user message
(:meth:`PreparedAttachments.content`). Anything refused raises :class:`AttachmentRefused`
listing every refused path and why, so the caller sends nothing.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.context_windows import CONTEXT_WINDOWS, IMAGE_TOKENS, estimate_text_tokens
from adapters.redact import redact_secrets_deep
from chat.secrets.detect import redact_text
from store.blobs import FILE_PART, IMAGE_PART, BlobStore, sha256_hex

from .denylist import secret_reason
from .render import file_block, line_count
from .roots import FILE_ROOTS_ENV, describe_roots, file_roots, root_of
from .walk import TooManyFiles, files_under
from store.errors import UserFacingError

#: files attached by one call, directories expanded
MAX_FILES = 200
#: bytes of one text file
MAX_FILE_BYTES = 1024 * 1024
#: bytes of all text files of one call together
MAX_TOTAL_FILE_BYTES = 8 * 1024 * 1024
#: images attached by one call
MAX_IMAGES = 20
#: bytes of one image (Anthropic's 5 MB limit counts the base64 text, 4/3 of the bytes)
MAX_IMAGE_BYTES = 3_750_000
IMAGE_TYPES: dict[str, str] = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(?P<params>(;[\w.+-]+=[\w.+-]+)*);base64,(?P<data>.*)$", re.DOTALL)
_NOTED = 10  # skipped files named in one note


class AttachmentRefused(UserFacingError, ValueError):
    """One or more attachments cannot be sent; ``refusals`` holds (path, reason) pairs."""

    def __init__(self, refusals: list[tuple[str, str]]) -> None:
        self.refusals = refusals
        lines = "\n".join(f"- {path}: {reason}" for path, reason in refusals)
        super().__init__(f"nothing was sent: {len(refusals)} attachment(s) refused:\n{lines}")


class AttachmentsTooLarge(UserFacingError, ValueError):
    """The attached files do not fit in the model's context window."""


def image_media_type(data: bytes) -> str | None:
    """The image type the bytes really are (png, jpeg, gif, webp), from their signature."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True)
class PreparedFile:
    """One text file, read, checked and redacted: ``data`` is what is stored and sent."""

    path: str
    data: bytes
    media_type: str
    lines: int
    tokens: int
    redacted: bool = False

    @property
    def sha256(self) -> str:
        return sha256_hex(self.data)

    def part(self) -> dict[str, Any]:
        """The content part stored in the user message: a reference to the blob, not the text."""
        part: dict[str, Any] = {
            "type": FILE_PART,
            "path": self.path,
            "sha256": self.sha256,
            "size": len(self.data),
            "media_type": self.media_type,
            "lines": self.lines,
            "tokens": self.tokens,
        }
        if self.redacted:
            part["redacted"] = True
        return part


@dataclass(frozen=True)
class PreparedImage:
    """One image, checked: ``path`` is None for a ``data:`` URL."""

    path: str | None
    data: bytes
    media_type: str

    @property
    def sha256(self) -> str:
        return sha256_hex(self.data)

    def part(self) -> dict[str, Any]:
        part: dict[str, Any] = {"type": IMAGE_PART, "sha256": self.sha256, "size": len(self.data), "media_type": self.media_type}
        if self.path is not None:
            part["path"] = self.path
        return part


@dataclass(frozen=True)
class PreparedAttachments:
    """Files and images ready to store and send; shareable by several model calls (immutable)."""

    files: tuple[PreparedFile, ...] = ()
    images: tuple[PreparedImage, ...] = ()
    notes: tuple[str, ...] = ()  # warnings for the caller (secrets redacted, files skipped under a directory)

    def __bool__(self) -> bool:
        return bool(self.files or self.images)

    @property
    def tokens(self) -> int:
        """Estimated prompt tokens of all attachments."""
        return sum(item.tokens for item in self.files) + IMAGE_TOKENS * len(self.images)

    def check_budget(self, model: str, available: int, window: int) -> None:
        """Raise :class:`AttachmentsTooLarge` when the attachments need more than ``available`` tokens.

        ``available``: what the window leaves after the prompt, the system prompt and the
        answer's reserve. The message lists each file's estimate and suggests bigger models.
        """
        needed = self.tokens
        if needed <= available:
            return
        rows = [f"- {item.path}: about {item.tokens:,} tokens" for item in self.files]
        if self.images:
            rows.append(f"- {len(self.images)} image(s): about {IMAGE_TOKENS * len(self.images):,} tokens")
        bigger = larger_context_models(window - available + needed)
        hint = f" or use a model with a larger context window ({bigger}; see list_models)" if bigger else ""
        raise AttachmentsTooLarge(
            f"nothing was sent: the attachments need about {needed:,} tokens but {model!r} has room for about "
            f"{max(available, 0):,} (context window {window:,} tokens, less the prompt and the room kept for the "
            f"answer):\n" + "\n".join(rows) + f"\nAttach fewer or smaller files (e.g. a subdirectory){hint}."
        )

    def store(self, blobs: BlobStore) -> None:
        """Write every blob (once; idempotent). Call before the session that references them."""
        for item in (*self.files, *self.images):
            blobs.put(item.data)

    def content(self, prompt: str) -> list[dict[str, Any]]:
        """The user message's content: the prompt, then one reference part per file and image."""
        return [{"type": "text", "text": prompt}, *(item.part() for item in self.files), *(item.part() for item in self.images)]


def larger_context_models(needed: int, count: int = 3) -> str:
    """A few model families whose context window holds ``needed`` tokens, largest first."""
    fitting = sorted(
        ((window, prefix) for prefix, window in CONTEXT_WINDOWS.items() if window >= needed and not prefix.endswith("-")),
        reverse=True,
    )
    return ", ".join(f"{prefix}* ({window:,} tokens)" for window, prefix in fitting[:count])


@dataclass
class _Collector:
    roots: list[Path]
    secrets: list[str | None]
    allow_secrets: bool = False
    redactions: list[str] = field(default_factory=list)  # one warning per file with secrets redacted
    refusals: list[tuple[str, str]] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # directory -> "name (reason)"
    files: list[PreparedFile] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    total_bytes: int = 0

    def refuse(self, path: str, reason: str) -> None:
        self.refusals.append((path, reason))

    # ---------------------------------------------------------------- paths
    def locate(self, raw: object, what: str) -> tuple[str, Path] | None:
        """Check a caller's path (absolute, exists, inside the roots, not secret); (as given, resolved)."""
        if not isinstance(raw, str) or not raw.strip():
            self.refuse(repr(raw), f"not a path: pass absolute paths of {what} as strings")
            return None
        if "\x00" in raw:
            self.refuse(repr(raw), "the path contains a NUL character")
            return None
        if not os.path.isabs(raw):
            self.refuse(raw, "not an absolute path: pass the full path (e.g. /home/me/project/src/app.py)")
            return None
        lexical = Path(os.path.normpath(raw))
        if not os.path.lexists(lexical):
            self.refuse(raw, "does not exist")
            return None
        resolved = Path(os.path.realpath(lexical))
        reason = secret_reason(lexical) or secret_reason(resolved)
        if reason:
            self.refuse(raw, f"refused as secret-looking: {reason}")
            return None
        if root_of(resolved, self.roots) is None:
            if root_of(lexical, self.roots) is not None:
                self.refuse(raw, f"a symlink leading out of the file roots (to {resolved}); roots: {describe_roots(self.roots)}")
            else:
                self.refuse(raw, f"outside the file roots ({describe_roots(self.roots)}); set {FILE_ROOTS_ENV} to allow another folder")
            return None
        if not resolved.exists():
            self.refuse(raw, f"a broken symlink (to {resolved})")
            return None
        return raw, resolved

    # ---------------------------------------------------------------- text files
    def add_path(self, raw: object) -> None:
        located = self.locate(raw, "text files or directories")
        if located is None:
            return
        given, resolved = located
        if resolved.is_dir():
            self.add_directory(given, resolved)
            return
        problem = self.add_file(resolved)
        if problem:
            self.refuse(given, problem)

    def add_directory(self, given: str, directory: Path) -> None:
        root = root_of(directory, self.roots)
        assert root is not None  # locate() checked it
        try:
            paths = files_under(directory, root, MAX_FILES)
        except TooManyFiles as exc:
            self.refuse(given, f"{exc}: pass a narrower directory or the files themselves (the cap is {MAX_FILES} files)")
            return
        skipped = self.skipped.setdefault(given, [])
        for path in paths:
            resolved = Path(os.path.realpath(path))
            reason = secret_reason(path) or secret_reason(resolved)
            if reason:
                skipped.append(f"{path.relative_to(directory)} (secret-looking)")
                continue
            if root_of(resolved, self.roots) is None:
                skipped.append(f"{path.relative_to(directory)} (symlink out of the file roots)")
                continue
            problem = self.add_file(resolved)
            if problem:
                skipped.append(f"{path.relative_to(directory)} ({problem})")
        if not skipped:
            del self.skipped[given]

    def add_file(self, path: Path) -> str | None:
        """Read one resolved file; the reason it cannot be attached, or None when it was added."""
        key = str(path)
        if key in self.seen:
            return None  # named twice (or also inside a named directory): attached once
        try:
            info = path.stat()
        except OSError as exc:
            return f"cannot be read ({exc.strerror or exc})"
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size > MAX_FILE_BYTES:
            return f"{info.st_size:,} bytes, over the per-file limit of {MAX_FILE_BYTES:,} bytes: attach an excerpt instead"
        try:
            data = path.read_bytes()
        except OSError as exc:
            return f"cannot be read ({exc.strerror or exc})"
        if b"\x00" in data:
            return "binary (it contains NUL bytes): only text files can be attached (images go in `images`)"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return "binary or not UTF-8 text: only UTF-8 text files can be attached"
        if len(self.files) >= MAX_FILES:
            return f"over the cap of {MAX_FILES} files per call"
        if self.total_bytes + len(data) > MAX_TOTAL_FILE_BYTES:
            return f"the files together would exceed {MAX_TOTAL_FILE_BYTES:,} bytes per call"
        cleaned = str(redact_secrets_deep(text, self.secrets))
        if not self.allow_secrets:  # the blob (and its sha256) is of the redacted text
            cleaned, warnings = redact_text(cleaned, key)
            self.redactions += warnings
        guessed = mimetypes.guess_type(path.name)[0]
        media_type = guessed if guessed and not guessed.startswith(("image/", "audio/", "video/")) else "text/plain"
        self.seen.add(key)
        self.total_bytes += len(data)
        self.files.append(
            PreparedFile(
                path=key,
                data=cleaned.encode("utf-8"),
                media_type=media_type,
                lines=line_count(cleaned),
                tokens=estimate_text_tokens(file_block(key, cleaned)),
                redacted=cleaned != text,
            )
        )
        return None

    # ---------------------------------------------------------------- images
    def add_image(self, raw: object) -> PreparedImage | None:
        if isinstance(raw, str) and raw.startswith("data:"):
            return self.add_data_url(raw)
        located = self.locate(raw, "images (png, jpeg, gif, webp) or data: URLs")
        if located is None:
            return None
        given, resolved = located
        declared = IMAGE_TYPES.get(resolved.suffix.lower())
        if declared is None:
            self.refuse(given, f"not a supported image type: use {', '.join(sorted(set(IMAGE_TYPES.values())))}")
            return None
        try:
            info = resolved.stat()
            if not stat.S_ISREG(info.st_mode):
                self.refuse(given, "not a regular file")
                return None
            if info.st_size > MAX_IMAGE_BYTES:
                self.refuse(given, f"{info.st_size:,} bytes, over the per-image limit of {MAX_IMAGE_BYTES:,} bytes")
                return None
            data = resolved.read_bytes()
        except OSError as exc:
            self.refuse(given, f"cannot be read ({exc.strerror or exc})")
            return None
        actual = image_media_type(data)
        if actual is None:
            self.refuse(given, f"its bytes are not a {declared} image (nor png, jpeg, gif or webp)")
            return None
        return PreparedImage(path=str(resolved), data=data, media_type=actual)

    def add_data_url(self, url: str) -> PreparedImage | None:
        label = url[:40] + ("…" if len(url) > 40 else "")
        match = _DATA_URL.match(url)
        if match is None:
            self.refuse(label, "not a base64 data: URL (expected data:image/png;base64,...)")
            return None
        declared = match["mime"].lower()
        if declared not in IMAGE_TYPES.values():
            self.refuse(label, f"media type {declared} is not supported: use image/png, image/jpeg, image/gif or image/webp")
            return None
        if len(match["data"]) > MAX_IMAGE_BYTES * 4 // 3 + 4:
            self.refuse(label, f"over the per-image limit of {MAX_IMAGE_BYTES:,} bytes")
            return None
        try:
            data = base64.b64decode(match["data"], validate=True)
        except (binascii.Error, ValueError):
            self.refuse(label, "its base64 data is not valid")
            return None
        actual = image_media_type(data)
        if actual != declared:
            self.refuse(label, f"it says {declared} but its bytes are {actual or 'not a supported image'}")
            return None
        return PreparedImage(path=None, data=data, media_type=actual)

    def notes(self) -> tuple[str, ...]:
        notes = list(self.redactions)
        for directory, names in self.skipped.items():
            shown = ", ".join(names[:_NOTED]) + (f" and {len(names) - _NOTED} more" if len(names) > _NOTED else "")
            notes.append(f"skipped {len(names)} file(s) under {directory}: {shown}")
        return tuple(notes)


def prepare_attachments(
    files: Sequence[str] | None = None,
    images: Sequence[str] | None = None,
    *,
    roots: list[Path] | None = None,
    secrets: Iterable[str | None] = (),
    allow_secrets: bool = False,
) -> PreparedAttachments:
    """Read and check ``files`` (text files or directories) and ``images`` (paths or data: URLs).

    ``roots`` defaults to :func:`chat.attachments.roots.file_roots` (``LLM_MCP_FILE_ROOTS``);
    ``secrets`` are key values to redact besides the secret-looking environment variables.
    Secrets found in a file's text (``chat.secrets``: keys, tokens, private keys, passwords in
    URLs...) are replaced by ``[REDACTED <kind>]`` markers, and ``notes`` names the file, line
    and kind of each; ``allow_secrets=True`` leaves the text as it is (the caller warns).
    Named files and images are refused (:class:`AttachmentRefused`, listing all of them) when
    they are outside the roots, missing, secret-looking, binary, too large...; files met while
    expanding a directory are skipped instead, and the skips come back in ``notes``.
    """
    for name, value in (("files", files), ("images", images)):
        if value is not None and (isinstance(value, (str, bytes)) or not isinstance(value, Sequence)):
            raise AttachmentRefused([(name, f"`{name}` must be a list of strings, not {type(value).__name__}")])
    collector = _Collector(roots=file_roots() if roots is None else roots, secrets=list(secrets), allow_secrets=allow_secrets)
    for raw in files or ():
        collector.add_path(raw)
    if len(images or ()) > MAX_IMAGES:
        collector.refuse("images", f"{len(images or ())} images, over the cap of {MAX_IMAGES} per call")
    prepared_images: list[PreparedImage] = []
    seen_images: set[str] = set()
    for raw in images or ():
        image = collector.add_image(raw)
        if image is not None and image.sha256 not in seen_images:
            seen_images.add(image.sha256)
            prepared_images.append(image)
    if collector.refusals:
        raise AttachmentRefused(collector.refusals)
    return PreparedAttachments(files=tuple(collector.files), images=tuple(prepared_images), notes=collector.notes())
