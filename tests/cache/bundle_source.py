"""A ``CollateralSource`` over one real bundle of ``../shared/testdata``: Intel-signed documents, served from
files, counted per part, with switchable failures, latency and tampering (for the cache's unit tests)."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pydcap.pki import CertificateChain, PckCertificate
from pydcap.quote import Quote
from pydcap.sources import (
    CollateralRequest,
    Fetched,
    PckCa,
    PlatformId,
    Tee,
    Update,
    UpstreamUnreachableError,
)
from tests.support.testdata import Bundle


class BundleSource:
    def __init__(self, bundle: Bundle, *, latency: float = 0.0) -> None:
        self.bundle = bundle
        self.dir: Path = bundle.path / "collateral"
        self.request = CollateralRequest.from_quote(bundle.quote)
        self.latency = latency
        self.calls: Counter[str] = Counter()
        self.down = False
        self.tamper: dict[str, Callable[[bytes], bytes]] = {}
        self._lock = threading.Lock()

    @property
    def description(self) -> str:
        return f"bundle {self.bundle.name}"

    def total(self) -> int:
        return sum(self.calls.values())

    async def _serve(self, part: str, data_file: str, chain_file: str | None) -> Fetched:
        with self._lock:
            self.calls[part] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.down:
            raise UpstreamUnreachableError(part, f"file://{self.dir}/{data_file}", None, "down", "test outage")
        data = (self.dir / data_file).read_bytes()
        if part in self.tamper:
            data = self.tamper[part](data)
        chain = (self.dir / chain_file).read_bytes() if chain_file else b""
        return Fetched(data, chain, f"file://{self.dir}/{data_file}")

    async def root_ca_crl(self) -> Fetched:
        return await self._serve("root_ca_crl", "root_ca_crl.der", None)

    async def pck_crl(self, ca: PckCa) -> Fetched:
        assert ca is self.request.ca, f"asked for the {ca} CRL of a {self.request.ca} bundle"
        return await self._serve("pck_crl", "pck_crl.der", "pck_crl_issuer_chain.pem")

    async def tcb_info(self, tee: Tee, fmspc: bytes, update: Update = Update.STANDARD) -> Fetched:
        return await self._serve("tcb_info", "tcb_info.json", "tcb_info_issuer_chain.pem")

    async def qe_identity(self, tee: Tee, update: Update = Update.STANDARD) -> Fetched:
        return await self._serve("qe_identity", "qe_identity.json", "qe_identity_issuer_chain.pem")

    async def qve_identity(self, update: Update = Update.STANDARD) -> Fetched:
        raise AssertionError("bundles have no QvE identity")

    async def pck_certificate(self, platform: PlatformId) -> Fetched:
        """The PCK certificate in the bundle's quote, as a PCCS would serve it (leaf, then its issuer chain)."""
        with self._lock:
            self.calls["pck_certificate"] += 1
        if self.down:
            raise UpstreamUnreachableError("pck", "file://quote", None, "down", "test outage")
        leaf, chain = leaf_and_chain(self.bundle)
        return Fetched(leaf, chain, "file://quote")

    async def aclose(self) -> None:
        return None


def leaf_and_chain(bundle: Bundle) -> tuple[bytes, bytes]:
    """The PCK certificate in the bundle's quote and its issuer chain, PEM, as a PCCS serves them."""
    pem = Quote.parse(bundle.quote).pck_chain_pem
    assert pem is not None
    marker = b"-----END CERTIFICATE-----"
    cut = pem.index(marker) + len(marker)
    return pem[:cut] + b"\n", pem[cut:].lstrip(b"\n\x00")


def platform_of(bundle: Bundle, qe_id: bytes = b"\x42" * 16) -> PlatformId:
    """A platform id matching the PCK certificate in the bundle's quote (raw TCB = certified TCB)."""
    pem = Quote.parse(bundle.quote).pck_chain_pem
    assert pem is not None
    leaf = CertificateChain.parse(pem).find("SGX PCK Certificate")
    assert leaf is not None
    pck = PckCertificate.from_certificate(leaf)
    return PlatformId(qe_id, pck.sgx.tcb.cpu_svn, pck.sgx.tcb.pce_svn, int.from_bytes(pck.pce_id, "little"))
