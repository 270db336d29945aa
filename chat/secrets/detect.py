"""Secrets in text: found with Yelp's ``detect-secrets`` plugins, replaced by ``[REDACTED <kind>]``.

:func:`find_secrets` returns where the secrets are (:class:`Finding`: kind, line, offsets);
:func:`redact_text` replaces them and says which lines of which source held what kind (never
the value). The kinds are listed in :data:`KINDS` and in ``docs/attachments.md``.

How the detector is used, and why not through ``detect_secrets.core.scan``:

- the plugins' own regular expressions and filter functions are called directly, because the
  library's scan entry points go through a process-wide settings object (not thread-safe, and
  able to enable *verification*, which sends a found secret to its service: never wanted here);
- each pattern of the regex plugins (AWS, GitHub, Slack, Stripe, private keys, URLs with a
  password, JWTs...) runs over the whole text only when a literal every match of it contains
  (``AKIA``, ``ghp_``, ``-----BEGIN``... its :class:`Anchor`) occurs there: ordinary text costs a
  few substring searches;
- the keyword plugin and the high-entropy plugins run only on lines that name a secret-ish word
  (``key``, ``secret``, ``token``, ``passw``...): a high-entropy string counts as a secret only
  on such a line (a bare hash or id in code is not one), which is also the cheap pre-filter
  that keeps ordinary text off the slow path;
- a private key is redacted as a whole block (``BEGIN`` to ``END``), not only its header line;
- a few provider key shapes the library (1.5) does not know are added: :data:`EXTRA_PATTERNS`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from detect_secrets.filters import heuristic
from detect_secrets.plugins.artifactory import ArtifactoryDetector
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.cloudant import CloudantDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString, HighEntropyStringsPlugin
from detect_secrets.plugins.ibm_cloud_iam import IbmCloudIamDetector
from detect_secrets.plugins.ibm_cos_hmac import IbmCosHmacDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.keyword import QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP, REGEX_BY_FILETYPE, KeywordDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.softlayer import SoftlayerDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector
from detect_secrets.util.filetype import determine_file_type

MARKER = "[REDACTED {kind}]"

LINE = None  # an anchor saying: run this pattern on the lines that name a secret-ish word only


@dataclass(frozen=True)
class Anchor:
    """Literals one of which any match must contain: the pattern runs only when one is in the text
    (in its lower-cased copy for a case-insensitive pattern, whose literals are lower case)."""

    literals: tuple[str, ...]
    ignore_case: bool = False


ALWAYS = Anchor(("",))

#: detect-secrets plugin (regex based) -> the kind named in the marker, and the anchor of each of
#: its patterns (one for all, or one per pattern; LINE: only on lines naming a secret-ish word)
_REGEX_PLUGINS: tuple[tuple[type[RegexBasedDetector], str, Anchor | None | tuple[Anchor | None, ...]], ...] = (
    (PrivateKeyDetector, "private-key", Anchor(("PRIVATE KEY", "PuTTY-User-Key"))),
    (AWSKeyDetector, "aws-access-key", (Anchor(("A3T", "ABIA", "ACCA", "AKIA", "ASIA")), LINE)),  # 2nd: secret keys
    (GitHubTokenDetector, "github-token", Anchor(("ghp_", "gho_", "ghu_", "ghs_", "ghr_"))),
    (GitLabTokenDetector, "gitlab-token", Anchor(("gl", "GR1348941"))),  # its patterns start with literals: cheap when "gl" misfires
    (SlackDetector, "slack-token", Anchor(("xox", "hooks.slack.com"), ignore_case=True)),
    (StripeDetector, "stripe-key", Anchor(("k_live_",))),
    (OpenAIDetector, "openai-key", Anchor(("T3BlbkFJ",))),
    (JwtTokenDetector, "jwt", Anchor(("eyJ",))),
    (BasicAuthDetector, "url-password", Anchor(("://",))),
    (NpmDetector, "npm-token", Anchor(("_authToken",))),
    (PypiTokenDetector, "pypi-token", Anchor(("pypi-",))),
    (SendGridDetector, "sendgrid-key", Anchor(("SG.",))),
    (TwilioKeyDetector, "twilio-key", ALWAYS),
    (DiscordBotTokenDetector, "discord-token", ALWAYS),
    (TelegramBotTokenDetector, "telegram-token", ALWAYS),
    (MailchimpDetector, "mailchimp-key", Anchor(("-us",))),
    (ArtifactoryDetector, "artifactory-token", Anchor(("AKC", "AP"))),
    (AzureStorageKeyDetector, "azure-storage-key", Anchor(("AccountKey=",))),
    (SquareOAuthDetector, "square-oauth-secret", Anchor(("sq0csp-",))),
    (IbmCloudIamDetector, "ibm-cloud-key", LINE),
    (IbmCosHmacDetector, "ibm-cos-hmac-key", LINE),
    (CloudantDetector, "cloudant-credential", LINE),
    (SoftlayerDetector, "softlayer-key", LINE),
)
#: key shapes detect-secrets 1.5 does not know (the LLM providers this server talks to, and others);
#: a pattern with a group redacts the group only
EXTRA_PATTERNS: tuple[tuple[re.Pattern[str], str, Anchor], ...] = (
    (re.compile(r"sk-ant-[A-Za-z0-9_\-]{20,}"), "anthropic-key", Anchor(("sk-ant-",))),
    (re.compile(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{32,}"), "openai-key", Anchor(("sk-",))),
    (re.compile(r"AIza[0-9A-Za-z_\-]{35}"), "google-api-key", Anchor(("AIza",))),
    (re.compile(r"hf_[A-Za-z0-9]{34,}"), "huggingface-token", Anchor(("hf_",))),
    (re.compile(r"github_pat_[A-Za-z0-9_]{60,}"), "github-token", Anchor(("github_pat_",))),
    # detect-secrets wants the AWS secret key quoted; in a prompt it rarely is
    (
        re.compile(r"(?i)aws.{0,20}?(?:key|secret|pwd|pass|token).{0,20}?(?<![0-9a-zA-Z/+])([0-9a-zA-Z/+]{40})(?![0-9a-zA-Z/+=])"),
        "aws-secret-key",
        Anchor(("aws",), ignore_case=True),
    ),
)
#: plugins whose groups capture a token's prefix (``(ghp|gho|...)_``), not the token: the whole match is redacted
_WHOLE_MATCH: frozenset[type[RegexBasedDetector]] = frozenset({GitHubTokenDetector, GitLabTokenDetector})
KEYWORD_KIND = "assigned-secret"
ENTROPY_KIND = "high-entropy-string"
#: every kind a marker may name
KINDS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [kind for _, kind, _ in _REGEX_PLUGINS] + ["aws-secret-key"] + [kind for _, kind, _ in EXTRA_PATTERNS] + [KEYWORD_KIND, ENTROPY_KIND]
    )
)
#: a line must hold one of these words for the keyword, high-entropy and LINE patterns to look at it
#: (every one of those patterns needs one of them, so nothing they would find is lost); matched
#: against the lower-cased text, which is much faster than re.IGNORECASE
_SECRET_WORDS = re.compile(r"key|secret|token|pass|pw|auth|credential|contrase|cloudant\.com|softlayer\.com")
#: every LINE pattern's secret is a run of 24+ such characters (AWS 40, IBM 44/48, Cloudant 24/64, SoftLayer 64)
_LONG_RUN = re.compile(r"(?<![A-Za-z0-9_\-+/])[A-Za-z0-9_\-+/]{24}")  # starts only where a run starts
#: the words of detect-secrets' keyword plugin (its DENYLIST): its slow regexes run only on such lines
_KEYWORD_WORDS = re.compile(
    r"(?=[adspckr])(?:(?:api|auth|service|account|db|database|priv|private|client)_?key|(?:db|database|key)_?pass|passwd|password|pwd|secret|contrase)"
)
_PRIVATE_KEY_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|Private-MAC: *\S*")


@dataclass(frozen=True)
class Finding:
    """A secret in a text: its kind, its line (1-based) and its offsets ``text[start:end]``."""

    kind: str
    line: int
    start: int
    end: int


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    kind: str
    whole: bool  # redact the whole match, not its groups
    anchor: Anchor | None


@dataclass(frozen=True)
class _Triggers:
    """Which anchored patterns (by index) each literal triggers, so every literal is looked for once."""

    exact: dict[str, tuple[int, ...]]
    lowered: dict[str, tuple[int, ...]]

    @classmethod
    def of(cls, anchored: list[_Pattern]) -> _Triggers:
        exact: dict[str, list[int]] = {}
        lowered: dict[str, list[int]] = {}
        for index, entry in enumerate(anchored):
            assert entry.anchor is not None
            for literal in entry.anchor.literals:
                (lowered if entry.anchor.ignore_case else exact).setdefault(literal, []).append(index)
        return cls({k: tuple(v) for k, v in exact.items()}, {k: tuple(v) for k, v in lowered.items()})

    def fired(self, text: str, lowered: str) -> list[int]:
        indexes: set[int] = set()
        for literal, entries in self.exact.items():
            if literal in text:
                indexes.update(entries)
        for literal, entries in self.lowered.items():
            if literal in lowered:
                indexes.update(entries)
        return sorted(indexes)


@dataclass
class _Detector:
    """The plugins, built once: patterns run on the whole text (when triggered) or on secret-word lines."""

    anchored: list[_Pattern]
    by_line: list[_Pattern]
    keyword: KeywordDetector
    entropy: list[HighEntropyStringsPlugin]
    triggers: _Triggers = field(init=False)

    def __post_init__(self) -> None:
        self.triggers = _Triggers.of(self.anchored)


@lru_cache(maxsize=1)
def _plugins() -> _Detector:
    anchored: list[_Pattern] = []
    by_line: list[_Pattern] = []
    for plugin_class, kind, anchors in _REGEX_PLUGINS:
        denylist = list(plugin_class().denylist)  # type: ignore[call-arg]
        per_pattern = anchors if isinstance(anchors, tuple) else (anchors,) * len(denylist)
        for pattern, anchor in zip(denylist, per_pattern, strict=True):
            entry = _Pattern(pattern, kind, plugin_class in _WHOLE_MATCH, anchor)
            (by_line if anchor is LINE else anchored).append(entry)
    anchored += [_Pattern(pattern, kind, pattern.groups == 0, anchor) for pattern, kind, anchor in EXTRA_PATTERNS]
    # detect-secrets' default limits (4.5 and 3.0 bits per character)
    entropy: list[HighEntropyStringsPlugin] = [Base64HighEntropyString(limit=4.5), HexHighEntropyString(limit=3.0)]
    return _Detector(anchored, by_line, KeywordDetector(), entropy)


def _aws_kind(value: str) -> str:
    return "aws-access-key" if AWSKeyDetector.denylist[0].fullmatch(value) else "aws-secret-key"


def _spans(match: re.Match[str], whole: bool) -> Iterator[tuple[int, int]]:
    """Like ``RegexBasedDetector.analyze_string``: every non-empty group, else the whole match."""
    if match.re.groups and not whole:
        for index in range(1, match.re.groups + 1):
            if match.group(index):
                yield match.span(index)
    elif match.group(0):
        yield match.span(0)


def _filtered(value: str, line: str, plugin: BasePlugin | None) -> bool:
    """detect-secrets' own false-positive heuristics (its default filters)."""
    return (
        heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or heuristic.is_not_alphanumeric_string(value)
        or (plugin is not None and heuristic.is_likely_id_string(value, line, plugin))
    )


