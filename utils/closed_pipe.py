"""A command line whose reader went away (``sessions.py list | head -1``) exits quietly.

Python raises ``BrokenPipeError`` on the next write to a closed pipe, and again when it flushes
stdout at exit ("Exception ignored ..."). :func:`closed_pipe_exit` points stdout at
``/dev/null`` so that final flush succeeds, and gives the exit status a shell expects from a
program stopped by SIGPIPE (128 + 13), as ``yes | head -1`` has.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

CLOSED_PIPE_STATUS = 141


def closed_pipe_exit() -> int:
    """Silence stdout for the rest of the process; return the status to exit with."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (tests pass a StringIO)
        pass
    return CLOSED_PIPE_STATUS


def run_command(main: Callable[[], int]) -> int:
    """``main()`` then a flush of stdout, a closed pipe in either giving :func:`closed_pipe_exit`."""
    try:
        status = main()
        sys.stdout.flush()  # inside the try: a pipe closed after the last write fails here
    except BrokenPipeError:
        return closed_pipe_exit()
    return status
