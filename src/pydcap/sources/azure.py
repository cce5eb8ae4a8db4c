"""Azure's collateral services, as Microsoft's Azure DCAP client asks them.

SGX TCB info and identities from the global cache (``https://global.acccache.azure.net/sgx/certification``),
CRLs (for SGX and TDX alike) from it by Intel's distribution URL (``pckcrl?uri=``), TDX TCB info and TD QE
identity from a regional THIM URL (``tdx_url``). Every request carries ``clientid`` and the ``api-version``
the Azure client uses. PCK certificates come as a JSON body (``pckCert``, ``sgx-Pck-Certificate-Issuer-Chain``,
``sgx-Tcbm``), first from THIM via the instance metadata service when ``pck_url`` is set (header
``metadata: true``), then from the global cache.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from pydcap.sources.errors import UpstreamError
from pydcap.sources.http import HttpSettings, HttpTransport, service_url
from pydcap.sources.intel_api import IDENTITY_CHAIN, PCK_CRL_CHAIN, TCB_INFO_CHAIN_V3, platform_params, update_param
from pydcap.sources.models import Fetched, PckCa, PlatformId, Tee, Update
from pydcap.sources.wire import (
    crl_body,
    fetched,
    header_chain,
    issuer_chain_pem,
    json_body,
    malformed,
    pem_certificate_body,
    signed_document_body,
    tcbm,
)

AZURE_GLOBAL_CACHE_URL = "https://global.acccache.azure.net/sgx/certification"
AZURE_THIM_METADATA_URL = "http://169.254.169.254/metadata/THIM/sgx/certification"
DEFAULT_CLIENT_ID = "production_client"

API_VERSION_COLLATERAL = "2018-10-01-preview"
API_VERSION_CRL = "2020-02-12-preview"
API_VERSION_PCK = "2021-07-22-preview"

# Intel's CRL distribution URLs, spelled as Azure's cache keys them.
CRL_URIS: Mapping[str, str] = {
    "root": "https://certificates.trustedservices.intel.com/intelsgxrootca.crl",
    PckCa.PROCESSOR.value: "https://certificates.trustedservices.intel.com/intelsgxpckprocessor.crl",
    PckCa.PLATFORM.value: "https://api.trustedservices.intel.com/sgx/certification/v3/pckcrl?ca=platform&encoding=pem",
}
PRIMARY_RETRY_AFTER = 30.0


class AzureClient:
    """Azure's DCAP collateral cache (and THIM for TDX and, optionally, PCK certificates)."""

    service = "Azure DCAP cache"

    def __init__(
        self,
        url: str = AZURE_GLOBAL_CACHE_URL,
        *,
        tdx_url: str | None = None,
        pck_url: str | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        collateral_version: str = "v4",
        settings: HttpSettings | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if collateral_version not in ("v3", "v4"):
            raise ValueError(f"collateral version must be v3 or v4, not {collateral_version!r}")
        self.url = service_url(url, "Azure url")
        self.tdx_url = service_url(tdx_url, "Azure tdx_url") if tdx_url else self.url
        self.pck_url = service_url(pck_url, "Azure pck_url") if pck_url else None
        self.client_id = client_id
        self.version = collateral_version
        self.http = HttpTransport(f"{self.service} at {self.url}", settings, client=client)
        self._primary_down_until = 0.0

    @property
    def description(self) -> str:
        return f"{self.service} at {self.url}"

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AzureClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _tdx_collateral_base(self) -> str:
        """THIM's TDX documents live under ``/tdx/`` of the regional base URL."""
        return self.tdx_url.replace("/sgx/", "/tdx/", 1)

    def _params(self, api_version: str | None, **extra: str) -> dict[str, str]:
        params = dict(extra)
        if self.client_id:
            params["clientid"] = self.client_id
        if api_version:
            params["api-version"] = api_version
        return params

    async def _get(
        self, url: str, what: str, params: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return await self.http.request("GET", url, what=what, params=params, headers=headers)

    async def root_ca_crl(self) -> Fetched:
        what = "root CA CRL"
        # The root CA CRL is the same document for SGX and TDX; the global cache serves it by URI.
        url = f"{self.url}/{self.version}/pckcrl"
        response = await self._get(url, what, self._params(API_VERSION_CRL, uri=CRL_URIS["root"]))
        return fetched(response, crl_body(response, what), b"")

    async def pck_crl(self, ca: PckCa) -> Fetched:
        what = f"PCK CRL ({ca.value} CA)"
        url = f"{self.url}/{self.version}/pckcrl"
        response = await self._get(url, what, self._params(API_VERSION_CRL, uri=CRL_URIS[ca.value]))
        return fetched(response, crl_body(response, what), header_chain(response, PCK_CRL_CHAIN, what))

    async def tcb_info(self, tee: Tee, fmspc: bytes, update: Update = Update.STANDARD) -> Fetched:
        what = f"{tee.value.upper()} TCB info for FMSPC {fmspc.hex().upper()}"
        base = self._tdx_collateral_base() if tee is Tee.TDX else self.url
        extra = {"fmspc": fmspc.hex().upper(), **update_param(update)}
        response = await self._get(f"{base}/{self.version}/tcb", what, self._params(API_VERSION_COLLATERAL, **extra))
        chain = header_chain(response, TCB_INFO_CHAIN_V3, what)
        return fetched(response, signed_document_body(response, "tcbInfo", what), chain)

    async def qe_identity(self, tee: Tee, update: Update = Update.STANDARD) -> Fetched:
        base = self._tdx_collateral_base() if tee is Tee.TDX else self.url
        what = "TD QE identity" if tee is Tee.TDX else "QE identity"
        return await self._identity(f"{base}/{self.version}/qe/identity", what, update)

    async def qve_identity(self, update: Update = Update.STANDARD) -> Fetched:
        return await self._identity(f"{self.url}/{self.version}/qve/identity", "QvE identity", update)

    async def _identity(self, url: str, what: str, update: Update) -> Fetched:
        response = await self._get(url, what, self._params(API_VERSION_COLLATERAL, **update_param(update)))
        chain = header_chain(response, IDENTITY_CHAIN, what)
        return fetched(response, signed_document_body(response, "enclaveIdentity", what), chain)

    async def pck_certificate(self, platform: PlatformId) -> Fetched:
        """The THIM endpoint first (when configured and not failing in the last 30 s), then the cache."""
        params = self._params(API_VERSION_PCK, **azure_platform_params(platform))
        what = f"PCK certificate for platform {platform.key}"
        if self.pck_url is not None and time.monotonic() >= self._primary_down_until:
            try:
                response = await self._get(
                    f"{self.pck_url}/{self.version}/pckcert", what, params, headers={"metadata": "true"}
                )
                return _pck_certificate_json(response, what)
            except UpstreamError:
                self._primary_down_until = time.monotonic() + PRIMARY_RETRY_AFTER
        response = await self._get(f"{self.url}/{self.version}/pckcert", what, params)
        return _pck_certificate_json(response, what)


def azure_platform_params(platform: PlatformId) -> dict[str, str]:
    """``pckcert`` parameters as Microsoft's client sends them: like a PCCS's, except that PCESVN and PCE-ID
    are big-endian hex (Intel's services take them little-endian)."""
    params = platform_params(platform, with_qe_id=True)
    params["pcesvn"] = platform.pce_svn.to_bytes(2, "big").hex()
    params["pceid"] = platform.pce_id.to_bytes(2, "big").hex()
    return params


def _pck_certificate_json(response: httpx.Response, what: str) -> Fetched:
    body = json_body(response, what)
    if not isinstance(body, dict):
        raise malformed(what, response, "the body is not a JSON object")
    leaf = body.get("pckCert")
    chain = body.get("sgx-Pck-Certificate-Issuer-Chain")
    if not isinstance(leaf, str) or not isinstance(chain, str):
        raise malformed(what, response, "pckCert or sgx-Pck-Certificate-Issuer-Chain is missing")
    meta: dict[str, str] = {}
    if isinstance(body.get("sgx-Tcbm"), str):
        # Azure hosts the PCESVN in the TCBm big-endian; pydcap (like Intel) keeps it little-endian.
        azure = tcbm(body["sgx-Tcbm"], what, response)
        meta["tcbm"] = azure[:32] + azure[34:36] + azure[32:34]
    leaf_pem = pem_certificate_body((leaf if leaf.endswith("\n") else leaf + "\n").encode(), what, response)
    return fetched(response, leaf_pem, issuer_chain_pem(chain, what, response), meta)
