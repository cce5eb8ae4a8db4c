"""The HTTP layer under every source: explicit timeouts, bounded retries with backoff, Retry-After, size caps.

A request is retried on connection failures, timeouts, 429 and 5xx, at most ``RetryPolicy.attempts`` times
and never past ``RetryPolicy.deadline`` seconds in all; a Retry-After longer than the policy allows fails at
once with ``RateLimitedError`` rather than blocking. Non-retryable statuses raise their named error. Bodies
are read streamed: past ``HttpSettings.max_response_bytes`` an answer is refused (``ResponseTooLargeError``),
and of an error answer only the first ``ERROR_BODY_BYTES`` are kept (``read_limited`` does both, for any client).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from pydcap.intel import EntryKind, protocol
from pydcap.sources.errors import (
    CertificatesUnavailableError,
    CollateralNotFoundError,
    PlatformUnknownError,
    RateLimitedError,
    ResponseTooLargeError,
    TlsVerificationError,
    UpstreamError,
    UpstreamRejectedError,
    UpstreamServerError,
    UpstreamUnreachableError,
)

log = logging.getLogger("pydcap.sources")

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# A TCB info is 10-100 KB and a platform's pckcerts a few hundred; an answer past this is refused.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
# Of an error answer only this much is read: a few hundred characters of it are quoted in the error.
ERROR_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` tries, waiting ``backoff`` seconds doubled each time (at most ``max_delay``,
    which also bounds an honoured Retry-After), all within ``deadline`` seconds."""

    attempts: int = 4
    backoff: float = 0.25
    max_delay: float = 5.0
    deadline: float = 20.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay, self.backoff * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class HttpSettings:
    """Transport configuration shared by the clients. ``verify_tls`` may be False for a PCCS with a
    self-signed certificate (Intel's ``use_secure_cert: false``) or a CA bundle path. ``clock`` (seconds, monotonic)
    and ``sleep`` are what the retries measure their deadline with and wait with."""

    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    verify_tls: bool | str = True
    proxy: str | None = None
    max_connections: int = 32
    max_response_bytes: int = MAX_RESPONSE_BYTES
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False, repr=False)

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.read_timeout, connect=self.connect_timeout, pool=self.read_timeout)


# What each status means, whoever answers it; dialects override entries where they know better.
Explanation = tuple[type[UpstreamError], str]
DEFAULT_EXPLANATIONS: Mapping[int, Explanation] = {
    400: (UpstreamRejectedError, "the request was refused as malformed: check the FMSPC, CA and platform values"),
    401: (UpstreamRejectedError, "authentication is required: check the API key or token"),
    403: (UpstreamRejectedError, "access is denied: check the API key or token"),
    404: (CollateralNotFoundError, "the service has no such document: check the FMSPC and the service URL"),
    410: (UpstreamRejectedError, "this API version or TCB evaluation is no longer served: use API v4"),
    429: (RateLimitedError, "the service is rate limiting: retry later"),
    461: (PlatformUnknownError, "the platform is not registered with the caching service: register it first"),
    462: (CertificatesUnavailableError, "no PCK certificate is available for this platform's TCB"),
    500: (UpstreamServerError, "the service failed internally: retry later or check its logs"),
    502: (UpstreamServerError, "a gateway could not reach the service behind it: check its upstream"),
    503: (UpstreamServerError, "the service is unavailable: retry later"),
    504: (UpstreamServerError, "a gateway timed out: retry later"),
}


