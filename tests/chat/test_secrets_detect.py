"""chat.secrets: what is found and how it is replaced; the credential-file denylist; the home-root rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePath

import pytest

from chat.attachments import AttachmentRefused, HomeRootRefused, file_roots, prepare_attachments, secret_reason
from chat.secrets import KINDS, find_secrets, redact_text
from store.blobs import sha256_hex
from tests.secret_corpus import SHAPES, all_values, database_url, settings_py


def test_every_shape_in_a_settings_file_is_found_with_its_kind_and_line() -> None:
    text = settings_py()
    findings = find_secrets(text, "src/settings.py")
    assert [(f.kind, f.line) for f in findings] == [
        ("aws-access-key", 2), ("aws-secret-key", 3), ("github-token", 4), ("slack-token", 5), ("stripe-key", 6),
        ("private-key", 7), ("url-password", 11), ("anthropic-key", 12),
    ]
    redacted, warnings = redact_text(text, "/p/src/settings.py")
    for value in all_values():
        assert value not in redacted
    assert '[REDACTED private-key]"""' in redacted and "END RSA" not in redacted
    assert "postgres://admin:[REDACTED url-password]@db.example.com:5432/prod" in redacted
    assert redacted.endswith("DEBUG = True\n") and redacted.startswith("import os\n")
    (warning,) = warnings
    assert warning.startswith("/p/src/settings.py: 8 secret(s) redacted before sending and storing: line 2 (aws-access-key)")
    assert all(value not in warning for value in all_values())
    assert {f.kind for f in findings} <= set(KINDS)


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_each_shape_alone_in_prose_is_redacted(kind: str) -> None:
    value = database_url() if kind == "url-password" else SHAPES[kind]
    text = f"here it is: {value} -- keep it safe"
    if kind == "aws-secret-key":  # a bare 40-character string is only a secret in context
        text = f"my AWS secret access key is {value} -- keep it safe"
    redacted, warnings = redact_text(text, "prompt")
    assert SHAPES[kind] not in redacted and f"[REDACTED {kind}]" in redacted, redacted
    assert warnings and warnings[0].startswith("prompt: 1 secret(s) redacted")


