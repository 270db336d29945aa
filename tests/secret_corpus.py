"""Secret shapes, from the providers' own documentation examples, assembled at run time.

Every value is built by concatenation so that no secret scanner (GitHub push protection,
detect-secrets, gitleaks) flags this repository. :data:`SHAPES` maps the marker kind the
server must write to the value; :func:`settings_py` is a source file holding all of them.
"""

from __future__ import annotations

_PEM_BODY = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi" + "Z1BdM3YQmJ8Lkq0bT5uQ\nh4Z2m8kq3Xv9sP1rT7yW"


def _pem() -> str:
    return "-----BEGIN RSA " + "PRIVATE KEY-----\n" + _PEM_BODY + "\n-----END RSA " + "PRIVATE KEY-----"


#: marker kind -> a value of that shape
SHAPES: dict[str, str] = {
    "aws-access-key": "AKIA" + "IOSFODNN7" + "EXAMPLE",
    "aws-secret-key": "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY",
    "github-token": "ghp_" + "a1B2c3D4e5F6g7H8i9J0" + "k1L2m3N4o5P6q7R8",
    "slack-token": "xoxb-" + "123456789012-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx",
    "stripe-key": "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "private-key": _pem(),
    "url-password": "s3cr3t" + "P4ssw0rd",  # inside postgres://admin:<it>@db.example.com/prod
    "anthropic-key": "sk-ant-" + "api03-" + "Zq8xW2vN5mK9pL3rT6yU1iO4aS7dF0gH",
}


def fragments() -> dict[str, list[str]]:
    """Pieces of each value that must not survive anywhere (a private key's body lines too)."""
    pieces = {kind: [value] for kind, value in SHAPES.items()}
    pieces["private-key"] = [line for line in _PEM_BODY.splitlines()]
    return pieces


def database_url() -> str:
    return "postgres://admin:" + SHAPES["url-password"] + "@db.example.com:5432/prod"


def settings_py() -> str:
    """A settings module holding one of each shape (the leak the issue reports)."""
    s = SHAPES
    return (
        "import os\n"
        f'AWS_ACCESS_KEY_ID = "{s["aws-access-key"]}"\n'
        f'aws_secret_access_key = "{s["aws-secret-key"]}"\n'
        f'GITHUB_TOKEN = "{s["github-token"]}"\n'
        f'SLACK_BOT = "{s["slack-token"]}"\n'
        f'STRIPE = "{s["stripe-key"]}"\n'
        f'SIGNING_KEY = """{s["private-key"]}"""\n'
        f'DATABASE_URL = "{database_url()}"\n'
        f'CLAUDE = "{s["anthropic-key"]}"\n'
        "DEBUG = True\n"
    )


def all_values() -> list[str]:
    return [piece for pieces in fragments().values() for piece in pieces]
