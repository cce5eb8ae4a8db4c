"""What pydcap's HTTP services share: the TLS certificate (configured, or self-signed and kept) and running an
ASGI application on uvicorn (options, TCP socket, worker processes, a background-thread server). Used by the
PCCS (``pydcap.pccs``) and the attestation service (``pydcap.attest``).
"""

from pydcap.serving.runner import ThreadedServer, run_workers, tcp_socket, uvicorn_options
from pydcap.serving.tls import TlsFiles, ensure_tls_files, self_signed

__all__ = [
    "ThreadedServer",
    "TlsFiles",
    "ensure_tls_files",
    "run_workers",
    "self_signed",
    "tcp_socket",
    "uvicorn_options",
]
