"""prepare_attachments on real files in temporary folders: the refusal matrix, directory
expansion with .gitignore, symlinks, redaction, images and data: URLs, the budget error."""

from __future__ import annotations

import re

import os
from pathlib import Path

import pytest

from chat.attachments import (
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_IMAGE_BYTES,
    AttachmentRefused,
    AttachmentsTooLarge,
    FileRootsInvalid,
    file_roots,
    prepare_attachments,
    secret_reason,
)
from chat.attachments.render import file_block, numbered
from store.blobs import BlobStore, sha256_hex
from tests.attachment_helpers import GIF, JPEG, PNG, WEBP, data_url, project, write


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return project(tmp_path / "repo")


def refusal(excinfo: pytest.ExceptionInfo[AttachmentRefused]) -> dict[str, str]:
    return dict(excinfo.value.refusals)


def prepare(paths: list[str], roots: list[Path], **kwargs: object) -> object:
    return prepare_attachments(paths, roots=roots, **kwargs)  # type: ignore[arg-type]


def test_a_directory_expands_to_its_text_files_sorted_honouring_gitignore(repo: Path) -> None:
    prepared = prepare_attachments([str(repo)], roots=[repo])
    names = [Path(item.path).relative_to(repo).as_posix() for item in prepared.files]
    # *.log ignored except the re-included keep.log, build/ and .git/ never entered, the nested
    # docs/.gitignore drops draft.md; the binary logo and the .env are skipped with a note.
    assert names == [".gitignore", "docs/.gitignore", "docs/guide.md", "src/app.py", "src/keep.log", "src/util.py"]
    (note,) = prepared.notes
    assert note.startswith(f"skipped 2 file(s) under {repo}:")
    assert "assets/logo.png (binary" in note and "config/.env (secret-looking)" in note


def test_parent_gitignore_applies_to_a_subdirectory(repo: Path) -> None:
    prepared = prepare_attachments([str(repo / "src")], roots=[repo])
    assert [Path(item.path).name for item in prepared.files] == ["app.py", "keep.log", "util.py"]


def test_a_file_reference_carries_path_sha_size_lines_and_tokens(repo: Path) -> None:
    path = repo / "src" / "app.py"
    prepared = prepare_attachments([str(path)], roots=[repo])
    (item,) = prepared.files
    part = item.part()
    data = path.read_bytes()
    assert part == {
        "type": "file", "path": str(path), "sha256": sha256_hex(data), "size": len(data),
        "media_type": "text/x-python", "lines": 4, "tokens": part["tokens"],
    }
    assert part["tokens"] > len(data) // 4
    content = prepared.content("review this")
    assert content[0] == {"type": "text", "text": "review this"} and content[1] == part


def test_the_refusal_matrix_names_every_file_and_its_reason(tmp_path: Path, repo: Path) -> None:
    outside = write(tmp_path / "elsewhere" / "notes.txt", "private\n")
    os.symlink(outside, repo / "link-out.txt")
    os.symlink(repo / "src" / "app.py", repo / "link-in.py")
    os.symlink(tmp_path / "nowhere", repo / "broken.txt")
    os.mkfifo(repo / "pipe")
    write(repo / "blob.bin", b"\x00\x01binary")
    write(repo / "latin1.txt", "café".encode("latin-1"))
    write(repo / "big.txt", "x" * (MAX_FILE_BYTES + 1))
    write(repo / "server.pem", "-----BEGIN PRIVATE KEY-----\n")
    write(repo / "home" / ".ssh" / "config", "Host *\n")
    write(repo / "home" / "id_ed25519.pub", "ssh-ed25519 AAAA\n")
    write(repo / ".netrc", "machine x\n")
    paths = {
        "outside": str(outside),
        "link-out": str(repo / "link-out.txt"),
        "missing": str(repo / "missing.py"),
        "relative": "src/app.py",
        "fifo": str(repo / "pipe"),
        "binary": str(repo / "blob.bin"),
        "latin1": str(repo / "latin1.txt"),
        "big": str(repo / "big.txt"),
        "pem": str(repo / "server.pem"),
        "ssh": str(repo / "home" / ".ssh" / "config"),
        "idkey": str(repo / "home" / "id_ed25519.pub"),
        "netrc": str(repo / ".netrc"),
        "env": str(repo / "config" / ".env"),
        "broken": str(repo / "broken.txt"),
    }
    with pytest.raises(AttachmentRefused) as caught:
        prepare_attachments([*paths.values(), str(repo / "link-in.py")], roots=[repo])
    reasons = refusal(caught)
    expected = {
        "outside": "outside the file roots",
        "link-out": "a symlink leading out of the file roots",
        "missing": "does not exist",
        "relative": "not an absolute path",
        "fifo": "not a regular file",
        "binary": "binary (it contains NUL bytes)",
        "latin1": "not UTF-8",
        "big": "over the per-file limit",
        "pem": "secret-looking",
        "ssh": "inside a .ssh/ folder",
        "idkey": "secret-looking",
        "netrc": "secret-looking",
        "env": "secret-looking",
        "broken": "a symlink leading out",  # its target (a path outside) is checked, not the link
    }
    for key, fragment in expected.items():
        assert fragment in reasons[paths[key]], (key, reasons[paths[key]])
    assert str(repo / "link-in.py") not in reasons  # a symlink inside the roots is fine
    assert str(caught.value).startswith(f"nothing was sent: {len(expected)} attachment(s) refused:")


