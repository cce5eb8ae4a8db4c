"""Running the PCCS: ``serve(config)`` in the foreground (uvicorn, uvloop when installed; several worker processes
sharing the store, and their metrics through a temporary directory, with ``Workers``), and ``PccsServer`` in a
background thread for tests and embedding, both under the configuration's ``ServerLimits``. HTTPS unless
``InsecureHttp``; a self-signed certificate is made on first start.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from pydcap.cache import CollateralStore
from pydcap.pccs.app import PccsApp
from pydcap.pccs.config import CachingMode, PccsConfig
from pydcap.pccs.service import Clock, PccsService
from pydcap.serving import ThreadedServer, TlsFiles, ensure_tls_files, run, serve_workers, uvicorn_options
from pydcap.serving.logs import configure_logging
from pydcap.serving.metrics import WorkerSnapshots
from pydcap.serving.tls import self_signed_paths

CONFIG_ENV = "PYDCAP_PCCS_CONFIG_JSON"
METRICS_DIR_ENV = "PYDCAP_PCCS_METRICS_DIR"


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
    return Path(config.tls_cert) if config.tls_cert else self_signed_paths(_tls_directory(config))[0]


def _tls_directory(config: PccsConfig) -> Path:
    target = config.database_target
    return Path(target).expanduser().resolve().parent if "://" not in target else Path(config.state_dir)


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
    options = uvicorn_options(tls)
    if config.workers > 1:
        serve_workers(
            "pydcap.pccs.server:app_from_environment", host=config.host, port=config.port, workers=config.workers,
            options=options, environment={CONFIG_ENV: config.to_json()}, metrics_dir_env=METRICS_DIR_ENV,
            metrics_prefix="pydcap-pccs-metrics", limits=config.limits,
        )  # fmt: skip
        return
    run(build_app(config), host=config.host, port=config.port, options=options, limits=config.limits)


class PccsServer:
    """A PCCS serving in a background thread on ``host:port`` (port 0: a free one), for tests and embedding.

    ``url`` is its root (``http(s)://127.0.0.1:PORT``); ``app.service`` is the service behind it.
    """

    def __init__(self, app: PccsApp, config: PccsConfig) -> None:
        self.app = app
        self.config = config
        self.tls: TlsFiles | None = tls_files(config)
        self._runner = ThreadedServer(
            app, config.host, config.port, self.tls, limits=config.limits, name="pccs", lifespan="on"
        )
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
        self._runner.start()
        self.port = self._runner.port
        self.config = replace(self.config, port=self.port)
        return self

    def stop(self) -> None:
        self._runner.stop()

    def __enter__(self) -> PccsServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
