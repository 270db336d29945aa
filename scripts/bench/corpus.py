"""A deterministic synthetic corpus of unified session files, for benchmarks.

``generate_session(seed, index, messages)`` returns the same ``Session`` for the same
arguments on every machine and every run (its own ``random.Random`` and timestamps derived
from the seed, never from the clock), so ``write_corpus`` produces byte-identical files for the
same seed, whatever the number of worker processes.

The text mixes English prose, code identifiers, file paths and some Chinese; sessions use
several models, some switch model mid-way, and some assistant turns call tools.
"""

from __future__ import annotations

import os
import random
import sys
import time
from bisect import bisect
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from pathlib import Path

from pydantic import BaseModel

from store.codec import encode_session
from store.paths import Layout
from store.schema import Message, ModelSwitch, Session, ToolCall, Usage
from store.views import update_views

# (model, provider) pairs, most used first; the weights below make the mix uneven, like real use.
MODELS: tuple[tuple[str, str], ...] = (
    ("kimi-k2", "moonshot"),
    ("claude-sonnet-4-5", "anthropic"),
    ("gpt-4o", "openai"),
    ("gemini-2.5-pro", "gemini"),
    ("deepseek-chat", "deepseek"),
    ("openrouter/meta-llama/llama-3.1-70b-instruct", "openrouter"),
    ("ollama/qwen2.5-coder", "ollama"),
)
MODEL_WEIGHTS = (30, 25, 20, 10, 8, 4, 3)

# Ranked by frequency: the word at rank r is drawn with weight 1/(r+1) (Zipf), so a few words
# are in most messages and the tail is rare, which is what makes search selectivity realistic.
ENGLISH_WORDS = """
the to of and a in is it that for you this with on be not are as can we have if or
should will file session model index search message function test error when
use value write read change return call what but from by so an one do need about
lock atomic rename store schema json view query token context reply update data
would could more only also then there which any each first time make new add list
watcher debounce batch transaction sqlite fts5 trigram tokenizer snippet ranking
latency throughput benchmark profile memory cache hit miss retry timeout backoff
provider adapter anthropic openai gemini moonshot deepseek ollama openrouter kimi
compression summary window prompt system assistant user tool result arguments
migration legacy quarantine corrupt unreadable refuse upgrade version backward
concurrency thread process fsync durable crash recovery journal checkpoint vacuum
idempotent deterministic reproducible flaky regression fixture parametrize hypothesis
serialise serialization deserialize validation pydantic dataclass protocol interface
endpoint streaming transport stdio http loopback handshake capability negotiation
permission symlink directory traversal sanitize escape unicode normalization emoji
refactor rename extract inline simplify readable docstring comment naming convention
deadline estimate scope tradeoff priority blocker reviewer approve merge conflict
percentile histogram outlier variance median p95 p99 warmup iteration baseline
kubernetes docker container image registry deploy rollback canary feature flag
""".split()

IDENTIFIER_VERBS = "get set load save parse build sync index encode decode validate resolve fetch apply flush".split()
IDENTIFIER_NOUNS = "session message store index watcher adapter reply request model path root batch query token view lock".split()
CAMEL_NAMES = (
    "SessionStore IndexWatcher SearchIndex ChatRequest ChatReply ToolCall ModelSwitch ProviderError "
    "MissingApiKey CorruptSession UnknownModel ScriptedAdapter Indexer Layout Summary Usage"
).split()
DOTTED_PATHS = (
    "store.session_store.update store.codec.decode_session store.atomic.atomic_write_bytes "
    "index.search.SearchIndex.search index.watcher.IndexWatcher.start adapters.openai.complete "
    "server._chat_unified os.replace sqlite3.connect json.loads pathlib.Path.read_bytes"
).split()
FILE_PATHS = (
    "store/session_store.py store/views.py index/indexer.py index/watcher.py adapters/anthropic.py "
    "server.py tests/test_search.py scripts/reindex.py README.md pyproject.toml Makefile"
).split()
CHINESE_PHRASES = (
    "数据库 会话 索引 搜索 模型 切换 原子 写入 文件锁 性能 测试 我们 需要 这个 函数 "
    "返回 错误 超时 重试 缓存 内存 延迟 吞吐量 并发 线程 进程 迁移 兼容 版本 用户 助手 "
    "工具 调用 结果 摘要 上下文 窗口 提示 配置 环境变量 密钥 日志 查询 分词 排序"
).split()
TOOL_NAMES = ("read_file", "run_tests", "grep", "write_file", "list_directory")
TAGS = ("review", "bug", "perf", "design", "refactor", "docs", "migration", "search")
SYSTEM_PROMPTS = (
    "You are a careful senior engineer. Answer briefly and cite file paths.",
    "You review Python code for correctness, concurrency and performance.",
    "你是一个代码审查助手。请用中文回答。",
)

_WORD_CUM_WEIGHTS = list(accumulate(1.0 / (rank + 1) for rank in range(len(ENGLISH_WORDS))))
_MODEL_CUM_WEIGHTS = list(accumulate(MODEL_WEIGHTS))

