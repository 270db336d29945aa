"""Near matches: when a new session id is probably a typo of an existing one.

``chat(session_id="refactr-auth")`` starts a new session when no such id exists; if
``refactor-auth`` exists, the caller most likely mistyped it. :func:`near_matches` finds
existing ids within a small Damerau-Levenshtein distance (letter case ignored), from any
source of candidate ids: the server feeds it from the SQLite index; :func:`casefold_view_ids`
is the default source, the names in ``by-casefold/`` (one ``os.scandir``, no file read).
"""

from __future__ import annotations

import os
import re
import unicodedata
from itertools import product
from os.path import commonprefix
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from store import casefold
from store.paths import Layout
from store.session_store import SessionStore, SessionSummary, summarize
from store.errors import StoreError

CandidateSource = Callable[[], Iterable[str]]
# Lines the piece counts are estimated on: enough to rank the cuts, cheap to count in.
_SAMPLE_LINES = 5000
_SHORT = 8


def max_distance(session_id: str) -> int:
    """How far a typo may be: 2 edits for ids of 5+ characters, 1 for 3-4, none below."""
    if len(session_id) >= 5:
        return 2
    if len(session_id) >= 3:
        return 1
    return 0


def distance_within(a: str, b: str, limit: int) -> int | None:
    """The optimal-string-alignment distance of ``a`` and ``b`` (a swap of neighbours is one
    edit) if it is at most ``limit``, else None.

    Only a band of width ``2 * limit + 1`` around the diagonal is computed and the scan stops
    as soon as a whole row exceeds ``limit``: O(limit * len) per pair, and most pairs of
    unrelated ids stop after a few rows.
    """
    if abs(len(a) - len(b)) > limit:
        return None
    if a == b:
        return 0
    # The shared head and tail cost nothing; generated ids share long heads (the date).
    # One character of the head is kept so a swap across its end is still seen.
    head = len(commonprefix((a, b)))
    if head > 1:
        a, b = a[head - 1 :], b[head - 1 :]
    tail = len(commonprefix((a[::-1], b[::-1])))
    if tail > 1:
        a, b = a[: len(a) - tail + 1], b[: len(b) - tail + 1]
    big = limit + 1
    n = len(b)
    previous2: list[int] = []
    previous = [j if j <= limit else big for j in range(n + 1)]
    for i in range(1, len(a) + 1):
        low, high = max(1, i - limit), min(n, i + limit)
        current = [big] * (n + 1)
        current[0] = i if i <= limit else big
        char = a[i - 1]
        row_min = current[0]
        for j in range(low, high + 1):
            cost = 0 if char == b[j - 1] else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value if value <= limit else big
            row_min = min(row_min, current[j])
        if row_min > limit:
            return None
        previous2, previous = previous, current
    result = previous[n]
    return result if result <= limit else None


@dataclass(frozen=True)
class NearMatch:
    """An existing id close to the new one; ``summary`` when :func:`best_near_match` loaded it."""

    id: str
    distance: int
    summary: SessionSummary | None = None


