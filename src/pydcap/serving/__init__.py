"""What pydcap's HTTP servers share (the PCCS ``pydcap.pccs``, the attestation service ``pydcap.attest``, the
simulated PCS and Azure of ``pydcap.sim``): uvicorn with ``ServerLimits`` enforced before the application sees a
request (header and request timeouts, keep-alive, connection limits in all and per client, head and body sizes),
encoded path separators refused before routing, ``text/plain`` refusals and ``X-Content-Type-Options: nosniff``
on every answer; running in one process (``run``), several (``run_workers``) or a background thread
(``ThreadedServer``); the TLS certificate (configured, or self-signed and kept), Prometheus metrics summed over
worker processes, and administrator tokens kept as hashes.

For exposure to the internet, put a reverse proxy (nginx, HAProxy, Envoy) in front as well: it also bounds TLS
handshakes, which happen before these limits apply.
"""

from pydcap.serving.auth import token_hash, token_matches
from pydcap.serving.limits import ServerLimits
from pydcap.serving.metrics import Metrics, WorkerSnapshots
from pydcap.serving.protocol import NOSNIFF, GuardedHttpProtocol, ServerConfig, tcp_socket
from pydcap.serving.runner import ThreadedServer, run, run_workers, serve_workers, uvicorn_options
from pydcap.serving.tls import TlsFiles, ensure_tls_files, self_signed

__all__ = [
    "NOSNIFF",
    "GuardedHttpProtocol",
    "Metrics",
    "ServerConfig",
    "ServerLimits",
    "ThreadedServer",
    "TlsFiles",
    "WorkerSnapshots",
    "ensure_tls_files",
    "run",
    "run_workers",
    "self_signed",
    "serve_workers",
    "tcp_socket",
    "token_hash",
    "token_matches",
    "uvicorn_options",
]
