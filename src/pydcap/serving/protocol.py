"""The HTTP/1.1 protocol of every pydcap server: uvicorn's (httptools) with ``ServerLimits`` enforced as the bytes
arrive, before the application sees a request, and ``ServerConfig``, the uvicorn configuration that uses it.

A request head is fed to the parser in pieces no larger than the room left under ``max_header_bytes``, so an
oversized head is refused (431) after that many bytes, however the client sends it; a deadline per request refuses
a head or body that is slow to arrive (408); connections past the limits are answered 503 and closed; a path with
an encoded ``/``, ``\\``, ``.`` or NUL is refused (400) before routing, so that it cannot slip past a proxy's path
rules. Every refusal is ``text/plain`` and, like every answer, carries ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import asyncio
import http
import logging
import math
import re
import socket
import time
from collections import Counter
from typing import Any

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from pydcap.serving.limits import ServerLimits

log = logging.getLogger("pydcap.serving")

NOSNIFF = ("X-Content-Type-Options", "nosniff")
# How long a refused connection is still read (and what arrives thrown away) after its answer and FIN were sent:
# closing at once with unread bytes makes the kernel reset the connection, and the client may never see why.
LINGER = 2.0
_ENCODED_SEPARATOR = re.compile(rb"%(2f|5c|2e|00)", re.IGNORECASE)
_LOG_EVERY = 10.0  # seconds between two log lines about refusals of one kind


class _RefusalLog:
    """One log line per kind of refusal every ``_LOG_EVERY`` seconds, with how many there were since: a flood
    of hostile connections must not become a flood of log lines."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._since: Counter[str] = Counter()

    def note(self, kind: str, text: str) -> None:
        self._since[kind] += 1
        now = time.monotonic()
        if now - self._last.get(kind, -_LOG_EVERY) >= _LOG_EVERY:
            count, self._since[kind] = self._since[kind], 0
            self._last[kind] = now
            log.warning("refused: %s (%s; %d such refusals since this was last logged)", text, kind, count)