def _private_key_end(text: str, start: int) -> int:
    found = _PRIVATE_KEY_END.search(text, start)
    return found.end() if found else len(text)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    index = text.find("\n")
    while index != -1:
        starts.append(index + 1)
        index = text.find("\n", index + 1)
    return starts


def _pattern_findings(entry: _Pattern, text: str, offset: int = 0) -> Iterator[tuple[int, int, str, int]]:
    for match in entry.regex.finditer(text):
        for start, end in _spans(match, entry.whole):
            value = text[start:end]
            if entry.kind == "private-key":
                line_start = text.rfind("\n", 0, start) + 1
                dashes = text.find("-----", line_start, start)
                yield offset + (dashes if dashes != -1 else start), offset + _private_key_end(text, end), entry.kind, 0
                continue
            if entry.kind != "jwt" and _filtered(value, "", None):
                continue
            kind = _aws_kind(value) if entry.kind == "aws-access-key" else entry.kind
            yield offset + start, offset + end, kind, 1


def _raw_findings(text: str, source_name: str | None) -> Iterator[tuple[int, int, str, int]]:
    """(start, end, kind, priority) for every hit, overlapping ones included; lower priority wins."""
    detector = _plugins()
    anchored, by_line, keyword, entropy = detector.anchored, detector.by_line, detector.keyword, detector.entropy
    lowered = text.lower()
    if len(lowered) != len(text):  # a few letters lower to two characters: offsets would shift
        lowered = "".join(char if len(char.lower()) != 1 else char.lower() for char in text)
    # ``in`` per literal (a fast substring search) beats one regex alternation of them all
    for index in detector.triggers.fired(text, lowered):
        yield from _pattern_findings(anchored[index], text)
    regexes = QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP
    if source_name:
        regexes = REGEX_BY_FILETYPE.get(determine_file_type(source_name), regexes)
    line_end = -1
    for word in _SECRET_WORDS.finditer(lowered):
        if word.start() < line_end:
            continue  # a second word on a line already scanned
        line_start = text.rfind("\n", 0, word.start()) + 1
        line_end = text.find("\n", word.end())
        line_end = len(text) if line_end == -1 else line_end
        line = text[line_start:line_end]
        if _LONG_RUN.search(line):
            for entry in by_line:
                yield from _pattern_findings(entry, line, line_start)
        with_keyword = _KEYWORD_WORDS.search(lowered, line_start, line_end) is not None
        found = list(_line_findings(line, line_start, keyword if with_keyword else None, regexes, entropy))
        # detect-secrets drops such a line (``secret = get_secret()``); its regex is slow, so last
        if found and not heuristic.is_indirect_reference(line):
            yield from found


