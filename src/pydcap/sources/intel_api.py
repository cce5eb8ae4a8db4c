"""The ``/{sgx,tdx}/certification/vN/`` API that Intel PCS and PCCS share: paths, header names, parsing.

``PcsClient`` and ``PccsClient`` differ only where the services differ (root CA CRL, PCK certificate
parameters, credentials, the meaning of error statuses); everything else lives here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import httpx

from pydcap.sources.http import Explanation, HttpSettings, HttpTransport, service_url
from pydcap.sources.models import Fetched, PckCa, PlatformId, Tee, Update
from pydcap.sources.wire import crl_body, fetched, header_chain, pem_certificate_body, signed_document_body, tcbm

_API_SUFFIX = re.compile(r"/(?:sgx|tdx)/certification/v(\d+)/?$")

PCK_CRL_CHAIN = ("SGX-PCK-CRL-Issuer-Chain",)
TCB_INFO_CHAIN_V4 = ("TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain")
TCB_INFO_CHAIN_V3 = ("SGX-TCB-Info-Issuer-Chain", "TCB-Info-Issuer-Chain")
IDENTITY_CHAIN = ("SGX-Enclave-Identity-Issuer-Chain", "SGX-QE-Identity-Issuer-Chain")
PCK_CERT_CHAIN = ("SGX-PCK-Certificate-Issuer-Chain",)


def split_api_url(url: str) -> tuple[str, int | None]:
    """``https://host/sgx/certification/v4/`` -> (``https://host``, 4); a bare root gives (root, None)."""
    text = url.strip().rstrip("/")
    match = _API_SUFFIX.search(text + "/")
    if match:
        return text[: match.start()], int(match.group(1))
    return text, None


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
        if self.api_version not in (3, 4):
            raise ValueError(f"API version {self.api_version} is not supported (3 or 4)")
        self.http = HttpTransport(
            f"{self.service} at {self.root}",
            settings,
            client=client,
            explanations=explanations,
            headers=headers,
            send_request_id=send_request_id,
        )
        self.root_ca_crl_url = self.endpoint(Tee.SGX, "rootcacrl")

    @property
    def description(self) -> str:
        return f"{self.service} at {self.root} (API v{self.api_version})"

    def endpoint(self, tee: Tee, path: str) -> str:
        # TDX collateral exists only in API v4, whatever version the SGX side speaks.
        version = 4 if tee is Tee.TDX else self.api_version
        return f"{self.root}/{tee.value}/certification/v{version}/{path}"

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> IntelApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- requests shared by PCS and PCCS ---------------------------------------------------------

    async def _get(self, url: str, what: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        return await self.http.request("GET", url, what=what, params=params)

    async def root_ca_crl(self) -> Fetched:
        what = "root CA CRL"
        response = await self._get(self.root_ca_crl_url, what)
        return fetched(response, crl_body(response, what), b"")

    async def pck_crl(self, ca: PckCa) -> Fetched:
        what = f"PCK CRL ({ca.value} CA)"
        response = await self._get(self.endpoint(Tee.SGX, "pckcrl"), what, self.pck_crl_params(ca))
        return fetched(response, crl_body(response, what), header_chain(response, PCK_CRL_CHAIN, what))

    def pck_crl_params(self, ca: PckCa) -> dict[str, str]:
        return {"ca": ca.value, "encoding": "der"}

    async def tcb_info(self, tee: Tee, fmspc: bytes, update: Update = Update.STANDARD) -> Fetched:
        what = f"{tee.value.upper()} TCB info for FMSPC {fmspc.hex().upper()}"
        params = {"fmspc": fmspc.hex().upper(), **update_param(update)}
        response = await self._get(self.endpoint(tee, "tcb"), what, params)
        v4 = tee is Tee.TDX or self.api_version >= 4
        chain = header_chain(response, TCB_INFO_CHAIN_V4 if v4 else TCB_INFO_CHAIN_V3, what)
        return fetched(response, signed_document_body(response, "tcbInfo", what), chain)

    async def qe_identity(self, tee: Tee, update: Update = Update.STANDARD) -> Fetched:
        what = "TD QE identity" if tee is Tee.TDX else "QE identity"
        return await self._identity(self.endpoint(tee, "qe/identity"), what, update)

    async def qve_identity(self, update: Update = Update.STANDARD) -> Fetched:
        return await self._identity(self.endpoint(Tee.SGX, "qve/identity"), "QvE identity", update)

    async def _identity(self, url: str, what: str, update: Update) -> Fetched:
        response = await self._get(url, what, update_param(update))
        chain = header_chain(response, IDENTITY_CHAIN, what)
        return fetched(response, signed_document_body(response, "enclaveIdentity", what), chain)

    async def _pck_certificate(self, params: Mapping[str, str], platform: PlatformId) -> Fetched:
        what = f"PCK certificate for platform {platform.key}"
        response = await self._get(self.endpoint(Tee.SGX, "pckcert"), what, params)
        leaf = pem_certificate_body(response.content, what, response)
        meta: dict[str, str] = {}
        if "SGX-TCBm" in response.headers:
            meta["tcbm"] = tcbm(response.headers["SGX-TCBm"], what, response)
        if "SGX-FMSPC" in response.headers:
            meta["fmspc"] = response.headers["SGX-FMSPC"].strip().lower()
        if "SGX-PCK-Certificate-CA-Type" in response.headers:
            meta["ca_type"] = response.headers["SGX-PCK-Certificate-CA-Type"].strip().lower()
        return fetched(response, leaf, header_chain(response, PCK_CERT_CHAIN, what), meta)


def update_param(update: Update) -> dict[str, str]:
    # "standard" is every service's default; saying it only when it differs keeps the URLs that Intel's
    # own clients send (and what strict servers accept).
    return {} if update is Update.STANDARD else {"update": update.value}


def platform_params(platform: PlatformId, *, with_qe_id: bool) -> dict[str, str]:
    """``pckcert`` parameters: a caching service's order (``qeid`` first, ``encrypted_ppid`` last, when
    known) or Intel PCS's (``encrypted_ppid`` first; ``qeid`` only when there is no encrypted PPID)."""
    ppid = platform.encrypted_ppid.hex() if platform.encrypted_ppid is not None else None
    params: dict[str, str] = {}
    if not with_qe_id and ppid is not None:
        params["encrypted_ppid"] = ppid
    else:
        params["qeid"] = platform.qe_id.hex()
    params["cpusvn"] = platform.cpu_svn.hex()
    params["pcesvn"] = platform.pce_svn_hex
    params["pceid"] = platform.pce_id_hex
    if with_qe_id and ppid is not None:
        params["encrypted_ppid"] = ppid
    return params
