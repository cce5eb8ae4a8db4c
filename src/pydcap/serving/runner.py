"""Running a pydcap ASGI service on uvicorn: the options every pydcap server uses (httptools and uvloop when
installed, no access log, TLS files), a TCP socket with TCP_NODELAY, several worker processes behind one port,
and a server in a background thread for tests and embedding.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Mapping
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from pydcap.serving.tls import TlsFiles

START_TIMEOUT = 15.0


def uvicorn_options(tls: TlsFiles | None) -> dict[str, Any]:
    """uvicorn's keyword options for a pydcap server (HTTPS with ``tls``, plain HTTP without)."""
    options: dict[str, Any] = {
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "lifespan": "on",
        "server_header": False,
        "access_log": False,
        "log_config": None,
        "timeout_keep_alive": 5,
        "timeout_graceful_shutdown": 5,
    }
    if tls is not None:
        options.update(ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key))
    return options


def tcp_socket(host: str, port: int) -> socket.socket:
    """A bound socket that says it is TCP: asyncio sets TCP_NODELAY only on such sockets (uvicorn's own are
    protocol 0), and without it the body of a keep-alive answer waits 40 ms for the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class _TcpConfig(uvicorn.Config):
    """uvicorn's configuration, binding the worker processes' shared socket with ``tcp_socket``."""

    def bind_socket(self) -> socket.socket:
        return tcp_socket(self.host, self.port)


def run_workers(factory: str, *, host: str, port: int, workers: int, options: dict[str, Any]) -> None:
    """Serve with ``workers`` processes sharing one port until interrupted; each builds its application with the
    factory named ``module:function`` (which reads what it needs from the environment the caller set)."""
    config = _TcpConfig(factory, factory=True, host=host, port=port, workers=workers, **options)
    sock = config.bind_socket()
    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before 0.30
        Multiprocess(config, target=uvicorn.Server(config).run, sockets=[sock]).run()  # type: ignore[call-arg]
    else:
        Multiprocess(config, sockets=[sock]).run()


def serve_workers(
    factory: str,
    *,
    host: str,
    port: int,
    workers: int,
    options: dict[str, Any],
    environment: Mapping[str, str],
    metrics_dir_env: str,
    metrics_prefix: str,
) -> None:
    """``run_workers`` with ``environment`` set for the workers (their configuration) and a private directory
    (0700, removed afterwards) named in ``$metrics_dir_env``, where they share their metrics (``WorkerSnapshots``)."""
    os.environ.update(environment)
    metrics_dir = tempfile.mkdtemp(prefix=f"{metrics_prefix}-")
    os.environ[metrics_dir_env] = metrics_dir
    try:
        run_workers(factory, host=host, port=port, workers=workers, options=options)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


class ThreadedServer:
    """An ASGI application served by uvicorn in a daemon thread on ``host:port`` (port 0: a free one).

    ``start()`` returns once the server accepts connections (``port`` is then the bound one); ``stop()`` asks it
    to finish and waits for the thread.
    """

    def __init__(self, app: Any, host: str, port: int, tls: TlsFiles | None, *, name: str = "pydcap") -> None:
        self.app = app
        self.host = host
        self.port = port
        self.tls = tls
        self.name = name
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        sock = tcp_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        options = uvicorn_options(self.tls)
        options["loop"] = "asyncio"
        server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", **options))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"{self.name}-{self.port}"
        )
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"the {self.name} server did not start on port {self.port}")
            time.sleep(0.005)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=START_TIMEOUT)
