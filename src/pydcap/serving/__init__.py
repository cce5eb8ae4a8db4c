"""What pydcap's HTTP services share: the TLS certificate (configured, or self-signed and kept), running an ASGI
application on uvicorn (options, TCP socket, worker processes, a background-thread server), Prometheus metrics
summed over worker processes, and administrator tokens kept as hashes. Used by the PCCS (``pydcap.pccs``) and
the attestation service (``pydcap.attest``).
"""

from pydcap.serving.auth import token_hash, token_matches
from pydcap.serving.metrics import Metrics, WorkerSnapshots
from pydcap.serving.runner import ThreadedServer, run_workers, serve_workers, tcp_socket, uvicorn_options
from pydcap.serving.tls import TlsFiles, ensure_tls_files, self_signed

__all__ = [
    "Metrics",
    "ThreadedServer",
    "TlsFiles",
    "WorkerSnapshots",
    "ensure_tls_files",
    "run_workers",
    "self_signed",
    "serve_workers",
    "tcp_socket",
    "token_hash",
    "token_matches",
    "uvicorn_options",
]
