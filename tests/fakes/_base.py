"""The machinery every loopback fake provider shares: a real HTTP server on 127.0.0.1.

A fake is a ``ThreadingHTTPServer`` on port 0 served from a daemon thread. It records every
request (:class:`RecordedRequest`, with when it arrived and when it was answered, so tests can
show that requests overlapped), answers from a FIFO script of :class:`ScriptedResponse`
and, when the script is empty, with a deterministic default reply built by the subclass
(``echo: <last user text>``). Before answering, the subclass checks authentication and
validates the request the way the real API does; a rejected request is recorded (with
``rejected`` set to the reason) and answered with the provider's error shape, and it does NOT
consume a scripted response.

Streaming: when the request asks for a stream (the subclass's :meth:`FakeProvider.wants_stream`),
a 200 JSON answer — queued or default — is sent as the provider's server-sent events instead
(:meth:`FakeProvider.stream_events`, text cut into pieces of ``chunk_chars``), with chunked
transfer encoding as the real APIs use. ``event_delay`` (seconds between events) makes a slow
stream; ``cut_after`` (events) drops the connection mid-stream, without the end of the body. Both
can be set per queued answer or, for every stream, on the fake (``stream_event_delay``,
``stream_cut_after``). A client that hangs up mid-stream is seen: ``RecordedRequest.client_gone``.

Because it is a real socket, a subprocess (e.g. ``server.py`` under an MCP client) can be
pointed at a fake through the provider's ``*_BASE_URL`` environment variable: see
``base_url`` and ``env()`` on each fake.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ECHO_PREFIX = "echo: "


def echo_text(user_text: str) -> str:
    """The default reply text every fake gives when nothing is queued."""
    return f"{ECHO_PREFIX}{user_text}"


@dataclass
class RecordedRequest:
    """One request as the fake received it. Header names are lower-case."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes
    body: Any  # the decoded JSON body, or None when it was not JSON
    rejected: str | None = None  # why the fake rejected it (None: accepted)
    status: int = 0  # the status the fake answered with
    received_at: float = field(default_factory=time.monotonic)  # time.monotonic() on arrival
    streamed: bool = False  # answered with server-sent events
    events_sent: int = 0  # stream events written before the end, the cut or the client hanging up
    client_gone: bool = False  # the client closed the connection mid-stream
    answered_at: float | None = None  # time.monotonic() once the answer was written (None: not yet)


