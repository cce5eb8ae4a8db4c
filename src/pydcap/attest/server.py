"""Running the attestation service: ``serve(config)`` in the foreground (one process, or ``workers`` processes
sharing the store and, through a private directory, their metrics), ``AttestServer`` in a background thread for
tests and embedding. HTTPS unless ``insecure_http``, with a self-signed certificate made on first start and kept
beside the database (``attest-tls-cert.pem``), as the PCCS does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType

from pydcap.attest.app import AttestApp
from pydcap.attest.config import AttestConfig
from pydcap.attest.service import AttestService, Clock
from pydcap.cache import CollateralStore
from pydcap.serving import (
    ServerLimits,
    ThreadedServer,
    TlsFiles,
    WorkerSnapshots,
    ensure_tls_files,
    run,
    serve_workers,
    uvicorn_options,
)
from pydcap.serving.logs import configure_logging

CONFIG_ENV = "PYDCAP_ATTEST_CONFIG_JSON"
METRICS_DIR_ENV = "PYDCAP_ATTEST_METRICS_DIR"


def tls_files(config: AttestConfig) -> TlsFiles | None:
    """None for plain HTTP; else the configured files or the self-signed pair beside the database file."""
    if config.insecure_http:
        return None
    target = config.database_target
    directory = Path(target).expanduser().resolve().parent if "://" not in target else Path(config.state_dir)
    return ensure_tls_files(
        config.tls_cert, config.tls_key, directory, config.host, prefix="attest", service="attestation service"
    )


def limits(config: AttestConfig) -> ServerLimits:
    """What one client may cost the service: pydcap's defaults (pydcap.serving), bodies up to its own limit."""
    return ServerLimits(max_body_bytes=config.max_request_body)


def build_app(
    config: AttestConfig,
    *,
    issuer: str | None = None,
    clock: Clock | None = None,
    snapshots: WorkerSnapshots | None = None,
) -> AttestApp:
    service = AttestService.from_config(config, issuer=issuer or config.issuer_url(), clock=clock)
    return AttestApp(service, max_body=config.max_request_body, snapshots=snapshots)


def app_from_environment() -> AttestApp:
    """The application factory of each worker process (configuration in ``$PYDCAP_ATTEST_CONFIG_JSON``)."""
    config = AttestConfig.from_json(os.environ[CONFIG_ENV])
    configure_logging(config.log_level)
    directory = os.environ.get(METRICS_DIR_ENV)
    return build_app(config, snapshots=WorkerSnapshots(Path(directory)) if directory else None)


def serve(config: AttestConfig) -> None:
    """Serve until interrupted; prints where, the issuer, the store, the upstream and the TLS fingerprint."""
    configure_logging(config.log_level)
    store = CollateralStore.open(config.database_target)  # fail early, with the store's message
    store.close()
    tls = tls_files(config)
    print(f"pydcap attestation service on {config.url()}/ (MAA API)", file=sys.stderr)
    print(f"  issuer: {config.issuer_url()}", file=sys.stderr)
    for tenant in config.tenants:
        print(f"  tenant: {config.issuer_url()}/tenants/{tenant}", file=sys.stderr)
    print(f"  store: {config.database_target}", file=sys.stderr)
    print(f"  upstream ({config.source}): {config.upstream}", file=sys.stderr)
    if tls is not None:
        made = " (self-signed, made now)" if tls.generated else ""
        print(f"  TLS certificate {tls.cert}{made}", file=sys.stderr)
        print(f"  SHA-256 fingerprint {tls.fingerprint}", file=sys.stderr)
    options = uvicorn_options(tls)
    if config.workers > 1:
        serve_workers(
            "pydcap.attest.server:app_from_environment", host=config.host, port=config.port, workers=config.workers,
            options=options, environment={CONFIG_ENV: config.to_json()}, metrics_dir_env=METRICS_DIR_ENV,
            metrics_prefix="pydcap-attest-metrics", limits=limits(config),
        )  # fmt: skip
        return
    run(build_app(config), host=config.host, port=config.port, options=options, limits=limits(config))


class AttestServer:
    """The attestation service in a background thread on ``config.host:config.port`` (port 0: a free one).

    ``url`` is its root; without a configured issuer, the issuer is that URL. ``app.service`` is the service.
    """

    def __init__(self, config: AttestConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.tls = tls_files(config)
        self.app = build_app(config, issuer=config.issuer or "http://unbound", clock=clock)
        self._runner = ThreadedServer(
            self.app, config.host, config.port, self.tls, limits=limits(config), name="attest", lifespan="on"
        )

    @property
    def port(self) -> int:
        return self._runner.port

    @property
    def url(self) -> str:
        return self.config.url(self.port)

    @property
    def issuer(self) -> str:
        return self.app.service.issuer

    def start(self) -> AttestServer:
        self._runner.start()
        self.app.service.set_issuer(self.config.issuer_url(self.port))
        return self

    def stop(self) -> None:
        self._runner.stop()

    def __enter__(self) -> AttestServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
