"""The one way tests run ``scripts/sessions.py`` in-process: ``run_sessions(*args) -> (exit code, stdout, stderr)``.
(Subprocess runs, for what only a real process shows, use ``sys.executable`` and ``subprocess_env``.)"""

from __future__ import annotations

import io

from scripts import sessions as sessions_cli


def run_sessions(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = sessions_cli.main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()
