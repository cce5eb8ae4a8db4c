"""``ServerLimits``: what one client may cost a pydcap server (time to send a request, connections, bytes).
The defaults are Intel's PCCS's where it has them (its ``default.json`` and Node's HTTP server)."""

from __future__ import annotations

from dataclasses import dataclass

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

# Files kept for the server itself (store, logs, TLS files, upstream connections) when the connection limit is
# derived from the process's file limit.
FILE_RESERVE = 64


@dataclass(frozen=True)
class ServerLimits:
    """Limits every pydcap server enforces before its application sees a request.

    ``header_timeout``: a request's head (request line and headers) must have arrived this many seconds after
    the connection opened or the request's first byte came (Intel's ``HeadersTimeoutSeconds``); 408 otherwise.
    ``request_timeout``: the whole request, head and body, within this many seconds (``RequestTimeoutSeconds``).
    ``keep_alive_timeout``: an idle connection between requests is closed after this (``KeepAliveTimeoutSeconds``).
    ``max_connections``: open connections in all, ``max_connections_per_client``: from one client address (0: no
    limit of its own; behind a reverse proxy every connection comes from the proxy's). A connection past either
    is answered 503 with ``Retry-After`` and closed. ``max_header_bytes``: the size of a request's head (431
    past it); ``max_body_bytes``: of its body (413 past it).
    """

    header_timeout: float = 10.0
    request_timeout: float = 15.0
    keep_alive_timeout: float = 5.0
    max_connections: int = 1000
    max_connections_per_client: int = 100
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("header_timeout", "request_timeout", "keep_alive_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {getattr(self, name)!r}")
        for name in ("max_connections", "max_header_bytes", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)!r}")
        if self.max_connections_per_client < 0:
            raise ValueError("max_connections_per_client must be 0 (no limit of its own) or more")

    def connection_cap(self) -> int:
        """``max_connections``, lowered to fit the process's file limit: a server out of file descriptors can
        accept no one, so it refuses connections before that."""
        if resource is None:
            return self.max_connections
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, soft - FILE_RESERVE))