_refusals = _RefusalLog()


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol under the ``ServerLimits`` of its ``ServerConfig``."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not isinstance(config, ServerConfig):
            raise TypeError("GuardedHttpProtocol takes its limits from a ServerConfig")
        super().__init__(config, server_state, app_state, _loop)
        self.limits = config.limits
        self._cap = config.connection_cap
        self._clients = config.client_connections
        self._client_host: str | None = None
        self._head_bytes = 0  # of the request head being received (or of the next one's, between requests)
        self._in_body = False  # the head is complete; its body is arriving
        self._body_bytes = 0
        self._receiving = False  # a request is arriving (from the connection's opening or a request's first byte)
        self._started = 0.0  # when it began (loop time)
        self._head_limit = min(self.limits.header_timeout, self.limits.request_timeout)
        # One timer per connection, armed when a request begins and none is; when it fires it checks the request
        # then arriving (if any), so a keep-alive connection's requests cost no timer of their own.
        self._timer: asyncio.TimerHandle | None = None
        self._refused = False

    # ---- connections ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        host = self.client[0] if self.client else ""
        self._client_host = host
        self._clients[host] += 1
        per_client = self.limits.max_connections_per_client
        if len(self.connections) > self._cap:
            self._refuse(503, "the server has too many connections open; retry in a moment", "connection limit",
                         retry_after=1, linger=False)  # fmt: skip
        elif per_client and self._clients[host] > per_client:
            self._refuse(503, "too many connections from this address; retry in a moment", "per-client limit",
                         retry_after=1, linger=False)  # fmt: skip
        else:
            self._begin_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        if self._client_host is not None:
            self._clients[self._client_host] -= 1
            if self._clients[self._client_host] <= 0:
                del self._clients[self._client_host]
            self._client_host = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # A head is fed in pieces that fit under the limit: the parser never holds more than that of one.
        limit = self.limits.max_header_bytes
        while data:
            if self._refused or self.parser is None or self.transport.is_closing():
                return  # refused: what still arrives is read and dropped until the connection closes
            if self._in_body:
                super().data_received(data)
                return
            room = limit - self._head_bytes
            if room <= 0:
                self._refuse(431, f"the request head is over {limit} bytes, the most this server accepts",
                             "header size limit")  # fmt: skip
                return
            piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            super().data_received(piece)

    # ---- parser callbacks -------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._body_bytes = 0
        if not self._receiving:  # the next request on this connection (the first one counts from the opening)
            self._begin_request()

    def on_headers_complete(self) -> None:
        if b"%" in self.url and _ENCODED_SEPARATOR.search(self.url.partition(b"?")[0]):
            self._refuse(400, "the path has an encoded '/', '\\', '.' or NUL (%2F, %5C, %2E, %00); send it unencoded",
                         "encoded path separator")  # fmt: skip
            return
        self._in_body = True
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        if self.cycle is not None and self.cycle.response_complete:
            super().on_body(body)  # answered early (a 413 of its own): the rest is dropped, within the request timeout
            return
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.max_body_bytes:
            self._refuse(413, f"the request body is over {self.limits.max_body_bytes} bytes, the most this server "
                         "accepts", "body size limit")  # fmt: skip
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._receiving = self._in_body = False
        self._head_bytes = 0
        super().on_message_complete()

    # ---- deadlines --------------------------------------------------------------------------------

    def _begin_request(self) -> None:
        """A request starts (the connection opened, or the first byte of the next request came)."""
        self._started = self.loop.time()
        self._receiving = True
        if self._timer is None:
            self._timer = self.loop.call_later(self._head_limit, self._deadline_passed)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _deadline_passed(self) -> None:
        self._timer = None
        if not self._receiving:  # between requests: uvicorn's keep-alive timeout applies
            return
        limit = self.limits.request_timeout if self._in_body else self._head_limit
        left = self._started + limit - self.loop.time()
        if left > 0:  # the request arriving now began after the one the timer was armed for
            self._timer = self.loop.call_later(left, self._deadline_passed)
        elif self._in_body:
            self._refuse(408, f"the request did not arrive within {limit:g} s", "request timeout")
        else:
            self._refuse(408, f"the request head did not arrive within {limit:g} s", "header timeout")

    # ---- refusing ---------------------------------------------------------------------------------

    def _refuse(
        self, status: int, text: str, kind: str, *, retry_after: int | None = None, linger: bool = True
    ) -> None:
        """Answer ``status`` with ``text`` and close, unless another answer is on the wire (then only close)."""
        self._refused = True
        self._stop_timer()
        transport = self.transport
        if transport.is_closing():
            return
        _refusals.note(kind, f"{status} {text}")
        cycle = self.cycle
        if self.pipeline:
            writable = False
        elif self._in_body:  # the application may be waiting for this request's body: it will not come
            writable = cycle is None or not cycle.response_started
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
        else:  # between requests: the previous answer must be complete
            writable = cycle is None or cycle.response_complete
        if not writable:
            transport.close()
            return
        body = f"{status} {http.HTTPStatus(status).phrase}: {text}\n".encode()
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *self.server_state.default_headers,
        ]
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        head = f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode()
        transport.write(head + b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n" + body)
        if linger and transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(LINGER, transport.close)
        else:
            transport.close()


def tcp_socket(host: str, port: int) -> socket.socket:
    """A bound socket that says it is TCP: asyncio sets TCP_NODELAY only on such sockets (uvicorn's own are
    protocol 0), and without it the body of a keep-alive answer waits 40 ms for the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration for a pydcap server: ``GuardedHttpProtocol`` enforcing ``limits``,
    ``X-Content-Type-Options: nosniff`` on every answer, no ``Server`` header, no WebSocket upgrades, and
    listening sockets bound with ``tcp_socket``. Other keyword arguments are uvicorn's."""

    def __init__(self, app: Any, *, limits: ServerLimits | None = None, **options: Any) -> None:
        self.limits = limits if limits is not None else ServerLimits()
        options["headers"] = [*(options.get("headers") or []), NOSNIFF]
        options.setdefault("server_header", False)
        # uvicorn keeps connections alive for whole seconds.
        options.setdefault("timeout_keep_alive", max(1, math.ceil(self.limits.keep_alive_timeout)))
        super().__init__(app, http=GuardedHttpProtocol, ws="none", **options)
        self.connection_cap = self.limits.connection_cap()
        self.client_connections: Counter[str] = Counter()

    def bind_socket(self) -> socket.socket:
        return tcp_socket(self.host, self.port)