def _fold(text: str) -> str:
    """:func:`store.casefold.casefold_key` of every line of ``text`` at once (C speed)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


def _partitions(length: int, pieces: int) -> Iterator[tuple[int, ...]]:
    """Positions of ``pieces - 1`` single-character gaps splitting ``length`` characters into
    ``pieces`` non-empty runs; near the balanced split only, for long ids (a few dozen at most)."""
    if pieces == 1:
        yield ()
        return
    run = (length - (pieces - 1)) / pieces
    spread = range(-2, 3) if length > 12 else range(-length, length + 1)
    balanced = [round(run * (i + 1) + i) for i in range(pieces - 1)]
    seen: set[tuple[int, ...]] = set()
    for shifts in product(spread, repeat=pieces - 1):
        gaps = tuple(position + shift for position, shift in zip(balanced, shifts))
        edges = (-1, *gaps, length)
        if any(right - left < 2 for left, right in zip(edges, edges[1:])) or gaps in seen:
            continue
        seen.add(gaps)
        yield gaps


def _lines_sharing_a_piece(joined: str, key: str, allowed: int, sample: str) -> set[str]:
    """The lines of ``joined`` that may be within ``allowed`` edits of ``key``.

    Pigeonhole filter, exact for this distance: ``key`` is cut into ``allowed + 1`` pieces
    separated by single gap characters, so any one edit (a swap included: a gap keeps
    neighbouring pieces apart) damages at most one piece and a line within ``allowed``
    edits contains at least one piece unchanged. The cut whose pieces occur least often in
    ``sample`` (a few thousand of the lines; ``str.count`` runs in C) is chosen, then only
    the lines of ``joined`` holding one of its pieces are looked at.
    """
    counts: dict[str, int] = {}

    def occurrences(piece: str) -> int:
        if piece not in counts:
            counts[piece] = sample.count(piece)
        return counts[piece]

    best: list[str] | None = None
    best_cost = -1
    for gaps in _partitions(len(key), allowed + 1):
        edges = (-1, *gaps, len(key))
        pieces = [key[left + 1 : right] for left, right in zip(edges, edges[1:])]
        cost = sum(occurrences(piece) for piece in pieces)
        if best is None or cost < best_cost:
            best, best_cost = pieces, cost
    lines: set[str] = set()
    for piece in best or []:
        position = joined.find(piece)
        while position != -1:
            start = joined.rfind("\n", 0, position) + 1
            end = joined.find("\n", position)
            if end == -1:
                lines.add(joined[start:])
                break
            lines.add(joined[start:end])
            position = joined.find(piece, end)
    return lines


def near_matches(new_id: str, candidates: Iterable[str], *, limit: int = 3) -> list[NearMatch]:
    """Existing ids within :func:`max_distance` of ``new_id`` (case ignored), closest first.

    An id equal to ``new_id`` up to case is not a near match (that is a clash, refused by the
    store). Ties keep the candidates' order. Cost: the candidates are joined and folded once,
    a pigeonhole filter (:func:`_lines_sharing_a_piece`) keeps the few that share a piece of
    the id, and only those get the banded distance; about 0.1 s for 100,000 ids.
    """
    allowed = max_distance(new_id)
    if allowed == 0:
        return []
    key = casefold.casefold_key(new_id)
    originals = [candidate for candidate in candidates if "\n" not in candidate]
    if not originals:
        return []
    joined = "\n".join(originals)
    joined = joined.lower() if joined.isascii() else _fold(joined)
    keys = joined.split("\n")
    sample = "\n".join(keys[:: max(1, len(keys) // _SAMPLE_LINES)])
    if len(key) <= _SHORT:
        # Pieces of a short id are a letter or two, found on most lines: pick by length instead.
        window = re.compile(rf"^.{{{max(1, len(key) - allowed)},{len(key) + allowed}}}$", re.MULTILINE)
        hits = set(window.findall(joined))
    else:
        hits = _lines_sharing_a_piece(joined, key, allowed, sample)
    found: list[NearMatch] = []
    if hits:
        for candidate_key, candidate in zip(keys, originals):
            if candidate_key not in hits or candidate_key == key:
                continue
            distance = distance_within(key, candidate_key, allowed)
            if distance is not None:
                found.append(NearMatch(candidate, distance))
    found.sort(key=lambda match: match.distance)
    return found[:limit]


def casefold_view_ids(layout: Layout) -> CandidateSource:
    """The casefold keys of the existing sessions: the names in ``by-casefold/`` (names only).

    The keys are the ids in lower case; :func:`best_near_match` reads the real id from the
    one link it reports. Sessions whose link is missing (arrived by git, not rebuilt yet)
    are not seen.
    """

    def names() -> Iterable[str]:
        try:
            with os.scandir(casefold.folder(layout)) as scan:
                return [entry.name for entry in scan if not entry.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            return []

    return names


def best_near_match(store: SessionStore, new_id: str, candidates: CandidateSource | None = None) -> NearMatch | None:
    """The closest existing id to ``new_id`` with its summary (one session file read), or None.

    ``candidates`` gives existing ids (e.g. from the index); by default the casefold view.
    """
    source = candidates if candidates is not None else casefold_view_ids(store.layout)
    for match in near_matches(new_id, source()):
        real_id = match.id
        if candidates is None:
            real_id = casefold.owner_name(store.layout, match.id) or match.id
        try:
            session = store.snapshot(real_id).session
        except StoreError:
            continue  # gone or unreadable since it was listed
        return NearMatch(real_id, match.distance, summarize(session))
    return None


def _ago(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def near_match_warning(new_id: str, match: NearMatch, now: datetime | None = None) -> str:
    """The warning a ``chat`` that created ``new_id`` returns, e.g. "started a new session
    'refactr-auth'; did you mean 'refactor-auth' (14 messages, claude-sonnet-4-5, updated 2 h ago)?"."""
    details: list[str] = []
    if match.summary is not None:
        summary = match.summary
        if summary.title:
            details.append(repr(summary.title))
        details.append(f"{summary.message_count} messages")
        if summary.current_model:
            details.append(summary.current_model)
        details.append(f"updated {_ago(summary.updated_at, now or datetime.now(timezone.utc))}")
    shown = f" ({', '.join(details)})" if details else ""
    return f"started a new session {new_id!r}; did you mean {match.id!r}{shown}?"
