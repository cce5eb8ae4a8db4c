"""Running the PCCS: ``serve(config)`` in the foreground (uvicorn; httptools and uvloop when installed; several
worker processes sharing the store, and their metrics through a temporary directory, with ``Workers``), and
``PccsServer`` in a background thread for tests and embedding. HTTPS unless ``InsecureHttp``; a self-signed
certificate is made on first start.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from pydcap.cache import CollateralStore
from pydcap.pccs.app import PccsApp
from pydcap.pccs.config import CachingMode, PccsConfig
from pydcap.pccs.logs import configure_logging
from pydcap.pccs.metrics import WorkerSnapshots
from pydcap.pccs.service import Clock, PccsService
from pydcap.pccs.tls import CERT_NAME, TlsFiles, ensure_tls_files

CONFIG_ENV = "PYDCAP_PCCS_CONFIG_JSON"
METRICS_DIR_ENV = "PYDCAP_PCCS_METRICS_DIR"
START_TIMEOUT = 15.0


def build_app(
    config: PccsConfig,
    *,
    clock: Clock | None = None,
    store: CollateralStore | None = None,
    refresh_tick: float = 1.0,
    snapshots: WorkerSnapshots | None = None,
) -> PccsApp:
    service = PccsService.from_config(config, clock=clock, store=store)
    return PccsApp(service, config, refresh_tick=refresh_tick, snapshots=snapshots)


def app_from_environment() -> PccsApp:
    """The application factory of each worker process: the configuration comes in ``$PYDCAP_PCCS_CONFIG_JSON``,
    the directory where the workers share their metrics in ``$PYDCAP_PCCS_METRICS_DIR``."""
    config = PccsConfig.from_json(os.environ[CONFIG_ENV])
    configure_logging(config.log_level, log_format=config.log_format)
    directory = os.environ.get(METRICS_DIR_ENV)
    return build_app(config, snapshots=WorkerSnapshots(Path(directory)) if directory else None)


def tls_files(config: PccsConfig) -> TlsFiles | None:
    """None for plain HTTP; else the configured files or the self-signed pair beside the database file."""
    if config.insecure_http:
        return None
    return ensure_tls_files(config.tls_cert, config.tls_key, _tls_directory(config), config.host)


def tls_certificate_path(config: PccsConfig) -> Path:
    """Where the certificate ``serve`` presents is (or will be, once made on first start)."""
    return Path(config.tls_cert) if config.tls_cert else _tls_directory(config) / CERT_NAME


def _tls_directory(config: PccsConfig) -> Path:
    target = config.database_target
    return Path(target).expanduser().resolve().parent if "://" not in target else Path(config.state_dir)


def _uvicorn_options(config: PccsConfig, tls: TlsFiles | None) -> dict[str, Any]:
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


def serve(config: PccsConfig) -> None:
    """Serve until interrupted. Prints where, how (mode, store, upstream) and the TLS fingerprint."""
    configure_logging(config.log_level, log_format=config.log_format)
    store = CollateralStore.open(config.database_target)  # fail early, with the store's message
    store.close()
    tls = tls_files(config)
    host = f"[{config.host}]" if ":" in config.host else config.host
    print(
        f"pydcap PCCS on {config.scheme}://{host}:{config.port}/sgx/certification/v4/ ({config.mode.value} mode)",
        file=sys.stderr,
    )
    print(f"  store: {config.database_target}", file=sys.stderr)
    if config.mode is not CachingMode.OFFLINE:
        print(f"  upstream: {config.upstream}", file=sys.stderr)
    if tls is not None:
        made = " (self-signed, made now)" if tls.generated else ""
        print(f"  TLS certificate {tls.cert}{made}", file=sys.stderr)
        print(f"  SHA-256 fingerprint {tls.fingerprint}", file=sys.stderr)
        print(f"  clients trust it with: --ca-cert {tls.cert} (curl --cacert, SSL_CERT_FILE)", file=sys.stderr)
    options = _uvicorn_options(config, tls)
    if config.workers > 1:
        os.environ[CONFIG_ENV] = config.to_json()
        workers = _TcpConfig(
            "pydcap.pccs.server:app_from_environment", factory=True, host=config.host, port=config.port,
            workers=config.workers, **options,
        )  # fmt: skip
        sock = workers.bind_socket()
        metrics_dir = tempfile.mkdtemp(prefix="pydcap-pccs-metrics-")  # private (0700), for this run only
        os.environ[METRICS_DIR_ENV] = metrics_dir
        try:
            if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before 0.30
                Multiprocess(workers, target=uvicorn.Server(workers).run, sockets=[sock]).run()  # type: ignore[call-arg]
            else:
                Multiprocess(workers, sockets=[sock]).run()
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        return
    uvicorn.run(build_app(config), host=config.host, port=config.port, **options)


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


class PccsServer:
    """A PCCS serving in a background thread on ``host:port`` (port 0: a free one), for tests and embedding.

    ``url`` is its root (``http(s)://127.0.0.1:PORT``); ``app.service`` is the service behind it.
    """

    def __init__(self, app: PccsApp, config: PccsConfig) -> None:
        self.app = app
        self.config = config
        self.tls = tls_files(config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = config.port

    @classmethod
    def create(
        cls,
        config: PccsConfig,
        *,
        clock: Clock | None = None,
        store: CollateralStore | None = None,
        refresh_tick: float = 1.0,
    ) -> PccsServer:
        return cls(build_app(config, clock=clock, store=store, refresh_tick=refresh_tick), config)

    @property
    def url(self) -> str:
        return f"{self.config.scheme}://127.0.0.1:{self.port}"

    def start(self) -> PccsServer:
        sock = tcp_socket(self.config.host, self.port)
        self.port = sock.getsockname()[1]
        self.config = replace(self.config, port=self.port)
        options = _uvicorn_options(self.config, self.tls)
        options["loop"] = "asyncio"
        server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", **options))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"pccs-{self.port}")
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"the PCCS did not start on port {self.port}")
            time.sleep(0.005)
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=START_TIMEOUT)

    def __enter__(self) -> PccsServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
