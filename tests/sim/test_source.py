"""The simulated Intel in memory (``SimulatedSource``) is a collateral source like the simulated PCS: what a cache
fetches from it verifies under the simulated root and verifies quotes; PCK certificates are selected as PCS
selects them; an unknown FMSPC or platform is not found; an outage leaves cached platforms verifying. No sockets."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from pydcap import Verifier
from pydcap.cache import AsyncCollateralService, CollateralCache
from pydcap.intel import EntryKind, Tee
from pydcap.sim import REFERENCE_TIME, SimulatedIntel, SimulatedSource
from pydcap.sources import CollateralNotFoundError, CollateralSource, UpstreamUnreachableError

INTEL = SimulatedIntel(seed=11, now=REFERENCE_TIME)


def _service(source: SimulatedSource) -> AsyncCollateralService:
    return AsyncCollateralService(source, CollateralCache(trust=INTEL.trust_root))


def test_a_cache_over_it_verifies_quotes_and_asks_once_per_document() -> None:
    source = SimulatedSource(INTEL)
    assert isinstance(source, CollateralSource)
    service = _service(source)
    verifier = Verifier(trusted_root=INTEL.trust_root)

    async def run() -> None:
        for platform in (INTEL.sgx_platform(name="memory-sgx"), INTEL.tdx_platform(name="memory-tdx")):
            for _ in range(3):
                quote = platform.quote()
                fetched = await service.fetch(quote)
                assert verifier.appraise(quote, fetched.collateral, at=int(REFERENCE_TIME.timestamp())).verified

    asyncio.run(run())
    assert source.calls["tcb_info"] == 2 and source.calls["qe_identity"] == 2 and source.calls["root_ca_crl"] == 1


def test_pck_certificates_are_selected_as_pcs_selects_them() -> None:
    source = SimulatedSource(INTEL)
    platform = INTEL.sgx_platform(name="memory-pck")
    fetched = asyncio.run(source.pck_certificate(platform.platform_id))
    assert fetched.data == platform.pck_certificate_pem and fetched.meta["tcbm"] == platform.pck.tcbm.lower()
    stranger = dataclasses.replace(platform.platform_id, encrypted_ppid=b"\x01" * 384)
    with pytest.raises(CollateralNotFoundError) as caught:
        asyncio.run(source.pck_certificate(stranger))
    assert caught.value.document is EntryKind.PCK_CERTIFICATE
    with pytest.raises(CollateralNotFoundError) as caught:
        asyncio.run(source.tcb_info(Tee.SGX, b"\xff" * 6))
    assert caught.value.document is EntryKind.TCB_INFO


def test_through_an_outage_a_cached_platform_verifies_and_an_uncached_one_fails() -> None:
    source = SimulatedSource(INTEL)
    service = _service(source)
    cached, uncached = INTEL.sgx_platform(name="memory-cached"), INTEL.tdx_platform(name="memory-uncached")
    asyncio.run(service.fetch(cached.quote()))
    source.down = True
    asyncio.run(service.fetch(cached.quote()))
    with pytest.raises(UpstreamUnreachableError) as caught:
        asyncio.run(service.fetch(uncached.quote()))
    assert caught.value.document in set(EntryKind)
