"""index/browse/ pieces on their own: charts, Markdown, the CJK redirect, attachments, the CLI."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

pytest.importorskip("datasette", reason="the 'browse' extra is not installed: pip install -e '.[browse]'")

from index.browse.charts import MAX_SERIES, Chart, format_value, nice_ceiling, pivot, render_chart, tick_count  # noqa: E402
from index.browse.conversation import split_attachments  # noqa: E402
from index.browse.markdown import is_safe_link, render_markdown  # noqa: E402
from index.browse.search import cjk_redirect  # noqa: E402
from index.rows import ATTACHMENT_MARK  # noqa: E402
from tests.browse_helpers import build_store, wait_until_up  # noqa: E402
from tests.conftest import REPO_ROOT  # noqa: E402
from tests.hardening_helpers import free_port, run_script, start_script, stop, subprocess_env  # noqa: E402

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import sessions as sessions_cli  # noqa: E402

STACKED = Chart("stacked", x="day", y=("cost",), series="model", title="Cost", unit="USD")


def test_nice_ceiling_and_labels() -> None:
    assert [nice_ceiling(v) for v in (0, 0.7, 1, 1.2, 2.1, 3, 7, 0.0151, 86)] == [1, 1, 1, 2, 2.5, 5, 10, 0.02, 100]
    assert [tick_count(c) for c in (5000, 0.2, 2.5, 100, 1)] == [5, 4, 5, 5, 5]
    assert [format_value(v) for v in (0, 12, 0.0042, 1500, 2_500_000)] == ["0", "12", "0.0042", "1.5k", "2.5M"]


def test_pivot_long_and_wide_rows() -> None:
    rows = [("d1", "a", 1.0), ("d1", "b", 2.0), ("d2", "a", None), ("d2", None, 4.0)]
    table = pivot(STACKED, ["day", "model", "cost"], rows)
    assert table.categories == ["d1", "d2"] and table.series == ["a", "b", "(none)"]
    assert table.values["d2"] == {"a": 0.0, "(none)": 4.0}
    wide = pivot(Chart("grouped", x="p", y=("p50", "p95"), title="t"), ["p", "p50", "p95"], [("x", 1, 2)])
    assert wide.values == {"x": {"p50": 1.0, "p95": 2.0}}
    with pytest.raises(ValueError, match="cost"):
        pivot(STACKED, ["day", "model"], rows)


def test_pivot_folds_extra_series_into_other() -> None:
    rows = [("d", f"m{i}", float(i + 1)) for i in range(MAX_SERIES + 3)]
    table = pivot(STACKED, ["day", "model", "cost"], rows)
    assert len(table.series) == MAX_SERIES and table.series[-1] == "other"
    assert sum(table.values["d"].values()) == sum(r[2] for r in rows)  # nothing lost
    assert table.values["d"]["other"] == 1 + 2 + 3 + 4  # the four smallest


def test_chart_escapes_every_label_and_draws_bars() -> None:
    rows = [("<script>x</script>", '"><img src=x onerror=1>', 3.0), ("d2", "b", 1.0)]
    svg = render_chart(Chart("stacked", x="day", y=("cost",), series="model", title="T <b>", unit="U&S"),
                       ["day", "model", "cost"], rows)
    assert "<script>" not in svg and "<img" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg and "U&amp;S" in svg
    assert svg.startswith("<svg") and svg.count("<rect") >= 2 + 2  # two bars, two legend boxes
    assert render_chart(STACKED, ["day", "model", "cost"], []) == ""
    zero = render_chart(STACKED, ["day", "model", "cost"], [("d", "m", None), ("e", "m", 0)])
    assert "Nothing to draw: cost is empty or 0" in zero and "<rect" not in zero
    hbar = render_chart(Chart("hbar", x="t", y=("n",), title="H"), ["t", "n"], [("a", 2), ("b", 1)])
    assert hbar.count("<rect") == 2


def test_markdown_keeps_only_safe_links_and_no_html() -> None:
    html = render_markdown("<div onclick=x>hi</div>\n\n[a](javascript:x) [b]( JaVaScRiPt:x) [c](data:text/html,x) "
                           "[d](vbscript:x) [e](https://ok.example) [f](mailto:a@b.example) ![i](https://t.example/p.png)")
    assert "<div" not in html and "&lt;div onclick=x&gt;" in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs == ["https://ok.example", "mailto:a@b.example", "https://t.example/p.png"]
    assert "<img" not in html  # images are links, never loaded
    assert all(is_safe_link(u) for u in hrefs) and not is_safe_link("javascript:x")


def test_cjk_redirect() -> None:
    def params(url: str | None) -> list[tuple[str, str]]:
        assert url is not None
        return parse_qsl(urlsplit(url).query)

    assert cjk_redirect("/index/messages", "_search=debounce") is None
    assert cjk_redirect("/index/files", "_search=全文索引") is None
    assert cjk_redirect("/index/messages", "_search=全文索引&_fts_table=messages_trigram") is None
    long_term = params(cjk_redirect("/index/messages.json", "_search=全文索引&_shape=objects"))
    assert ("_fts_table", "messages_trigram") in long_term and ("_search", "全文索引") in long_term
    assert ("_shape", "objects") in long_term
    short = params(cjk_redirect("/index/sessions", "_search=索引+watcher"))
    assert ("_search", "watcher") in short and ("_fts_table", "sessions_trigram") in short
    assert ("_where", "instr(\"title\", '索引') > 0") in short
    quote = params(cjk_redirect("/index/messages", "_search=" + "索'"))
    assert quote == [("_where", "instr(\"text\", '索''') > 0")]  # the quote is doubled: one SQL string


def test_split_attachments() -> None:
    text = f"question\n{ATTACHMENT_MARK}file /a/b.md\nline 1\nline 2\n{ATTACHMENT_MARK}file /c.txt"
    body, attachments = split_attachments(text)
    assert body == "question"
    assert [(a.path, a.lines) for a in attachments] == [("/a/b.md", 2), ("/c.txt", 0)]


# ------------------------------------------------------------------------------ the command


def call(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return sessions_cli.main(list(args), out=out, err=err), out.getvalue(), err.getvalue()


def test_browse_refuses_a_public_host_without_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_store(tmp_path)
    monkeypatch.delenv("LLM_MCP_TOKEN", raising=False)
    code, _, err = call("browse", "--root", str(tmp_path), "--host", "0.0.0.0")
    assert code == 2 and "LLM_MCP_TOKEN" in err and "0.0.0.0" in err
    monkeypatch.setenv("LLM_MCP_TOKEN", "  ")
    code, _, err = call("browse", "--root", str(tmp_path))
    assert code == 2 and "empty" in err


def test_browse_without_an_index_says_how_to_build_it(tmp_path: Path) -> None:
    done = run_script("sessions.py", "browse", "--root", str(tmp_path / "none"))
    assert done.returncode == 1 and "reindex.py" in done.stderr and done.stdout == ""


def test_browse_without_the_extra_says_how_to_install_it(tmp_path: Path) -> None:
    # A child process in which Datasette cannot be imported (as without the extra).
    program = (
        "import sys; sys.modules['datasette'] = None; sys.path.insert(0, 'scripts');"
        "import sessions; sys.exit(sessions.main(sys.argv[1:]))"
    )
    done = subprocess.run([sys.executable, "-c", program, "browse", "--root", str(tmp_path)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, env=subprocess_env(), stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    assert "pip install -e '.[browse]'" in done.stderr and "make browse" in done.stderr


def test_browse_serves_read_only_over_http(tmp_path: Path) -> None:
    root = tmp_path / ".llm_sessions"
    index = build_store(root)
    before = index.read_bytes()
    port = free_port()
    log = tmp_path / "browse.log"
    process = start_script("sessions.py", "browse", "--root", str(root), "--port", str(port), log_path=log)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", process, log)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            page = client.get("/-/session/s-switch")
            assert page.status_code == 200 and "Watcher design review" in page.text
            assert client.get("/index/cost_per_day").status_code == 200
    finally:
        stop(process)
    assert f"read-only at http://127.0.0.1:{port}/" in log.read_text()
    assert index.read_bytes() == before


def test_browse_help_lists_its_flags() -> None:
    done = run_script("sessions.py", "browse", "--help")
    assert done.returncode == 0
    for flag in ("--host", "--port", "--open", "--no-auth", "LLM_MCP_TOKEN"):
        assert flag in done.stdout


def test_token_closes_a_websocket_without_it_and_lets_lifespan_through() -> None:
    import asyncio

    from index.browse.auth import require_token

    reached: list[str] = []
    sent: list[dict[str, object]] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        reached.append(str(scope["type"]))

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "websocket.connect"}

    wrapped = require_token(app, "t0ken")  # type: ignore[arg-type]
    asyncio.run(wrapped({"type": "websocket", "path": "/", "headers": []}, receive, send))  # type: ignore[arg-type]
    asyncio.run(wrapped({"type": "lifespan"}, receive, send))  # type: ignore[arg-type]
    asyncio.run(wrapped({"type": "websocket", "path": "/", "headers": [(b"authorization", b"Bearer t0ken")]}, receive, send))  # type: ignore[arg-type]
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert reached == ["lifespan", "websocket"]
