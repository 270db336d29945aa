"""Sending one JSON request to a provider reliably: retries, backoff, Retry-After, timeouts.

What a caller may rely on (:func:`post_json`):

- Retried: HTTP 408, 429 and 5xx, timeouts and connection errors — at most
  ``LLM_MAX_RETRIES`` retries after the first attempt (default 3, so 4 attempts), all within
  ``LLM_TIMEOUT_SECONDS`` in total (default 120). Each attempt may take at most
  ``LLM_REQUEST_TIMEOUT_SECONDS`` (default: the total) and never more than what is left.
- Between attempts: exponential backoff (0.5 s, 1 s, 2 s, ... capped at 20 s) with jitter
  (a random 50-100 % of the step); when the answer carries ``Retry-After`` (seconds or an HTTP
  date) or ``retry-after-ms``, that wait is used instead, capped at 60 s. A wait that would
  end after the total deadline is not made: the last error is raised at once.
- Not retried: any other 4xx (401, 403, 404, 400 ...), a 2xx body that is not a JSON
  object, and a refused connection to a server on this machine (a local server that is not
  running: the message says which to start and which variable points at it).
- A 401/403 (and Gemini's 400 "API key not valid") names the provider's key variable.
- Streamed (``stream=`` an assembler factory): the same rules until the answer begins; the
  events are then read within the same attempt deadline. A stream that breaks once part of the
  answer has arrived (reset, timeout, an error event, an early end) raises
  :class:`~adapters.streaming.StreamInterrupted` at once, never retried; one that breaks before
  any of the answer arrived is retried like a connection error.
- Every failure is a :class:`~adapters.errors.ProviderError` with ``status`` (None for
  network errors), ``retryable``, ``provider``, ``attempts`` and a message naming the
  provider, the status and the provider's own explanation — passed through
  :func:`adapters.redact.redact`, so an API key echoed by the provider never appears.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from .errors import ConfigError, ProviderError
from .hints import base_url_setting, is_loopback_url, key_rejected, nothing_listening
from .http_pool import client_for
from .redact import redact
from .stream_assembly import StreamAssembler
from .streaming import interrupted, is_event_stream, read_events
from .wire_json import encode_body

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429})
_DETAIL_LIMIT = 500


@dataclass(frozen=True)
class RetryPolicy:
    """How hard :func:`post_json` tries. ``from_env()`` reads the ``LLM_*`` variables."""

    max_retries: int = 3
    total_timeout: float = 120.0
    request_timeout: float | None = None  # per attempt; None: the total
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "RetryPolicy":
        env = os.environ if environ is None else environ
        return cls(
            max_retries=int(_number(env, "LLM_MAX_RETRIES", 3, integer=True)),
            total_timeout=_number(env, "LLM_TIMEOUT_SECONDS", 120.0),
            request_timeout=_number(env, "LLM_REQUEST_TIMEOUT_SECONDS", None),
        )

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """The wait before retry number ``retry`` (0-based) when the provider gave no Retry-After."""
        step = min(self.max_delay, self.base_delay * (2**retry))
        return step * (0.5 + 0.5 * (rng or random).random())


def _number(env: Mapping[str, str], name: str, default: float | None, *, integer: bool = False) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a {'whole ' if integer else ''}number") from None
    if value < 0 or (not integer and value == 0):
        raise ConfigError(f"{name}={raw!r} must be {'>= 0' if integer else '> 0'}")
    return value


def parse_retry_after(headers: Mapping[str, str], cap: float, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date), capped; None if absent/invalid."""
    lowered = {key.lower(): value for key, value in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            return min(cap, max(0.0, float(raw_ms) / 1000))
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return min(cap, max(0.0, float(raw)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:  # pragma: no cover - older Pythons return None instead of raising
        return None
    current = time.time() if now is None else now
    return min(cap, max(0.0, when.timestamp() - current))


def error_detail(response: httpx.Response) -> str:
    """The provider's explanation from an error body (its ``message`` when JSON), shortened."""
    text = response.text
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    message: Any = None
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            message = error.get("message") or error.get("type")
        elif isinstance(error, str):
            message = error
    if not message:
        message = " ".join(text.split()) or response.reason_phrase or "no details"
    message = str(message)
    if len(message) > _DETAIL_LIMIT:
        message = message[:_DETAIL_LIMIT] + "..."
    return message


def _key_refused(status: int, detail: str) -> bool:
    # Gemini answers a wrong key with 400 INVALID_ARGUMENT "API key not valid" (reason API_KEY_INVALID).
    return status in (401, 403) or (status == 400 and ("api key" in detail.lower() or "API_KEY_INVALID" in detail))


def _hint(status: int, key_variable: str | None, provider: str = "", detail: str = "", key_sent: bool = True) -> str:
    if _key_refused(status, detail):
        return f" ({key_rejected(provider, key_variable, key_sent)})"
    if status == 404:
        return " (check the model name and the base URL)"
    if status == 429:
        return " (rate limited or out of quota; try again later)"
    return ""


async def post_json(
    url: str,
    *,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    provider: str,
    secrets: list[str | None],
    key_variable: str | None = None,
    policy: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    stream: Callable[[], StreamAssembler] | None = None,
) -> dict[str, Any]:
    """POST ``body`` as JSON to ``url`` with retries; return the decoded JSON object of the 2xx answer.

    With ``stream`` (a new assembler per attempt), a 2xx answer of server-sent events is read
    into the assembler and its rebuilt non-streamed answer returned (a JSON answer is decoded
    as usual: some endpoints ignore ``stream``). ``secrets`` (e.g. the API key) are redacted
    from every message this raises or logs. The connection comes from
    :func:`adapters.http_pool.client_for` (kept alive between calls while the server runs).
    """
    policy = policy or RetryPolicy.from_env()
    deadline = time.monotonic() + policy.total_timeout
    attempts = 0
    last_error: ProviderError | None = None
    content = encode_body(body)  # once, not per attempt
    sent_headers = dict(headers)
    if not any(name.lower() == "content-type" for name in sent_headers):
        sent_headers["Content-Type"] = "application/json"
    async with client_for(url, transport) as client:
        while True:
            attempts += 1
            remaining = deadline - time.monotonic()
            per_attempt = min(remaining, policy.request_timeout or remaining)
            wait: float | None = None
            assembler = stream() if stream is not None else None
            try:
                # httpx's timeouts are per socket operation; fail_after bounds the whole attempt
                # (a server dripping bytes cannot outlive the deadline).
                with anyio.fail_after(max(per_attempt, 0.001)):
                    request = client.build_request("POST", url, headers=sent_headers, content=content,
                                                   timeout=max(per_attempt, 0.001))
                    response = await client.send(request, stream=True)
                    try:
                        if assembler is not None and 200 <= response.status_code < 300 and is_event_stream(response):
                            return await read_events(response, assembler, provider=provider, secrets=secrets, attempts=attempts)
                        await response.aread()
                    finally:
                        with anyio.CancelScope(shield=True):  # a cancelled call still closes its connection
                            await response.aclose()
            except (httpx.TimeoutException, TimeoutError):
                if assembler is not None and assembler.characters:
                    raise interrupted(provider, f"timeout: no complete answer within {per_attempt:.3g} s", assembler,
                                      secrets, attempts) from None
                last_error = ProviderError(
                    f"{provider} did not answer within {per_attempt:.3g} s (timeout)",
                    retryable=True, provider=provider, attempts=attempts,
                )
            except httpx.TransportError as exc:
                if assembler is not None and assembler.characters:
                    raise interrupted(provider, f"connection lost: {type(exc).__name__}: {exc}", assembler,
                                      secrets, attempts) from None
                if isinstance(exc, httpx.ConnectError) and is_loopback_url(url):
                    # Nobody listens on this machine's port: waiting will not start the server.
                    raise ProviderError(nothing_listening(provider, url), retryable=False, provider=provider,
                                        attempts=attempts) from None
                check = f" (check {base_url_setting(provider)})" if isinstance(exc, httpx.ConnectError) else ""
                last_error = ProviderError(
                    redact(f"could not reach {provider} at {url}: {type(exc).__name__}: {exc}{check}", secrets),
                    retryable=True, provider=provider, attempts=attempts,
                )
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return _decode(response, provider, secrets, attempts)
                retryable = status in RETRYABLE_STATUS or status >= 500
                detail = redact(error_detail(response), secrets)
                hint = _hint(status, key_variable, provider, detail, key_sent=any(secrets))
                last_error = ProviderError(
                    f"{provider} API error {status}: {detail}{hint}",
                    status=status, retryable=retryable, provider=provider, attempts=attempts,
                )
                if retryable:
                    wait = parse_retry_after(response.headers, policy.max_retry_after)
            if not last_error.retryable or attempts > policy.max_retries:
                raise _final(last_error, attempts)
            if wait is None:
                wait = policy.backoff(attempts - 1)
            if time.monotonic() + wait >= deadline:
                raise _final(last_error, attempts, out_of_time=policy.total_timeout)
            log.info(redact(f"{last_error}; retrying in {wait:.2f} s (attempt {attempts + 1})", secrets))
            await anyio.sleep(wait)


def _final(error: ProviderError, attempts: int, out_of_time: float | None = None) -> ProviderError:
    message = str(error)
    if attempts > 1:
        message += f" (gave up after {attempts} attempts"
        message += f"; total timeout {out_of_time:g} s reached: LLM_TIMEOUT_SECONDS)" if out_of_time is not None else ")"
    elif out_of_time is not None:
        message += f" (total timeout {out_of_time:g} s leaves no time to retry: LLM_TIMEOUT_SECONDS)"
    if attempts > 1 and error.status is None:
        message += " — each attempt may take LLM_REQUEST_TIMEOUT_SECONDS, the whole call LLM_TIMEOUT_SECONDS; lower LLM_MAX_RETRIES to fail sooner"
    return ProviderError(message, status=error.status, retryable=error.retryable, provider=error.provider, attempts=attempts)


def _decode(response: httpx.Response, provider: str, secrets: list[str | None], attempts: int) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        snippet = " ".join(response.text.split())[:200] or "(empty body)"
        raise ProviderError(
            redact(f"{provider} answered {response.status_code} with a body that is not a JSON object: {snippet!r}", secrets),
            status=response.status_code, retryable=False, provider=provider, attempts=attempts,
        )
    return data
