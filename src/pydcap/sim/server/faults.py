"""Fault injection for the simulated PCS, settable at runtime from Python or over HTTP (``/_sim/faults``):
latency, 429 with ``Retry-After``, 5xx answers, dropped connections and a full outage (connections refused).

``FaultMiddleware`` is the outermost ASGI layer: it counts every API request, then applies the faults.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from pydcap.sim.server.stats import RequestStats, endpoint_key

CONTROL_PREFIX = "/_sim/"


@dataclass
class _Rule:
    """One armed fault: how many more requests it answers (None: until cleared) and which endpoint."""

    remaining: int | None
    endpoint: str | None
    status: int = 0
    retry_after: int = 0

    def matches(self, endpoint: str) -> bool:
        return not self.exhausted and endpoint_matches(self.endpoint, endpoint)

    def consume(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def describe(self) -> dict[str, Any] | None:
        if self.exhausted:
            return None
        out: dict[str, Any] = {"count": self.remaining, "endpoint": self.endpoint}
        if self.status:
            out["status"] = self.status
        if self.retry_after:
            out["retry_after"] = self.retry_after
        return out


@dataclass(frozen=True)
class Decision:
    """What to do with one request: wait ``latency`` seconds, then drop it, answer ``status``, or serve it."""

    latency: float = 0.0
    drop: bool = False
    status: int = 0
    retry_after: int = 0


def endpoint_matches(wanted: str | None, endpoint: str) -> bool:
    """``wanted`` None matches every endpoint; ``pckcert`` matches ``sgx/v4/pckcert`` (not ``pckcerts``)."""
    return wanted is None or endpoint == wanted or endpoint.endswith("/" + wanted)


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("count must be a non-negative integer or null")
    return value


class FaultInjector:
    """The faults currently armed. Each setter replaces the previous fault of its kind; ``clear`` disarms all.

    ``count`` limits a fault to the next N matching requests (None: every request until cleared);
    ``endpoint`` limits it to one endpoint (``pckcert``, ``sgx/v4/tcb``, ...).
    """

    def __init__(self, on_outage: Callable[[bool, float | None], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._on_outage = on_outage
        self._latency: float = 0.0
        self._latency_endpoint: str | None = None
        self._rate_limit: _Rule | None = None
        self._server_error: _Rule | None = None
        self._drop: _Rule | None = None
        self._outage = False

    def latency(self, seconds: float, *, endpoint: str | None = None) -> None:
        """Delay every API response (or only ``endpoint``'s) by ``seconds``; 0 disarms."""
        if seconds < 0:
            raise ValueError("latency must not be negative")
        with self._lock:
            self._latency = float(seconds)
            self._latency_endpoint = endpoint

    def rate_limit(self, retry_after: int = 1, count: int | None = None, *, endpoint: str | None = None) -> None:
        """Answer 429 Too Many Requests with ``Retry-After: retry_after``."""
        with self._lock:
            self._rate_limit = _Rule(_count(count), endpoint, status=429, retry_after=int(retry_after))

    def server_error(self, status: int = 500, count: int | None = None, *, endpoint: str | None = None) -> None:
        """Answer a 5xx status (500 Internal Server Error, 503 Service Unavailable, ...)."""
        if not 500 <= status <= 599:
            raise ValueError("server errors are 5xx statuses")
        with self._lock:
            self._server_error = _Rule(_count(count), endpoint, status=status)

    def drop_connections(self, count: int | None = None, *, endpoint: str | None = None) -> None:
        """Close the connection without answering."""
        with self._lock:
            self._drop = _Rule(_count(count), endpoint)

    def outage(self, on: bool = True, *, seconds: float | None = None) -> None:
        """Stop listening (clients get connection refused); with ``seconds``, come back after that long."""
        with self._lock:
            self._outage = on
        if self._on_outage is not None:
            self._on_outage(on, seconds)

    def outage_ended(self) -> None:
        """Called by the server when a timed outage is over."""
        with self._lock:
            self._outage = False

    def clear(self) -> None:
        """Disarm every fault (and end an outage)."""
        for kind in ("latency", "rate_limit", "server_error", "drop_connections"):
            self.disarm(kind)
        with self._lock:
            outage = self._outage
        if outage:
            self.outage(False)

    def snapshot(self) -> dict[str, Any]:
        """The armed faults, as ``GET /_sim/faults`` reports them."""
        with self._lock:
            return {
                "latency": {"seconds": self._latency, "endpoint": self._latency_endpoint} if self._latency else None,
                "rate_limit": self._rate_limit.describe() if self._rate_limit else None,
                "server_error": self._server_error.describe() if self._server_error else None,
                "drop_connections": self._drop.describe() if self._drop else None,
                "outage": self._outage,
            }

    def configure(self, spec: dict[str, Any]) -> None:
        """Arm faults from the JSON of ``POST /_sim/faults``, e.g. ``{"rate_limit": {"retry_after": 3,
        "count": 2}}``, ``{"latency": 0.5}``, ``{"outage": {"seconds": 2}}`` or ``{"clear": true}``."""
        known = {"clear", "latency", "rate_limit", "server_error", "drop_connections", "outage"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown faults: {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
        if spec.get("clear"):
            self.clear()
        if "latency" in spec:
            latency = spec["latency"]
            if isinstance(latency, dict):
                self.latency(float(latency.get("seconds", 0)), endpoint=latency.get("endpoint"))
            else:
                self.latency(float(latency or 0))
        for name in ("rate_limit", "server_error", "drop_connections"):
            if name in spec:
                self._configure_rule(name, spec[name])
        if "outage" in spec:
            outage = spec["outage"]
            if isinstance(outage, dict):
                self.outage(True, seconds=float(outage["seconds"]) if "seconds" in outage else None)
            else:
                self.outage(bool(outage))

    def disarm(self, kind: str) -> None:
        """Disarm one kind of fault: ``latency``, ``rate_limit``, ``server_error`` or ``drop_connections``."""
        with self._lock:
            if kind == "latency":
                self._latency, self._latency_endpoint = 0.0, None
            elif kind == "rate_limit":
                self._rate_limit = None
            elif kind == "server_error":
                self._server_error = None
            elif kind == "drop_connections":
                self._drop = None
            else:
                raise ValueError(f"unknown fault {kind!r}")

    def _configure_rule(self, name: str, value: Any) -> None:
        if value is None or value is False:
            self.disarm(name)
            return
        args = value if isinstance(value, dict) else {}
        count, endpoint = args.get("count"), args.get("endpoint")
        if name == "rate_limit":
            self.rate_limit(int(args.get("retry_after", 1)), count, endpoint=endpoint)
        elif name == "server_error":
            self.server_error(int(args.get("status", 500)), count, endpoint=endpoint)
        else:
            self.drop_connections(count, endpoint=endpoint)

    def decide(self, endpoint: str) -> Decision:
        """What to do with one API request to ``endpoint`` (consumes counted faults)."""
        with self._lock:
            latency = self._latency if endpoint_matches(self._latency_endpoint, endpoint) else 0.0
            for rule in (self._drop, self._rate_limit, self._server_error):
                if rule is not None and rule.matches(endpoint):
                    rule.consume()
                    return Decision(latency, drop=rule is self._drop, status=rule.status, retry_after=rule.retry_after)
            return Decision(latency)


class FaultMiddleware:
    """Counts API requests and applies the armed faults before the PCS API sees a request."""

    def __init__(self, app: ASGIApp, faults: FaultInjector, stats: RequestStats) -> None:
        self.app = app
        self.faults = faults
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        endpoint = endpoint_key(scope["path"])
        self.stats.count(endpoint)
        decision = self.faults.decide(endpoint)
        if decision.latency:
            await asyncio.sleep(decision.latency)
        if decision.drop:
            self.stats.count_fault()
            await _drop(send)
            return
        if decision.status:
            self.stats.count_fault()
            await _answer(send, decision.status, decision.retry_after)
            return
        await self.app(scope, receive, send)


async def _answer(send: Send, status: int, retry_after: int) -> None:
    headers = [(b"request-id", uuid.uuid4().hex.encode()), (b"content-length", b"0")]
    if retry_after:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _drop(send: Send) -> None:
    """Abort the TCP connection without a response. ASGI has no verb for that, so this reaches the transport
    of uvicorn's request cycle (``send`` is its bound method when this middleware is outermost)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        # Not under uvicorn: the closest ASGI can do is start a response and never finish it.
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
        return
    transport.abort()
    # Let uvicorn notice the disconnect before this request cycle ends, so it neither logs nor answers.
    for _ in range(3):
        await asyncio.sleep(0)