def test_a_symlink_named_innocently_that_leads_to_a_secret_is_refused(repo: Path) -> None:
    key = write(repo / "keys" / "id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\n")
    os.symlink(key, repo / "notes.txt")
    with pytest.raises(AttachmentRefused) as caught:
        prepare_attachments([str(repo / "notes.txt")], roots=[repo])
    assert "id_rsa" in refusal(caught)[str(repo / "notes.txt")]


def test_broken_link_inside_the_roots(repo: Path) -> None:
    os.symlink(repo / "gone.txt", repo / "dangling.txt")
    with pytest.raises(AttachmentRefused) as caught:
        prepare_attachments([str(repo / "dangling.txt")], roots=[repo])
    assert "a broken symlink" in refusal(caught)[str(repo / "dangling.txt")]


def test_directories_skip_links_that_lead_out(tmp_path: Path, repo: Path) -> None:
    os.symlink(write(tmp_path / "outside.txt", "x\n"), repo / "src" / "out.txt")
    prepared = prepare_attachments([str(repo / "src")], roots=[repo])
    assert "out.txt (symlink out of the file roots)" in prepared.notes[0]
    assert all("outside" not in item.path for item in prepared.files)


def test_a_directory_over_the_file_cap_is_refused(repo: Path) -> None:
    for index in range(MAX_FILES + 1):
        write(repo / "many" / f"f{index:04}.txt", "x\n")
    with pytest.raises(AttachmentRefused) as caught:
        prepare_attachments([str(repo / "many")], roots=[repo])
    assert f"more than {MAX_FILES} files" in refusal(caught)[str(repo / "many")]


def test_a_file_named_twice_is_attached_once(repo: Path) -> None:
    app = str(repo / "src" / "app.py")
    prepared = prepare_attachments([app, str(repo / "src"), app], roots=[repo])
    assert [item.path for item in prepared.files].count(app) == 1