@dataclass
class ScriptedResponse:
    """A queued answer. ``body`` is JSON-encoded unless it is ``str``/``bytes`` (sent raw)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    event_delay: float | None = None  # seconds between stream events (None: the fake's stream_event_delay)
    cut_after: int | None = None  # drop the connection after this many events (None: the fake's stream_cut_after)


class RequestRejected(Exception):
    """Raised by a fake's validator: the real API would answer ``status`` with ``message``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class FakeProvider:
    """Base class: a loopback HTTP server imitating one provider's wire format.

    Use as a context manager (``with FakeOpenAI() as fake: ...``) or call ``start()`` and
    ``stop()``. Thread-safe: requests may arrive concurrently.
    """

    #: provider name used in error messages and ``env()``
    name = "fake"
    #: characters of text per streamed delta
    chunk_chars = 8

    def __init__(self, api_key: str | None = "test-key") -> None:
        self.api_key = api_key
        self._lock = threading.Lock()
        self._script: deque[ScriptedResponse] = deque()
        self._requests: list[RecordedRequest] = []
        self._connections = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stream_event_delay = 0.0
        self.stream_cut_after: int | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> "FakeProvider":
        if self._server is not None:
            return self
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:  # one handler per accepted TCP connection
                with fake._lock:
                    fake._connections += 1
                super().setup()

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                fake._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), name=f"{self.name}-fake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> "FakeProvider":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- addresses
    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """The value for the provider's ``*_BASE_URL`` variable (subclasses add a path)."""
        return self.origin

    def env(self, *prefixes: str) -> dict[str, str]:
        """``{<P>_BASE_URL: base_url, <P>_API_KEY: api_key}`` for each prefix (e.g. "OPENAI", "MOONSHOT")."""
        env: dict[str, str] = {}
        for prefix in prefixes:
            env[f"{prefix}_BASE_URL"] = self.base_url
            if self.api_key is not None:
                env[f"{prefix}_API_KEY"] = self.api_key
        return env

    # ----------------------------------------------------------------- script
    def enqueue(
        self,
        body: Any = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        event_delay: float | None = None,
        cut_after: int | None = None,
    ) -> None:
        """Queue one raw answer: ``body`` (dict -> JSON; str/bytes sent as is), status, headers, delay (s).

        ``event_delay``/``cut_after`` shape the answer when it is streamed (see the module docstring).
        """
        scripted = ScriptedResponse(status=status, body=body, headers=dict(headers or {}), delay=delay,
                                    event_delay=event_delay, cut_after=cut_after)
        with self._lock:
            self._script.append(scripted)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def connections(self) -> int:
        """How many TCP connections the fake accepted so far (keep-alive reuse shows as fewer than requests)."""
        with self._lock:
            return self._connections

    @property
    def accepted(self) -> list[RecordedRequest]:
        """The requests that passed validation and authentication."""
        return [r for r in self.requests if r.rejected is None]

    @property
    def last_body(self) -> Any:
        """The JSON body of the most recent request."""
        requests = self.requests
        if not requests:
            raise AssertionError(f"{type(self).__name__} received no request")
        return requests[-1].body

    def pending(self) -> int:
        """How many scripted responses are still queued."""
        with self._lock:
            return len(self._script)

    def reset(self) -> None:
        """Forget recorded requests and queued responses."""
        with self._lock:
            self._requests.clear()
            self._script.clear()
            self._connections = 0

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Poll (every 20 ms, up to ``timeout`` s) until ``count`` requests arrived."""
        deadline = time.monotonic() + timeout
        while True:
            requests = self.requests
            if len(requests) >= count or time.monotonic() >= deadline:
                return requests
            time.sleep(0.02)

    # ----------------------------------------------------------------- subclass hooks
    def route(self, method: str, path: str) -> dict[str, str] | None:
        """Return path parameters when ``method path`` is this API's endpoint, else None."""
        raise NotImplementedError

    def check_auth(self, headers: dict[str, str], query: dict[str, list[str]]) -> None:
        """Raise :class:`RequestRejected` (401) when the credentials are wrong."""
        raise NotImplementedError

    def validate(self, body: Any, params: dict[str, str], headers: dict[str, str]) -> None:
        """Raise :class:`RequestRejected` when the real API would reject ``body``."""
        raise NotImplementedError

    def default_reply(self, body: Any, params: dict[str, str]) -> Any:
        """The JSON answer when nothing is queued."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Any:
        """The provider's JSON error shape."""
        raise NotImplementedError

    def wants_stream(self, body: Any, params: dict[str, str], query: dict[str, list[str]]) -> bool:
        """Whether this (valid) request asks for a streamed answer."""
        return False

    def streamable(self, answer: dict[str, Any]) -> bool:
        """Whether ``answer`` has the shape of a reply (anything else is sent as JSON, unstreamed)."""
        return False

    def stream_events(
        self, answer: dict[str, Any], body: Any, params: dict[str, str], query: dict[str, list[str]]
    ) -> list[bytes]:
        """The server-sent events (each a whole ``event:``/``data:`` frame) that stream ``answer``."""
        raise NotImplementedError

    def pieces(self, text: str) -> list[str]:
        """``text`` cut into deltas of ``chunk_chars`` characters (none for an empty text)."""
        return [text[i : i + self.chunk_chars] for i in range(0, len(text), self.chunk_chars)]

    # ----------------------------------------------------------------- serving
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {key.lower(): value for key, value in handler.headers.items()}
        record = RecordedRequest(
            method=handler.command, path=split.path, query=parse_qs(split.query), headers=headers, raw=raw, body=body
        )
        scripted: ScriptedResponse | None = None
        try:
            params = self.route(handler.command, split.path)
            if params is None:
                raise RequestRejected(f"no route for {handler.command} {split.path}", status=404)
            self.check_auth(headers, record.query)
            if raw and body is None:
                raise RequestRejected("request body is not valid JSON")
            if handler.command == "POST" and not isinstance(body, dict):
                raise RequestRejected("request body must be a JSON object")
            self.validate(body, params, headers)
        except RequestRejected as rejection:
            record.rejected = rejection.message
            record.status = rejection.status
            with self._lock:
                self._requests.append(record)
            self._send(handler, ScriptedResponse(status=rejection.status, body=self.error_body(rejection.status, rejection.message)))
            record.answered_at = time.monotonic()
            return
        with self._lock:
            self._requests.append(record)
            if self._script:
                scripted = self._script.popleft()
        if scripted is None:
            scripted = ScriptedResponse(body=self.default_reply(body, params))
        record.status = scripted.status
        if scripted.delay:
            time.sleep(scripted.delay)
        if (scripted.status == 200 and isinstance(scripted.body, dict) and self.streamable(scripted.body)
                and self.wants_stream(body, params, record.query)):
            self._stream(handler, record, scripted, self.stream_events(scripted.body, body, params, record.query))
            record.answered_at = time.monotonic()
            return
        self._send(handler, scripted)
        record.answered_at = time.monotonic()

    def _stream(
        self, handler: BaseHTTPRequestHandler, record: RecordedRequest, scripted: ScriptedResponse, events: list[bytes]
    ) -> None:
        record.streamed = True
        delay = self.stream_event_delay if scripted.event_delay is None else scripted.event_delay
        cut_after = self.stream_cut_after if scripted.cut_after is None else scripted.cut_after
        try:
            handler.send_response(200)
            for key, value in {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **scripted.headers}.items():
                handler.send_header(key, value)
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for index, event in enumerate(events):
                if cut_after is not None and index >= cut_after:
                    handler.wfile.flush()
                    handler.close_connection = True  # the body ends without its last chunk: a broken stream
                    return
                if index and delay:
                    time.sleep(delay)
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                handler.wfile.flush()
                record.events_sent = index + 1
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            record.client_gone = True
            handler.close_connection = True

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, response: ScriptedResponse) -> None:
        body = response.body
        if isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode("utf-8")
        else:
            payload = json.dumps(body).encode("utf-8")
        try:
            handler.send_response(response.status)
            headers = {"Content-Type": "application/json", **response.headers}
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event frame: ``event:`` (when named) and ``data:`` (JSON unless ``str``)."""
    text = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode("utf-8")


def require(condition: bool, message: str, status: int = 400) -> None:
    """Reject the request with ``message`` unless ``condition`` holds."""
    if not condition:
        raise RequestRejected(message, status)


def iter_dicts(value: Any) -> Iterator[dict[str, Any]]:
    """The items of ``value`` when it is a list, each required to be an object."""
    require(isinstance(value, list), "expected an array")
    for item in value:
        require(isinstance(item, dict), "expected an array of objects")
        yield item


_SIGNATURES = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",), "image/gif": (b"GIF87a", b"GIF89a")}
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+);base64,(.*)$", re.DOTALL)


def sniff_image(data: bytes) -> str | None:
    """The media type the bytes are (png, jpeg, gif, webp), from their signature, as the APIs decode them."""
    for media_type, signatures in _SIGNATURES.items():
        if data.startswith(signatures):
            return media_type
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def decode_base64(where: str, text: Any) -> bytes:
    """Strict base64 (what the APIs accept), else a 400 naming ``where``."""
    require(isinstance(text, str) and text != "", f"{where}: base64 data is required")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestRejected(f"{where}: invalid base64 data") from None


def split_data_url(where: str, url: Any) -> tuple[str, bytes]:
    """``data:<mime>;base64,<data>`` -> (mime, bytes), else a 400."""
    match = _DATA_URL.match(url) if isinstance(url, str) else None
    require(match is not None, f"{where}: invalid image URL: expected an https URL or a base64 data URL")
    assert match is not None
    return match[1], decode_base64(where, match[2])
