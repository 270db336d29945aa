"""Files and images attached to ``chat``/``ask_models``: checked, stored once in ``blobs/``, sent.

The public surface (``docs/attachments.md`` describes the rules for users)::

    prepared = prepare_attachments(files, images, secrets=[adapter_key])  # reads + checks, writes nothing
    prepared.check_budget(model, available_tokens, window)                 # per model; AttachmentsTooLarge
    prepared.store(BlobStore(root))                                        # blobs/<sha256>, idempotent
    user = Message(role="user", content=prepared.content(prompt))          # references, not text
    messages, warnings = expand_attachments(prompt_messages, BlobStore(root))  # at send time

One ``PreparedAttachments`` may be shared by several model calls (it is immutable).
"""

from __future__ import annotations

from .denylist import SECRET_DIR_PAIRS, SECRET_DIRS, SECRET_FILES_IN, SECRET_NAMES, secret_reason
from .expand import expand_attachments, has_attachments
from store.blobs import FILE_PART, IMAGE_PART, BlobStore

from .prepare import (
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    MAX_TOTAL_FILE_BYTES,
    AttachmentRefused,
    AttachmentsTooLarge,
    PreparedAttachments,
    PreparedFile,
    PreparedImage,
    prepare_attachments,
)
from .roots import FILE_ROOTS_ENV, FileRootsInvalid, HomeRootRefused, file_roots

__all__ = [
    "FILE_PART",
    "FILE_ROOTS_ENV",
    "IMAGE_PART",
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_IMAGES",
    "MAX_IMAGE_BYTES",
    "MAX_TOTAL_FILE_BYTES",
    "SECRET_DIRS",
    "SECRET_DIR_PAIRS",
    "SECRET_FILES_IN",
    "SECRET_NAMES",
    "AttachmentRefused",
    "AttachmentsTooLarge",
    "BlobStore",
    "FileRootsInvalid",
    "HomeRootRefused",
    "PreparedAttachments",
    "PreparedFile",
    "PreparedImage",
    "expand_attachments",
    "file_roots",
    "has_attachments",
    "prepare_attachments",
    "secret_reason",
]