# Sessions are spread over about a year, one every few minutes, starting at a date derived
# from the seed: timestamps never come from the clock.
SESSION_SPACING_SECONDS = 311
EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)


class CorpusStats(BaseModel):
    """What ``write_corpus`` wrote."""

    root: str
    seed: int
    sessions: int
    messages: int
    bytes: int
    seconds: float
    first_created_at: datetime | None = None
    last_created_at: datetime | None = None
    models: list[str]


def base_time(seed: int) -> datetime:
    """The ``created_at`` of session 0 for ``seed`` (a fixed date, different per seed)."""
    return EPOCH + timedelta(days=seed % 365)


def session_time(seed: int, index: int) -> datetime:
    """The ``created_at`` of session ``index`` (strictly increasing with ``index``)."""
    return base_time(seed) + timedelta(seconds=index * SESSION_SPACING_SECONDS)


def session_id_for(seed: int, index: int) -> str:
    """A realistic, unique, sortable id (``YYYYmmdd-HHMMSS-xxxxxx``) for session ``index``."""
    created = session_time(seed, index)
    suffix = random.Random(seed * 7_919 + index).getrandbits(24)
    return f"{created:%Y%m%d-%H%M%S}-{suffix:06x}"


def _words(rng: random.Random, count: int) -> list[str]:
    total = _WORD_CUM_WEIGHTS[-1]
    picks = [ENGLISH_WORDS[bisect(_WORD_CUM_WEIGHTS, rng.random() * total)] for _ in range(count)]
    return picks