def test_api_key_values_are_redacted_before_anything_leaves(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-0123456789abcdef")
    path = write(repo / "settings.py", "KEY = 'sk-live-0123456789abcdef'\nOTHER = 'custom-secret-value'\n")
    prepared = prepare_attachments([str(path)], roots=[repo], secrets=["custom-secret-value"])
    (item,) = prepared.files
    text = item.data.decode()
    assert "sk-live" not in text and "custom-secret" not in text and text.count("[REDACTED]") == 2
    assert item.part()["redacted"] is True and item.sha256 == sha256_hex(item.data)


def test_images_from_paths_and_data_urls(repo: Path) -> None:
    for name, data in (("a.png", PNG), ("b.jpg", JPEG), ("c.gif", GIF), ("d.webp", WEBP)):
        write(repo / "img" / name, data)
    prepared = prepare_attachments(
        images=[str(repo / "img" / n) for n in ("a.png", "b.jpg", "c.gif", "d.webp")] + [data_url(PNG, "image/png")],
        roots=[repo],
    )
    # The data: URL holds the same bytes as a.png: stored and sent once.
    assert [image.media_type for image in prepared.images] == ["image/png", "image/jpeg", "image/gif", "image/webp"]
    assert prepared.images[0].part() == {"type": "image", "sha256": sha256_hex(PNG), "size": len(PNG), "media_type": "image/png", "path": str(repo / "img" / "a.png")}


def test_bad_images_are_refused(repo: Path) -> None:
    write(repo / "fake.png", b"not a png at all")
    write(repo / "doc.txt", "text\n")
    write(repo / "huge.png", PNG + b"\x00" * MAX_IMAGE_BYTES)
    bad = [
        str(repo / "fake.png"),
        str(repo / "doc.txt"),
        str(repo / "huge.png"),
        "data:image/png;base64,@@@@",
        data_url(JPEG, "image/png"),
        data_url(b"%PDF-1.4", "application/pdf"),
        "data:text/plain,hello",
    ]
    with pytest.raises(AttachmentRefused) as caught:
        prepare_attachments(images=bad, roots=[repo])
    reasons = list(refusal(caught).values())
    assert "its bytes are not a image/png image" in reasons[0]
    assert "not a supported image type" in reasons[1]
    assert "over the per-image limit" in reasons[2]
    assert "base64 data is not valid" in reasons[3]
    assert "it says image/png but its bytes are image/jpeg" in reasons[4]
    assert "application/pdf is not supported" in reasons[5]
    assert "not a base64 data: URL" in reasons[6]


def test_wrong_argument_types_are_refused(repo: Path) -> None:
    with pytest.raises(AttachmentRefused, match="must be a list of strings"):
        prepare_attachments("/etc/passwd", roots=[repo])  # type: ignore[arg-type]
    with pytest.raises(AttachmentRefused, match="not a path"):
        prepare_attachments([3], roots=[repo])  # type: ignore[list-item]


def test_the_budget_error_lists_each_file_and_suggests_larger_models(repo: Path) -> None:
    prepared = prepare_attachments([str(repo / "src" / "app.py"), str(repo / "src" / "util.py")], roots=[repo])
    prepared.check_budget("tiny", prepared.tokens, 8192)  # exactly fits
    with pytest.raises(AttachmentsTooLarge) as caught:
        prepared.check_budget("tiny", prepared.tokens - 1, prepared.tokens + 100)
    message = str(caught.value)
    assert message.startswith(f"nothing was sent: the attachments need about {prepared.tokens:,} tokens but 'tiny' has room for about")
    for item in prepared.files:
        assert f"- {item.path}: about {item.tokens:,} tokens" in message
    suggested = re.findall(r"(\S+)\* \(([\d,]+) tokens\)", message)
    assert suggested and all(int(tokens.replace(",", "")) > prepared.tokens for _, tokens in suggested)


def test_file_roots_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert file_roots({}) == [tmp_path.resolve()]
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    assert file_roots({"LLM_MCP_FILE_ROOTS": f"{a}{os.pathsep}{b}{os.pathsep}"}) == [a, b]
    with pytest.raises(FileRootsInvalid, match="not an absolute path"):
        file_roots({"LLM_MCP_FILE_ROOTS": "relative/dir"})
    with pytest.raises(FileRootsInvalid, match="not an existing folder"):
        file_roots({"LLM_MCP_FILE_ROOTS": str(tmp_path / "absent")})


def test_the_denylist() -> None:
    for secret in (".env", ".env.local", "prod.env", "x/.aws/config", "a/.gnupg/pubring.kbx", "id_rsa.pub", ".pypirc",
                   ".npmrc", "home/.config/gcloud/application_default_credentials.json", "k.p12", "terraform.tfstate"):
        assert secret_reason(Path(secret)), secret
    for fine in ("app.py", "environment.md", "keys.py", "README", "docs/credentials-howto.md"):
        assert secret_reason(Path(fine)) is None, fine


def test_rendering_numbers_lines() -> None:
    assert numbered("a\nb\n") == "1  a\n2  b"
    assert numbered("") == "(empty file)"
    ten = "\n".join(str(i) for i in range(10))
    assert numbered(ten).splitlines()[0] == " 1  0"
    assert file_block("/p/x.py", "a\n") == '<file path="/p/x.py" lines="1">\n1  a\n</file>'


def test_blob_store_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    name = blobs.put(b"hello")
    assert name == sha256_hex(b"hello") and (tmp_path / "blobs" / name).read_bytes() == b"hello"
    before = (tmp_path / "blobs" / name).stat().st_mtime_ns
    assert blobs.put(b"hello") == name and (tmp_path / "blobs" / name).stat().st_mtime_ns == before
    assert blobs.read(name) == b"hello" and blobs.exists(name) and not blobs.exists("../etc")
    (tmp_path / "blobs" / name).write_bytes(b"tampered")
    with pytest.raises(FileNotFoundError, match="does not hold the bytes"):
        blobs.read(name)
    with pytest.raises(ValueError, match="not a blob name"):
        blobs.path("../../etc/passwd")


def test_caps_on_counts_and_total_bytes(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import chat.attachments.prepare as prepare_module

    monkeypatch.setattr(prepare_module, "MAX_TOTAL_FILE_BYTES", 100)
    big = write(repo / "a.txt", "x" * 80 + "\n")
    second = write(repo / "b.txt", "y" * 80 + "\n")
    with pytest.raises(AttachmentRefused) as caught:
        prepare_attachments([str(big), str(second)], roots=[repo])
    assert "would exceed 100 bytes per call" in refusal(caught)[str(second)]
    monkeypatch.setattr(prepare_module, "MAX_TOTAL_FILE_BYTES", 10_000)
    monkeypatch.setattr(prepare_module, "MAX_FILES", 1)
    with pytest.raises(AttachmentRefused) as caught:
        prepare_attachments([str(big), str(second)], roots=[repo])
    assert "over the cap of 1 files per call" in refusal(caught)[str(second)]
    with pytest.raises(AttachmentRefused) as caught:
        prepare_attachments(images=[data_url(PNG, "image/png")] * (prepare_module.MAX_IMAGES + 1), roots=[repo])
    assert "over the cap of 20 per call" in refusal(caught)["images"]


def test_odd_image_inputs(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import chat.attachments.prepare as prepare_module

    (repo / "folder.png").mkdir()
    monkeypatch.setattr(prepare_module, "MAX_IMAGE_BYTES", 30)
    with pytest.raises(AttachmentRefused) as caught:
        prepare_attachments(images=[str(repo / "folder.png"), data_url(PNG * 2, "image/png"), f"{repo}/a\x00.png"], roots=[repo])
    reasons = list(refusal(caught).values())
    assert reasons[0] == "not a regular file"
    assert "over the per-image limit of 30 bytes" in reasons[1]
    assert "NUL character" in reasons[2]


def test_the_budget_error_counts_images(repo: Path) -> None:
    write(repo / "i.png", PNG)
    prepared = prepare_attachments(images=[str(repo / "i.png")], roots=[repo])
    with pytest.raises(AttachmentsTooLarge, match=r"- 1 image\(s\): about 800 tokens"):
        prepared.check_budget("tiny", 10, 100)


def test_a_hit_is_placed_in_the_section_holding_its_snippet() -> None:
    from index.snippets import file_of_match
    from index.rows import ATTACHMENT_MARK

    text = f"look at this{ATTACHMENT_MARK}file /p/a.py\nalpha beta{ATTACHMENT_MARK}file /p/b.py\ngamma beta"
    assert file_of_match(text, "[gamma] beta") == "/p/b.py"
    assert file_of_match(text, "look at [this]") is None
    # A snippet that spans two sections: the first highlighted term decides.
    assert file_of_match(text, f"alpha [beta]{ATTACHMENT_MARK}file /p/b.py…") == "/p/a.py"
    assert file_of_match(text, "[nowhere]") is None


def test_blob_texts_cache_and_missing_blobs(tmp_path: Path) -> None:
    from index.blob_text import BlobTexts

    blobs = BlobStore(tmp_path)
    first, second = blobs.put(b"first text"), blobs.put(b"second text")
    texts = BlobTexts(tmp_path, cache_bytes=12)
    assert texts(first) == "first text" and texts(first) == "first text"
    assert texts(second) == "second text"  # evicts the first (12 characters at most)
    (tmp_path / "blobs" / first).unlink()
    assert texts(first) is None and texts("0" * 64) is None


def test_stale_temp_files_of_a_crashed_blob_writer_are_cleaned(tmp_path: Path) -> None:
    from store import SessionStore

    store = SessionStore(tmp_path / "root")
    BlobStore(store.root).put(b"kept")
    stale = write(store.root / "blobs" / ".tmp-abc.123", b"half written")
    os.utime(stale, (1, 1))
    assert stale in store.clean_stale_temp_files()
    assert not stale.exists() and BlobStore(store.root).exists(sha256_hex(b"kept"))


def test_the_summariser_transcript_names_attachments(repo: Path) -> None:
    from chat.prompt import transcript
    from store import Message

    write(repo / "i.png", PNG)
    prepared = prepare_attachments([str(repo / "src" / "app.py")], [str(repo / "i.png"), data_url(JPEG, "image/jpeg")], roots=[repo])
    text = transcript([(0, Message(role="user", content=prepared.content("why?")))])
    assert text == (
        f"[1] user: why?\n    attached file {repo / 'src' / 'app.py'} (4 lines)\n"
        f"    attached image {repo / 'i.png'}\n    attached image image/jpeg"
    )