def _line_findings(
    line: str, offset: int, keyword: KeywordDetector | None, regexes: Any, entropy: Iterable[HighEntropyStringsPlugin]
) -> Iterator[tuple[int, int, str, int]]:
    values = keyword.analyze_string(line, denylist_regex_to_group=regexes) if keyword is not None else ()
    for value in values:
        if value and not _filtered(value, line, keyword):
            at = line.find(value)
            if at != -1:
                yield offset + at, offset + at + len(value), KEYWORD_KIND, 2
    if '"' not in line and "'" not in line:
        return  # the entropy plugins look at quoted strings only
    for plugin in entropy:
        for value in plugin.analyze_string(line):
            if plugin.calculate_shannon_entropy(value) > plugin.entropy_limit and not _filtered(value, line, plugin):
                at = line.find(value)
                if at != -1:
                    yield offset + at, offset + at + len(value), ENTROPY_KIND, 3


def find_secrets(text: str, source_name: str | None = None) -> list[Finding]:
    """The secrets in ``text``, sorted by position, overlaps merged (the most specific kind kept).

    ``source_name`` (a file name or path) picks the keyword rules for its file type, as
    detect-secrets does; without it (a prompt, a reply) a keyword's value must be quoted.
    """
    if not text:
        return []
    raw = sorted(set(_raw_findings(text, source_name)))
    merged: list[list[Any]] = []
    for start, end, kind, priority in raw:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end)
            if priority < last[3]:
                last[2], last[3] = kind, priority
            continue
        merged.append([start, end, kind, priority])
    if not merged:
        return []
    starts = _line_starts(text)
    return [Finding(kind=kind, line=bisect_right(starts, start), start=start, end=end) for start, end, kind, _ in merged]


