"""The one denylist of secret-looking files: never read, never sent, whatever the file roots say.

A path is refused when any of its components is a secret folder (:data:`SECRET_DIRS`, e.g.
anything under ``.ssh/``), when two consecutive folders are a secret pair
(:data:`SECRET_DIR_PAIRS`, e.g. ``.config/gcloud/``), when its folder and file name are a
secret file of a tool (:data:`SECRET_FILES_IN`, e.g. ``.codex/auth.json``: agent CLIs' own
credentials) or when its file name matches :data:`SECRET_NAMES` (shell-style,
case-insensitive: keys, tokens, shell and REPL histories, password stores). Both the path as given and the path its symlinks resolve to are checked,
so ``notes.txt -> ~/.ssh/id_rsa`` is refused too. ``docs/attachments.md`` lists the same
patterns for users; keep the two in step.
"""

from __future__ import annotations

import fnmatch
from pathlib import PurePath

#: folders whose whole content is secret (a path with one of these components is refused)
SECRET_DIRS: tuple[str, ...] = (".ssh", ".aws", ".gnupg", ".azure", ".kube", ".docker", ".password-store")
#: folder pairs that hold credentials (``.config/gcloud`` anywhere in the path)
SECRET_DIR_PAIRS: tuple[tuple[str, str], ...] = ((".config", "gcloud"), (".config", "gh"), (".config", "op"))
#: (folder, file name pattern): a tool's credential file, refused when it sits directly in that folder
SECRET_FILES_IN: tuple[tuple[str, str], ...] = (
    (".claude", ".credentials.json"),  # Claude Code's OAuth token
    (".codex", "auth.json"),  # Codex CLI
    (".gemini", "oauth_creds.json"),  # Gemini CLI
    (".gemini", "google_accounts.json"),
    (".config", "hub"),  # hub's GitHub token
    (".terraform.d", "credentials.tfrc.json"),
)
#: file names (shell-style patterns, case-insensitive)
SECRET_NAMES: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.ppk",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "_netrc",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".git-credentials",
    ".htpasswd",
    ".boto",
    ".dockercfg",
    "credentials",
    "credentials.json",
    "application_default_credentials.json",
    "service-account*.json",
    "*.tfstate",
    "*.tfstate.backup",
    "secrets.yaml",
    "secrets.yml",
    "secrets.json",
    ".credentials.json",
    ".vault-token",
    "*.kdbx",
    # shell and REPL histories (``export GITHUB_TOKEN=...`` lines)
    ".bash_history",
    ".zsh_history",
    ".histfile",
    ".sh_history",
    ".python_history",
    ".psql_history",
    ".mysql_history",
    ".node_repl_history",
    ".sqlite_history",
    ".rediscli_history",
    ".*_history",
)


def secret_reason(path: PurePath) -> str | None:
    """Why ``path`` looks secret (a sentence), or None when it does not."""
    parts = [part.lower() for part in path.parts]
    for part in parts[:-1]:
        if part in SECRET_DIRS:
            return f"it is inside a {part}/ folder, which holds credentials"
    for first, second in zip(parts, parts[1:-1]):
        if (first, second) in SECRET_DIR_PAIRS:
            return f"it is inside {first}/{second}/, which holds credentials"
    name = parts[-1] if parts else ""
    if len(parts) >= 2:
        for folder, pattern in SECRET_FILES_IN:
            if parts[-2] == folder and fnmatch.fnmatchcase(name, pattern):
                return f"it is {folder}/{name}, a file that holds credentials"
    for pattern in SECRET_NAMES:
        if fnmatch.fnmatchcase(name, pattern):
            return f"its name matches {pattern!r}, a pattern of files that hold secrets"
    return None
