"""A Provisioning Certificate Caching Service (Intel's PCCS or pydcap's), in the dialect Intel's PCCS speaks.

CRLs are asked for as DER (``encoding=der``; without it a PCCS answers hex text, which is read too), the
root CA CRL comes from ``rootcacrl`` (hex), v3 and v4 header names are both understood, every request
carries a ``Request-ID``, and PCCS statuses 404, 461, 462 and 502 become named errors with advice.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from pydcap.sources.defaults import DEFAULT_PCCS_URL
from pydcap.sources.errors import (
    CertificatesUnavailableError,
    CollateralNotFoundError,
    PlatformUnknownError,
    UpstreamServerError,
)
from pydcap.sources.http import Explanation, HttpSettings
from pydcap.sources.intel_api import IntelApiClient, platform_params
from pydcap.sources.models import Fetched, PckCa, PlatformId

PCCS_EXPLANATIONS: Mapping[int, Explanation] = {
    404: (
        CollateralNotFoundError,
        "the PCCS has no cached data for this: in REQ or OFFLINE mode register the platform or import its "
        "collateral; in LAZY mode its upstream did not have it either (see the PCCS log)",
    ),
    461: (
        PlatformUnknownError,
        "the PCCS does not know this platform: register it (e.g. with Intel's PCKIDRetrievalTool) or run the "
        "PCCS in LAZY mode",
    ),
    462: (
        CertificatesUnavailableError,
        "the PCCS knows the platform but has no PCK certificate for its TCB: refresh its certificates "
        "(refresh?type=certs) or check Intel's data for this platform",
    ),
    502: (UpstreamServerError, "the PCCS could not reach Intel PCS: check its upstream URL, proxy and API key"),
    503: (UpstreamServerError, "the PCCS is unavailable: retry later"),
}


class PccsClient(IntelApiClient):
    """A PCCS at ``url`` (its root, or a URL ending in ``/sgx/certification/vN/`` as in Intel's QCNL
    configuration). ``crl_encoding="hex"`` asks for CRLs as PCCS API 3.0 clients do."""

    service = "PCCS"

    def __init__(
        self,
        url: str = DEFAULT_PCCS_URL,
        *,
        api_version: int | None = None,
        crl_encoding: str = "der",
        settings: HttpSettings | None = None,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if crl_encoding not in ("der", "hex"):
            raise ValueError(f"crl_encoding must be 'der' or 'hex', not {crl_encoding!r}")
        self.crl_encoding = crl_encoding
        super().__init__(
            url,
            api_version=api_version,
            settings=settings,
            client=client,
            headers=headers,
            explanations=PCCS_EXPLANATIONS,
            send_request_id=True,
        )

    def pck_crl_params(self, ca: PckCa) -> dict[str, str]:
        return {"ca": ca.value, "encoding": "der"} if self.crl_encoding == "der" else {"ca": ca.value}

    async def pck_certificate(self, platform: PlatformId) -> Fetched:
        return await self._pck_certificate(platform_params(platform, with_qe_id=True), platform)