@pytest.mark.parametrize(
    "text",
    [
        "Please reset the password: it expired. The key is in the drawer.",
        'digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"',  # a hash, no secret word
        "max_tokens = 4096\ntoken_count = estimate(text)\n",
        'api_key = os.environ["OPENAI_API_KEY"]',
        'password = "${DB_PASSWORD}"',
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert find_secrets(text, "x.py") == []
    assert redact_text(text, "x.py") == (text, [])


def test_keyword_and_entropy_need_a_secret_word_on_the_line() -> None:
    value = "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LmNbVcXz"
    assert [f.kind for f in find_secrets(f'client_secret = "{value}"', "a.py")] == ["assigned-secret"]
    assert find_secrets(f'label = "{value}"', "a.py") == []


@pytest.mark.parametrize(
    "path",
    [
        "/h/.claude/.credentials.json", "/h/.codex/auth.json", "/h/.gemini/oauth_creds.json", "/h/.bash_history",
        "/h/.zsh_history", "/h/.python_history", "/h/.psql_history", "/h/.mysql_history", "/h/.node_repl_history",
        "/h/.vault-token", "/h/.config/hub", "/h/.terraform.d/credentials.tfrc.json", "/h/.config/op/config",
        "/h/.kube/config", "/h/vault/passwords.kdbx",
    ],
)
def test_credential_files_are_refused_by_name(path: str) -> None:
    assert secret_reason(PurePath(path)) is not None


@pytest.mark.parametrize("path", ["/h/project/auth.json", "/h/.config/hub.md", "/h/project/history.py", "/h/.claude/settings.json"])
def test_ordinary_files_near_those_names_are_allowed(path: str) -> None:
    assert secret_reason(PurePath(path)) is None


def test_credential_files_are_refused_when_attached(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for relative in (".claude/.credentials.json", ".codex/auth.json", ".bash_history", ".config/hub", ".vault-token"):
        (home / relative).parent.mkdir(parents=True, exist_ok=True)
        (home / relative).write_text("export GITHUB_TOKEN=x\n")
    paths = [str(home / r) for r in (".claude/.credentials.json", ".codex/auth.json", ".bash_history", ".config/hub", ".vault-token")]
    with pytest.raises(AttachmentRefused) as refused:
        prepare_attachments(paths, roots=[home])
    assert [path for path, _ in refused.value.refusals] == paths
    assert all("secret-looking" in reason for _, reason in refused.value.refusals)


def test_a_file_is_redacted_when_prepared_and_its_blob_hash_is_of_the_redacted_text(tmp_path: Path) -> None:
    source = tmp_path / "src" / "settings.py"
    source.parent.mkdir()
    source.write_text(settings_py())
    prepared = prepare_attachments([str(source)], roots=[tmp_path])
    (item,) = prepared.files
    text = item.data.decode()
    assert all(value not in text for value in all_values()) and item.redacted
    assert item.sha256 == sha256_hex(text.encode())
    assert prepared.notes[0].startswith(f"{source}: 8 secret(s) redacted")
    allowed = prepare_attachments([str(source)], roots=[tmp_path], allow_secrets=True)
    assert allowed.files[0].data == source.read_bytes() and allowed.notes == ()


def test_no_implicit_root_at_home_or_slash(tmp_path: Path) -> None:
    home = tmp_path / "home" / "me"
    home.mkdir(parents=True)
    for cwd, what in ((home, "your home folder"), (tmp_path / "home", "a folder above your home folder"), (Path("/"), "the file system's root")):
        with pytest.raises(HomeRootRefused) as refused:
            file_roots({}, cwd=cwd, home=home)
        message = str(refused.value)
        assert what in message and "LLM_MCP_FILE_ROOTS" in message and "claude mcp add" in message and "Cursor" in message
    project = home / "project"
    project.mkdir()
    assert file_roots({}, cwd=project, home=home) == [project.resolve()]
    assert file_roots({"LLM_MCP_FILE_ROOTS": str(home)}, cwd=home, home=home) == [home.resolve()]  # said explicitly: allowed


def _more_shapes() -> str:
    """Token shapes of the other plugins (assembled, like the corpus)."""
    return "\n".join([
        "jwt = " + "eyJhbGciOiJIUzI1NiJ9" + "." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0" + "." + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "//registry.npmjs.org/:_authToken=" + "npm_" + "abcdefghijklmnopqrstuvwxyz0123456789",
        "SENDGRID = 'SG." + "ngeVfQFYQlKU0ufo8x5d1A" + "." + "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr'",
        "twilio_sid = AC" + "a" * 16 + "b" * 16,
        "hook = https://hooks.slack.com/services/" + "T00000000/B00000000/" + "XXXXXXXXXXXXXXXXXXXXXXXX",
        "GITLAB = glpat-" + "xxxxXXXXxxxxXXXXxxxx",
        "AccountKey=" + "a" * 40 + "B" * 48,
        "square = sq0csp-" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
        "hf = hf_" + "abcdefghijklmnopqrstuvwxyzABCDEFGH",
        "google = AIza" + "SyA-abcdefghijklmnopqrstuvwxyz01234",
        'aws_secret = "' + "wJalrXUtnFEMI/K7MDENG/" + 'bPxRfiCYEXAMPLEKEY"',
        'ibm_cloud_api_key = "' + "abcdEFGHijklMNOPqrstUVWXyz0123456789_-abcdef" + '"',
    ])


def test_anchors_lose_nothing(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each regex pattern runs only when its anchor literal occurs: on these texts, exactly the
    findings of running every pattern everywhere."""
    from chat.secrets import detect

    texts = [settings_py(), _more_shapes(), settings_py().upper(), (REPO / "server.py").read_text(encoding="utf-8")]
    anchored = [[(f.kind, f.start, f.end) for f in find_secrets(text, "x.py")] for text in texts]
    original = detect._plugins()
    everywhere = dataclasses.replace(original, anchored=[detect._Pattern(p.regex, p.kind, p.whole, detect.ALWAYS) for p in original.anchored])
    assert len(everywhere.triggers.fired("", "")) == len(original.anchored)
    monkeypatch.setattr(detect, "_plugins", lambda: everywhere)
    assert [[(f.kind, f.start, f.end) for f in find_secrets(text, "x.py")] for text in texts] == anchored
    assert len(anchored[1]) == 12, anchored[1]  # one per line


REPO = Path(__file__).resolve().parents[2]


def test_a_summary_that_echoes_a_secret_is_stored_redacted() -> None:
    import anyio

    from chat.compression import summarise
    from tests.chat.test_compression_unit import RecordingSummariser, estimate
    from store.schema import Message

    adapter = RecordingSummariser([f"The user shared the key {SHAPES['github-token']} and asked about retries."])
    items = [(0, Message(role="user", content="about retries"))]
    summary = anyio.run(lambda: summarise(adapter, "s", None, items, window=8000, estimate=estimate))
    assert summary.text == "The user shared the key [REDACTED github-token] and asked about retries."