def retry_after_seconds(response: httpx.Response, now: float | None = None) -> float | None:
    """The Retry-After header as seconds (it may be a number or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now if now is not None else datetime.now(UTC).timestamp()
    return max(0.0, when.timestamp() - reference)


def service_url(url: str, name: str) -> str:
    """``url`` without trailing slashes, when it is an http(s) URL with a host; otherwise ValueError saying so."""
    text = url.strip().rstrip("/")
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise ValueError(f"{name} {url!r} is not a URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{name} must be an http:// or https:// URL with a host, not {url!r}")
    return text


def display_url(url: httpx.URL | str) -> str:
    """The URL for messages: long query values (an encrypted PPID) are shortened."""
    text = str(url)
    return text if len(text) <= 300 else f"{text[:200]}...{text[-60:]}"


def certificate_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind ``exc`` (httpx wraps the ``ssl`` error), if that is what it is."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _detail(response: httpx.Response) -> str:
    parts = [response.reason_phrase or "error"]
    for name in ("Error-Code", "Error-Message"):
        if name in response.headers:
            parts.append(f"{name} {response.headers[name]}")
    ctype = response.headers.get("Content-Type", "")
    if response.content and ("text" in ctype or "json" in ctype):
        body = response.text.strip().replace("\n", " ")
        if body:
            parts.append(repr(body[:200]))
    return ", ".join(parts)


class _CappedBody:
    """The body of one streamed response as it is read: at most ``limit`` bytes of a success (more refuses it),
    the first ``ERROR_BODY_BYTES`` of an error (the rest is left unread)."""

    def __init__(self, response: httpx.Response, limit: int) -> None:
        self.response = response
        self.error = response.status_code >= 400
        self.cap = ERROR_BODY_BYTES if self.error else limit
        length = response.headers.get("Content-Length", "")
        self.refused = not self.error and length.isdigit() and len(length) < 20 and int(length) > limit
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; False when reading should stop."""
        self.chunks.append(chunk)
        self.size += len(chunk)
        if self.size > self.cap:
            self.refused = not self.error
            return False
        return True

    def result(self) -> httpx.Response | None:
        """The response with its body in place of the stream (decoded already), or None when refused."""
        if self.refused:
            return None
        r = self.response
        dropped = (b"content-encoding", b"content-length", b"transfer-encoding")
        headers = [(k, v) for k, v in r.headers.raw if k.lower() not in dropped]
        extensions = {k: v for k, v in r.extensions.items() if k in ("http_version", "reason_phrase")}
        body = b"".join(self.chunks)[: self.cap]
        return httpx.Response(r.status_code, headers=headers, content=body, request=r.request, extensions=extensions)


async def aread_limited(response: httpx.Response, limit: int) -> httpx.Response | None:
    """``response`` (sent with ``stream=True``) read whole, or None when its body is over ``limit`` bytes
    (decoded: a compressed answer counts as it unpacks); of an error answer (4xx, 5xx) only the first
    ``ERROR_BODY_BYTES`` are kept, and the rest is never read. The caller closes the stream."""
    body = _CappedBody(response, limit)
    if not body.refused:
        async for chunk in response.aiter_bytes():
            if not body.add(chunk):
                break
    return body.result()


def read_limited(response: httpx.Response, limit: int) -> httpx.Response | None:
    """``aread_limited`` for a synchronous client's streamed response."""
    body = _CappedBody(response, limit)
    if not body.refused:
        for chunk in response.iter_bytes():
            if not body.add(chunk):
                break
    return body.result()


