"""Running a pydcap ASGI service on uvicorn under ``ServerLimits``: the options every pydcap server uses (uvloop
when installed, no access log, TLS files), one process (``run``), several worker processes behind one port
(``run_workers``), and ``ThreadedServer``, a server in a background thread for tests and embedding. Each builds a
``ServerConfig``, so every server pydcap starts enforces its limits.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from pydcap.serving.limits import ServerLimits
from pydcap.serving.protocol import ServerConfig, tcp_socket
from pydcap.serving.tls import TlsFiles

START_TIMEOUT = 15.0


def uvicorn_options(tls: TlsFiles | None) -> dict[str, Any]:
    """uvicorn's keyword options for a pydcap server (HTTPS with ``tls``, plain HTTP without)."""
    options: dict[str, Any] = {
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "lifespan": "on",
        "access_log": False,
        "log_config": None,
        "timeout_graceful_shutdown": 5,
    }
    if tls is not None:
        options.update(ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key))
    return options


def run(app: Any, *, host: str, port: int, options: dict[str, Any], limits: ServerLimits | None = None) -> None:
    """Serve ``app`` in this process until interrupted."""
    uvicorn.Server(ServerConfig(app, host=host, port=port, limits=limits, **options)).run()


def run_workers(
    factory: str,
    *,
    host: str,
    port: int,
    workers: int,
    options: dict[str, Any],
    limits: ServerLimits | None = None,
) -> None:
    """Serve with ``workers`` processes sharing one port until interrupted; each builds its application with the
    factory named ``module:function`` (which reads what it needs from the environment the caller set)."""
    config = ServerConfig(factory, factory=True, host=host, port=port, workers=workers, limits=limits, **options)
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
    limits: ServerLimits | None = None,
) -> None:
    """``run_workers`` with ``environment`` set for the workers (their configuration) and a private directory
    (0700, removed afterwards) named in ``$metrics_dir_env``, where they share their metrics (``WorkerSnapshots``)."""
    os.environ.update(environment)
    metrics_dir = tempfile.mkdtemp(prefix=f"{metrics_prefix}-")
    os.environ[metrics_dir_env] = metrics_dir
    try:
        run_workers(factory, host=host, port=port, workers=workers, options=options, limits=limits)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


class ThreadedServer:
    """An ASGI application served by uvicorn in a daemon thread on ``host:port`` (port 0: a free one, kept across
    restarts), over TLS when ``tls`` is given, enforcing ``limits``. ``options`` are more of uvicorn's
    (``lifespan="on"`` for an application that must start up; by default its lifespan is run when it has one).
    ``start()`` returns once the server accepts connections; ``stop()`` waits until the listening socket is
    closed, so that an outage refuses connections and a restart reopens the same port."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsFiles | None = None,
        *,
        limits: ServerLimits | None = None,
        name: str = "pydcap",
        **options: Any,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.tls = tls
        self.limits = limits
        self.name = name
        self.options = {"lifespan": "auto", "timeout_graceful_shutdown": 2, "log_level": "warning", **options}
        self.options.update(loop="asyncio", access_log=False)
        if tls is not None:
            self.options.update(ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key))
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        # Held across a whole start or stop, so a restart waits until the old server released the port.
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Serve; ``RuntimeError`` if the server did not start in time, ``OSError`` if the address is taken."""
        with self._lock:
            if self.running:
                return
            sock = tcp_socket(self.host, self.port)
            self.port = sock.getsockname()[1]
            server = uvicorn.Server(ServerConfig(self.app, limits=self.limits, **self.options))
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"{self.name}-{self.port}"
            )
            thread.start()
            deadline = time.monotonic() + START_TIMEOUT
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    server.should_exit = True
                    thread.join(timeout=START_TIMEOUT)
                    sock.close()
                    raise RuntimeError(f"the {self.name} server did not start on {self.host}:{self.port}")
                time.sleep(0.005)
            self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving and wait until the listening socket is closed. Not from the server's own thread."""
        if self.in_server_thread():
            raise RuntimeError("the server cannot be stopped from its own thread")
        with self._lock:
            server, thread = self._server, self._thread
            if server is None or thread is None:
                return
            server.should_exit = True
            thread.join(timeout=START_TIMEOUT)
            # Cleared only now, so that code running in the server thread until it ends is recognised as such.
            self._server = self._thread = None

    def in_server_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread
