"""The ``/{sgx,tdx}/certification/vN/`` API that Intel PCS and PCCS share: paths, header names, parsing.

``PcsClient`` and ``PccsClient`` differ only where the services differ (root CA CRL, PCK certificate
parameters, credentials, the meaning of error statuses); everything else lives here.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from pydcap.intel import EntryKind, PckCa, PlatformId, Tee, Update
from pydcap.intel import protocol as api
from pydcap.intel.protocol import split_api_url, update_param
from pydcap.sources.http import Explanation, HttpSettings, HttpTransport, service_url
from pydcap.sources.models import Fetched
from pydcap.sources.wire import crl_body, fetched, header_chain, pem_certificate_body, signed_document_body, tcbm

# Intel's protocol names (pydcap.intel.protocol), re-exported for code written before they moved there.
PCK_CRL_CHAIN = api.PCK_CRL_CHAIN_HEADERS
TCB_INFO_CHAIN_V3 = api.TCB_INFO_CHAIN_HEADERS_V3
IDENTITY_CHAIN = api.IDENTITY_CHAIN_HEADERS
PCK_CERT_CHAIN = api.PCK_CERTIFICATE_CHAIN_HEADERS
platform_params = api.pckcert_params
__all__ = [
    "IDENTITY_CHAIN",
    "PCK_CERT_CHAIN",
    "PCK_CRL_CHAIN",
    "TCB_INFO_CHAIN_V3",
    "IntelApiClient",
    "platform_params",
    "split_api_url",
    "update_param",
]


class IntelApiClient:
    """A client of one service speaking Intel's certification API (v3 or v4). The root CA CRL comes from
    ``root_ca_crl_url``: the service's own ``rootcacrl`` endpoint unless a subclass knows better."""

    service = "Intel's certification API"

    def __init__(
        self,
        url: str,
        *,
        api_version: int | None = None,
        settings: HttpSettings | None = None,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        explanations: Mapping[int, Explanation] | None = None,
        send_request_id: bool = False,
    ) -> None:
        root, from_url = split_api_url(url)
        self.root = service_url(root, f"{self.service} URL")
        self.api_version = api_version or from_url or 4
        if self.api_version not in api.API_VERSIONS:
            raise ValueError(f"API version {self.api_version} is not supported (3 or 4)")
        self.http = HttpTransport(
            f"{self.service} at {self.root}",
            settings,
            client=client,
            explanations=explanations,
            headers=headers,
            send_request_id=send_request_id,
        )
        self.root_ca_crl_url = self.endpoint(Tee.SGX, api.ROOT_CA_CRL)

    @property
    def description(self) -> str:
        return f"{self.service} at {self.root} (API v{self.api_version})"

    def endpoint(self, tee: Tee, path: str) -> str:
        return self.root + api.api_path(tee, self.api_version, path)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> IntelApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- requests shared by PCS and PCCS ---------------------------------------------------------

    async def _get(
        self, url: str, what: str, params: Mapping[str, str] | None = None, document: EntryKind | None = None
    ) -> httpx.Response:
        return await self.http.request("GET", url, what=what, params=params, document=document)

    async def root_ca_crl(self) -> Fetched:
        what = "root CA CRL"
        response = await self._get(self.root_ca_crl_url, what, None, EntryKind.ROOT_CA_CRL)
        return fetched(response, crl_body(response, what), b"")

    async def pck_crl(self, ca: PckCa) -> Fetched:
        what = f"PCK CRL ({ca.value} CA)"
        response = await self._get(
            self.endpoint(Tee.SGX, api.PCK_CRL), what, self.pck_crl_params(ca), EntryKind.PCK_CRL
        )
        return fetched(response, crl_body(response, what), header_chain(response, api.PCK_CRL_CHAIN_HEADERS, what))

    def pck_crl_params(self, ca: PckCa) -> dict[str, str]:
        return api.pck_crl_params(ca)

    async def tcb_info(self, tee: Tee, fmspc: bytes, update: Update = Update.STANDARD) -> Fetched:
        what = f"{tee.value.upper()} TCB info for FMSPC {fmspc.hex().upper()}"
        params = {"fmspc": fmspc.hex().upper(), **update_param(update)}
        response = await self._get(self.endpoint(tee, api.TCB_INFO), what, params, EntryKind.TCB_INFO)
        v4 = tee is Tee.TDX or self.api_version >= 4
        chain = header_chain(response, api.TCB_INFO_CHAIN_HEADERS_V4 if v4 else api.TCB_INFO_CHAIN_HEADERS_V3, what)
        return fetched(response, signed_document_body(response, "tcbInfo", what), chain)

    async def qe_identity(self, tee: Tee, update: Update = Update.STANDARD) -> Fetched:
        what = "TD QE identity" if tee is Tee.TDX else "QE identity"
        return await self._identity(self.endpoint(tee, api.QE_IDENTITY), what, update, EntryKind.QE_IDENTITY)

    async def qve_identity(self, update: Update = Update.STANDARD) -> Fetched:
        url = self.endpoint(Tee.SGX, api.QVE_IDENTITY)
        return await self._identity(url, "QvE identity", update, EntryKind.QVE_IDENTITY)

    async def _identity(self, url: str, what: str, update: Update, document: EntryKind) -> Fetched:
        response = await self._get(url, what, update_param(update), document)
        chain = header_chain(response, api.IDENTITY_CHAIN_HEADERS, what)
        return fetched(response, signed_document_body(response, "enclaveIdentity", what), chain)

    async def _pck_certificate(self, params: Mapping[str, str], platform: PlatformId) -> Fetched:
        what = f"PCK certificate for platform {platform.key}"
        response = await self._get(self.endpoint(Tee.SGX, api.PCK_CERTIFICATE), what, params, EntryKind.PCK_CERTIFICATE)
        leaf = pem_certificate_body(response.content, what, response)
        meta: dict[str, str] = {}
        if api.TCBM in response.headers:
            meta["tcbm"] = tcbm(response.headers[api.TCBM], what, response)
        if api.FMSPC in response.headers:
            meta["fmspc"] = response.headers[api.FMSPC].strip().lower()
        if api.PCK_CERTIFICATE_CA_TYPE in response.headers:
            meta["ca_type"] = response.headers[api.PCK_CERTIFICATE_CA_TYPE].strip().lower()
        return fetched(response, leaf, header_chain(response, api.PCK_CERTIFICATE_CHAIN_HEADERS, what), meta)