class HttpTransport:
    """Issues requests for one service with its retry policy and turns failures into named errors.

    Owns one ``httpx.AsyncClient`` per event loop (created on first use), unless a client is given.
    """

    def __init__(
        self,
        service: str,
        settings: HttpSettings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        explanations: Mapping[int, Explanation] | None = None,
        headers: Mapping[str, str] | None = None,
        send_request_id: bool = False,
    ) -> None:
        self.service = service
        self.settings = settings or HttpSettings()
        self._external = client
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._explanations = {**DEFAULT_EXPLANATIONS, **(explanations or {})}
        self._headers = dict(headers or {})
        self._send_request_id = send_request_id

    def client(self) -> httpx.AsyncClient:
        if self._external is not None:
            return self._external
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            s = self.settings
            verify: bool | ssl.SSLContext = (
                ssl.create_default_context(cafile=s.verify_tls) if isinstance(s.verify_tls, str) else s.verify_tls
            )
            client = httpx.AsyncClient(
                timeout=s.timeout(),
                verify=verify,
                proxy=s.proxy,
                limits=httpx.Limits(max_connections=s.max_connections, max_keepalive_connections=s.max_connections),
                follow_redirects=True,
            )
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close the client this transport created for the running loop (a given client is left open)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        explanations: Mapping[int, Explanation] | None = None,
        document: EntryKind | None = None,
    ) -> httpx.Response:
        """The first 2xx answer, after retries; otherwise the named error of the last failure (naming
        ``document``, the kind of document asked for, when the request is for one)."""
        policy, clock = self.settings.retry, self.settings.clock
        started = clock()
        deadline = started + policy.deadline
        hdrs = {**self._headers, **(headers or {})}
        if self._send_request_id:
            hdrs.setdefault(protocol.REQUEST_ID, uuid.uuid4().hex)
        full_url = display_url(httpx.URL(url, params=params or {}))
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            failure: BaseException | None = None
            remaining = deadline - clock()
            try:
                async with asyncio.timeout(max(remaining, 0.001)):
                    response = await self._send(method, url, params, hdrs, json)
            except (httpx.RequestError, TimeoutError) as exc:
                # RequestError: no usable answer (transport failure, redirect loop, undecodable body).
                untrusted = certificate_failure(exc)
                if untrusted is not None:  # not transient: asking again gets the same certificate
                    raise self.untrusted(what, full_url, untrusted, document) from exc
                failure = exc
            if response is None and failure is None:
                limit = self.settings.max_response_bytes
                raise ResponseTooLargeError(
                    what, full_url, 200, f"the answer is larger than {limit} bytes (not read past that)",
                    "the service sent far more than a collateral document; check which service the URL names",
                    document=document,
                )  # fmt: skip
            if response is not None:
                log.debug("%s %s -> %d", method, full_url, response.status_code)
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRYABLE_STATUSES:
                    raise self.error(what, full_url, response, explanations, document=document)
            delay = policy.delay(attempt)
            asked = retry_after_seconds(response) if response is not None else None
            if asked is not None:
                if asked > policy.max_delay or clock() + asked > deadline:
                    assert response is not None
                    raise self.error(what, full_url, response, explanations, retry_after=asked, document=document)
                delay = asked
            elapsed = clock() - started
            if attempt >= policy.attempts or clock() + delay >= deadline:
                if response is not None:
                    raise self.error(what, full_url, response, explanations, retry_after=asked, document=document)
                raise self.unreachable(what, full_url, failure, attempt, elapsed, document)
            log.info(
                "%s: %s %s; retry %d in %.2f s",
                what,
                full_url,
                response.status_code if response is not None else type(failure).__name__,
                attempt,
                delay,
            )
            await self.settings.sleep(delay)

    async def _send(
        self, method: str, url: str, params: Mapping[str, str] | None, headers: Mapping[str, str], json: Any
    ) -> httpx.Response | None:
        """One request, its body read streamed within the size cap (None: over it)."""
        client = self.client()
        request = client.build_request(method, url, params=params, headers=headers, json=json)
        response = await client.send(request, stream=True)
        try:
            return await aread_limited(response, self.settings.max_response_bytes)
        finally:
            await response.aclose()

    def unreachable(
        self,
        what: str,
        url: str,
        failure: BaseException | None,
        attempts: int,
        elapsed: float,
        document: EntryKind | None = None,
    ) -> UpstreamUnreachableError:
        reason = type(failure).__name__ if failure is not None else "no answer"
        text = str(failure) if failure is not None and str(failure) else ""
        detail = f"{reason}{': ' + text if text else ''}"
        hint = (
            f"check that {self.service} is running and reachable at this URL "
            f"(gave up after {attempts} attempt{'s' if attempts != 1 else ''} in {elapsed:.1f} s)"
        )
        timed_out = isinstance(failure, httpx.TimeoutException | TimeoutError)
        return UpstreamUnreachableError(what, url, None, detail, hint, document=document, timed_out=timed_out)

    def untrusted(
        self, what: str, url: str, failure: ssl.SSLCertVerificationError, document: EntryKind | None = None
    ) -> TlsVerificationError:
        detail = f"its TLS certificate is not trusted: {failure.verify_message or failure.reason or failure}"
        hint = (
            f"trust the certificate {self.service} presents (the CA file that issued it, or the certificate itself "
            "when it is self-signed), or check that the URL names the service you meant"
        )
        return TlsVerificationError(what, url, None, detail, hint, document=document)

    def error(
        self,
        what: str,
        url: str,
        response: httpx.Response,
        explanations: Mapping[int, Explanation] | None = None,
        *,
        retry_after: float | None = None,
        document: EntryKind | None = None,
    ) -> UpstreamError:
        status = response.status_code
        table = {**self._explanations, **(explanations or {})}
        cls, hint = table.get(
            status,
            (UpstreamServerError, "unexpected answer: retry later")
            if status >= 500
            else (UpstreamRejectedError, "the request was refused"),
        )
        rid = response.headers.get(protocol.REQUEST_ID)
        detail = _detail(response)
        if cls is RateLimitedError:
            if retry_after is not None:
                hint = f"{hint}; the service asks to wait {retry_after:.0f} s"
            return RateLimitedError(what, url, detail, hint, retry_after=retry_after, request_id=rid, document=document)
        return cls(what, url, status, detail, hint, request_id=rid, document=document)
