"""Serving HTTP the way every pydcap server does (the PCCS, the simulated Intel and Azure, the attestation
service): uvicorn with ``ServerLimits`` enforced before the application sees a request (header and request
timeouts, keep-alive, connection limits in all and per client, head and body sizes), encoded path separators
refused before routing, ``text/plain`` refusals and ``X-Content-Type-Options: nosniff`` on every answer.

``ServerConfig(app, limits=...)`` is the uvicorn configuration (for ``uvicorn.Server`` or several worker
processes); ``ServerThread(app, host, port, limits=...)`` serves in a background thread. For exposure to the
internet, put a reverse proxy (nginx, HAProxy, Envoy) in front as well: it also bounds TLS handshakes, which
happen before these limits apply.
"""

from pydcap.serving.limits import ServerLimits
from pydcap.serving.protocol import NOSNIFF, GuardedHttpProtocol, ServerConfig, tcp_socket
from pydcap.serving.thread import ServerThread

__all__ = ["NOSNIFF", "GuardedHttpProtocol", "ServerConfig", "ServerLimits", "ServerThread", "tcp_socket"]