def _identifier(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.4:
        return f"{rng.choice(IDENTIFIER_VERBS)}_{rng.choice(IDENTIFIER_NOUNS)}"
    if kind < 0.65:
        return rng.choice(CAMEL_NAMES)
    if kind < 0.85:
        return rng.choice(DOTTED_PATHS)
    return rng.choice(FILE_PATHS)


def _chinese_sentence(rng: random.Random) -> str:
    return "".join(rng.choice(CHINESE_PHRASES) for _ in range(rng.randint(3, 8))) + "。"


def _prose(rng: random.Random, low: int, high: int) -> str:
    """A few sentences of English with code identifiers mixed in and, sometimes, Chinese."""
    sentences: list[str] = []
    remaining = rng.randint(low, high)
    while remaining > 0:
        length = min(remaining, rng.randint(6, 16))
        words = _words(rng, length)
        if rng.random() < 0.45:
            words[rng.randrange(len(words))] = f"`{_identifier(rng)}`"
        sentence = " ".join(words)
        sentences.append(sentence[0].upper() + sentence[1:] + ".")
        remaining -= length
    if rng.random() < 0.12:
        sentences.insert(rng.randrange(len(sentences) + 1), _chinese_sentence(rng))
    return " ".join(sentences)


def _pick_model(rng: random.Random, exclude: str | None = None) -> tuple[str, str]:
    while True:
        choice = MODELS[bisect(_MODEL_CUM_WEIGHTS, rng.random() * _MODEL_CUM_WEIGHTS[-1])]
        if choice[0] != exclude:
            return choice


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def generate_session(seed: int, index: int, messages: int) -> Session:
    """Session number ``index`` of the corpus for ``seed``, with exactly ``messages`` messages."""
    rng = random.Random(seed * 1_000_003 + index)
    created = session_time(seed, index)
    model, provider = _pick_model(rng)
    # About one session in five switches model once, at a random assistant turn.
    switch_at = rng.randrange(2, max(3, messages)) if messages >= 4 and rng.random() < 0.2 else None
    session = Session(
        id=session_id_for(seed, index),
        title=" ".join(_words(rng, rng.randint(2, 6))).capitalize() if rng.random() < 0.7 else None,
        created_at=created,
        updated_at=created,
        tags=sorted(set(rng.sample(TAGS, rng.randint(0, 2)))),
        current_model=model,
        models_used=[model],
    )
    clock = created
    items: list[Message] = []
    if rng.random() < 0.3 and messages > 1:
        items.append(Message(id=f"msg_{_hex(rng, 20)}", role="system", content=rng.choice(SYSTEM_PROMPTS), created_at=clock))
    next_role = "user"
    while len(items) < messages:
        clock += timedelta(seconds=rng.randint(3, 180))
        if next_role == "user":
            items.append(Message(id=f"msg_{_hex(rng, 20)}", role="user", content=_prose(rng, 8, 40), created_at=clock))
            next_role = "assistant"
            continue
        if switch_at is not None and len(items) >= switch_at:
            new_model, new_provider = _pick_model(rng, exclude=model)
            session.model_switches.append(
                ModelSwitch(
                    at_message=len(items),
                    from_model=model,
                    to_model=new_model,
                    at=clock,
                    warning=f"switched from {model} to {new_model}: the new model did not produce the earlier answers",
                )
            )
            model, provider = new_model, new_provider
            session.note_model(model)
            session.current_model = model
            switch_at = None
        usage = Usage(input_tokens=rng.randint(50, 8000), output_tokens=rng.randint(10, 1500))
        latency = float(rng.randint(200, 9000))
        if rng.random() < 0.15 and len(items) + 2 < messages:
            call_id = f"call_{_hex(rng, 12)}"
            tool = rng.choice(TOOL_NAMES)
            items.append(
                Message(
                    id=f"msg_{_hex(rng, 20)}",
                    role="assistant",
                    content=_prose(rng, 5, 15),
                    model=model,
                    provider=provider,
                    created_at=clock,
                    tool_calls=[ToolCall(id=call_id, name=tool, arguments={"path": rng.choice(FILE_PATHS)})],
                    usage=usage,
                    latency_ms=latency,
                )
            )
            clock += timedelta(seconds=rng.randint(1, 20))
            output = "\n".join(f"{rng.choice(FILE_PATHS)}:{rng.randint(1, 400)}: {_identifier(rng)}" for _ in range(rng.randint(1, 5)))
            items.append(
                Message(id=f"msg_{_hex(rng, 20)}", role="tool", content=output, created_at=clock, tool_call_id=call_id, name=tool)
            )
            continue  # the model answers the tool result next
        items.append(
            Message(
                id=f"msg_{_hex(rng, 20)}",
                role="assistant",
                content=_prose(rng, 15, 90),
                model=model,
                provider=provider,
                created_at=clock,
                usage=usage,
                latency_ms=latency,
            )
        )
        next_role = "user"
    session.messages = items[:messages]
    session.updated_at = clock
    return session


def _write_range(root: str, seed: int, start: int, stop: int, messages: int, views: bool) -> int:
    layout = Layout(Path(root))
    written = 0
    for index in range(start, stop):
        session = generate_session(seed, index, messages)
        data = encode_session(session)
        # A benchmark corpus is written once into an empty folder: plain writes are enough
        # (the store's atomic write + fsync would only slow generation down).
        with open(layout.session_file(session.id), "wb") as handle:
            handle.write(data)
        if views:
            update_views(layout, session)
        written += len(data)
    return written


def _chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(total, start + size)


CORPUS_ROOT_MARKER = ".bench-corpus-root"


class NotACorpusRoot(ValueError):
    """The root already holds sessions that are not a benchmark corpus: refuse to mix them."""


def claim_corpus_root(root: Path) -> None:
    """Mark ``root`` as a benchmark corpus root, or refuse if it holds someone's real sessions.

    The bench scripts take ``--root`` like every script (else ``$LLM_SESSIONS_DIR``, else
    ``./.llm_sessions``); this check keeps a forgotten ``--root`` from filling a real store
    with thousands of synthetic sessions.
    """
    marker = root / CORPUS_ROOT_MARKER
    if marker.is_file():
        return
    sessions = Layout(root).sessions
    existing = sum(1 for _ in sessions.glob("*.json")) if sessions.is_dir() else 0
    if existing:
        raise NotACorpusRoot(
            f"refusing to write a synthetic corpus into {root}: it holds {existing} session file(s) that are "
            "not a benchmark corpus; pass --root with an empty or new folder (e.g. --root /tmp/bench-corpus)"
        )
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text("written by scripts/bench: synthetic sessions, safe to delete\n", encoding="utf-8")


def cli_exit_code(main: Callable[[], int]) -> int:
    """Run a bench script's ``main`` and turn a refused root into a one-line error (exit 2)."""
    try:
        return main()
    except NotACorpusRoot as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def write_corpus(
    root: Path,
    sessions: int,
    messages: int,
    seed: int,
    *,
    jobs: int = 1,
    views: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> CorpusStats:
    """Write ``sessions`` session files of ``messages`` messages each into ``root/sessions/``.

    Existing files with the same names are overwritten; other files are left alone. The
    output depends only on (``sessions``, ``messages``, ``seed``), never on ``jobs``.
    ``progress(done, total)`` is called after each chunk of sessions.
    """
    if sessions < 0 or messages < 0:
        raise ValueError("sessions and messages must be >= 0")
    claim_corpus_root(root)
    layout = Layout(root)
    layout.sessions.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    total_bytes = 0
    done = 0
    chunk = 500
    if jobs <= 1:
        for start, stop in _chunks(sessions, chunk):
            total_bytes += _write_range(str(root), seed, start, stop, messages, views)
            done = stop
            if progress:
                progress(done, sessions)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [
                (stop, pool.submit(_write_range, str(root), seed, start, stop, messages, views))
                for start, stop in _chunks(sessions, chunk)
            ]
            for stop, future in futures:
                total_bytes += future.result()
                done = stop
                if progress:
                    progress(done, sessions)
    models = sorted({model for model, _ in MODELS})
    return CorpusStats(
        root=str(root),
        seed=seed,
        sessions=sessions,
        messages=sessions * messages,
        bytes=total_bytes,
        seconds=round(time.perf_counter() - started, 3),
        first_created_at=session_time(seed, 0) if sessions else None,
        last_created_at=session_time(seed, sessions - 1) if sessions else None,
        models=models,
    )


def stderr_progress(label: str = "corpus") -> Callable[[int, int], None]:
    """A progress callback printing ``label: done/total`` to stderr at most every 2 seconds."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= 2.0:
            last[0] = now
            print(f"{label}: {done}/{total} sessions", file=sys.stderr, flush=True)

    return report


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))
