"""The upstream of the PCCS: Intel PCS (or anything speaking its API) for v4 and v3 documents, with the
PCCS's short timeouts (a miss fails in seconds, not Intel's minute) and every call timed for ``/metrics``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydcap.pccs.config import PccsConfig
from pydcap.serving.metrics import Metrics
from pydcap.sources import FetchedPckCertificates, HttpSettings, PcsClient, RetryPolicy
from pydcap.sources.errors import CollateralNotFoundError, RateLimitedError, UpstreamError
from pydcap.sources.models import Fetched, PckCa, PlatformId, Tee, Update

R = TypeVar("R")


def http_settings(config: PccsConfig) -> HttpSettings:
    """Timeouts and retries that together stay within ``UpstreamTimeout`` seconds; the upstream's TLS certificate
    checked against the system's CAs, or ``UpstreamCaFile``."""
    budget = config.upstream_timeout
    retry = RetryPolicy(attempts=3, backoff=min(0.2, budget / 10), max_delay=max(budget / 3, 0.05), deadline=budget)
    return HttpSettings(
        connect_timeout=min(budget, 3.0),
        read_timeout=budget,
        retry=retry,
        proxy=config.proxy or None,
        verify_tls=config.upstream_ca or True,
    )


class MeteredUpstream:
    """A ``CollateralSource`` over a ``PcsClient`` that records each call's outcome and latency."""

    def __init__(self, client: PcsClient, metrics: Metrics) -> None:
        self.client = client
        self.metrics = metrics
        self.api = f"v{client.api_version}"

    @property
    def description(self) -> str:
        return self.client.description

    async def _timed(self, endpoint: str, call: Callable[[], Awaitable[R]]) -> R:
        started = time.monotonic()
        outcome = "ok"
        try:
            return await call()
        except RateLimitedError:
            outcome = "rate_limited"
            raise
        except CollateralNotFoundError:
            outcome = "not_found"
            raise
        except UpstreamError as exc:
            outcome = "unreachable" if exc.status is None else f"status_{exc.status}"
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            self.metrics.upstream_call(f"{self.api}/{endpoint}", outcome, time.monotonic() - started)

    async def root_ca_crl(self) -> Fetched:
        return await self._timed("rootcacrl", self.client.root_ca_crl)

    async def pck_crl(self, ca: PckCa) -> Fetched:
        return await self._timed("pckcrl", lambda: self.client.pck_crl(ca))

    async def tcb_info(self, tee: Tee, fmspc: bytes, update: Update = Update.STANDARD) -> Fetched:
        return await self._timed(f"{tee.value}/tcb", lambda: self.client.tcb_info(tee, fmspc, update))

    async def qe_identity(self, tee: Tee, update: Update = Update.STANDARD) -> Fetched:
        return await self._timed(f"{tee.value}/qe/identity", lambda: self.client.qe_identity(tee, update))

    async def qve_identity(self, update: Update = Update.STANDARD) -> Fetched:
        return await self._timed("qve/identity", lambda: self.client.qve_identity(update))

    async def pck_certificate(self, platform: PlatformId) -> Fetched:
        return await self._timed("pckcert", lambda: self.client.pck_certificate(platform))

    async def pck_certificates(
        self, *, pce_id: int, encrypted_ppid: bytes | None = None, platform_manifest: bytes | None = None
    ) -> FetchedPckCertificates:
        return await self._timed(
            "pckcerts",
            lambda: self.client.pck_certificates(
                pce_id=pce_id, encrypted_ppid=encrypted_ppid, platform_manifest=platform_manifest
            ),
        )

    async def aclose(self) -> None:
        await self.client.aclose()


def make_upstreams(config: PccsConfig, metrics: Metrics) -> tuple[MeteredUpstream, MeteredUpstream]:
    """The upstream for API v4 documents and the one for API v3 documents (same service, same settings)."""
    settings = http_settings(config)
    key = config.api_key or None
    v4 = PcsClient(config.upstream, api_key=key, api_version=4, settings=settings)
    v3 = PcsClient(config.upstream, api_key=key, api_version=3, settings=settings)
    return MeteredUpstream(v4, metrics), MeteredUpstream(v3, metrics)