def redact_findings(text: str, findings: list[Finding]) -> str:
    """``text`` with each finding replaced by ``[REDACTED <kind>]`` (findings sorted, disjoint)."""
    pieces: list[str] = []
    at = 0
    for finding in findings:
        pieces.append(text[at : finding.start])
        pieces.append(MARKER.format(kind=finding.kind))
        at = finding.end
    pieces.append(text[at:])
    return "".join(pieces)


SENT_AND_STORED = "before sending and storing"


def describe(findings: list[Finding], source_name: str, verb: str = SENT_AND_STORED) -> str:
    """What a warning says about ``findings`` in ``source_name``: lines and kinds, never values."""
    where = ", ".join(f"line {finding.line} ({finding.kind})" for finding in findings)
    return f"{source_name}: {len(findings)} secret(s) redacted {verb}: {where}"


def redact_text(text: str, source_name: str, verb: str = SENT_AND_STORED) -> tuple[str, list[str]]:
    """``text`` with every secret replaced by a marker, and the warnings naming source, lines and kinds.

    ``source_name`` names the text in the warning (``prompt``, ``system prompt``, a file path);
    a path also selects the keyword rules for its file type. Text without a finding comes back
    unchanged (the same object) with no warning.
    """
    findings = find_secrets(text, source_name)
    if not findings:
        return text, []
    return redact_findings(text, findings), [describe(findings, source_name, verb)]
