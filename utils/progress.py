"""The one progress bar of the command lines (``reindex.py``, ``migrate_kimi.py``, ``sessions.py scan``).

Drawn only on a terminal: a log file or a pipe gets nothing (no ``\\r`` lines in a CI log or a
``2>file``), and the final report says what was done. On a terminal it is one line redrawn
with ``\\r`` at most ten times a second, and only once the work has taken ``after_seconds``
and covers ``min_total`` items, so quick runs stay quiet.
"""

from __future__ import annotations

import time
from typing import TextIO

BAR_WIDTH = 30


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


class ProgressBar:
    """Call it with ``(done, total)`` as work proceeds; :meth:`finish` ends the line."""

    def __init__(self, stream: TextIO, label: str, *, unit: str = "files", after_seconds: float = 0.0, min_total: int = 1) -> None:
        self.stream = stream
        self.label = label
        self.unit = unit
        self.after_seconds = after_seconds
        self.min_total = max(min_total, 1)
        self.enabled = is_terminal(stream)
        self.started = time.monotonic()
        self.drawn_at = 0.0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < self.min_total:
            return
        now = time.monotonic()
        if now - self.started < self.after_seconds:
            return
        if done < total and now - self.drawn_at < 0.1:  # redraw at most ten times a second
            return
        self.drawn_at = now
        filled = min(BAR_WIDTH, BAR_WIDTH * done // total)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total} {self.unit}")
        self.stream.flush()
        self.shown = True
        if done >= total:
            self.finish()

    def finish(self) -> None:
        """End the bar's line (if one was drawn), so what follows starts on a line of its own."""
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False
