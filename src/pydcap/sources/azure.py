"""Azure's collateral services, as Microsoft's Azure DCAP client asks them.

SGX TCB info, identities and CRLs from the global cache (``https://global.acccache.azure.net/sgx/certification``;
CRLs by Intel's distribution URL, ``pckcrl?uri=``), each request with ``clientid`` and the ``api-version`` the
Azure client uses. TDX documents from THIM in the VM's region (``tdx_url``, always collateral ``v4``): TCB info
and TD QE identity under ``/tdx/``, CRLs as ``pckcrl?ca=`` and ``rootcacrl`` with ``clientid`` only (Microsoft's
client sends no ``api-version`` there); without ``tdx_url`` this client asks the collateral URL instead (pydcap's
fallback; ``instance_location`` tells the region as Microsoft's client learns it). PCK certificates come as a
JSON body (``pckCert``, ``sgx-Pck-Certificate-Issuer-Chain``, ``sgx-Tcbm``), first from THIM via the instance
metadata service when ``pck_url`` is set (header ``metadata: true``), then from the global cache. How long the
service says to keep an answer (``Cache-Control: max-age``, or ``cacheMaxAge`` in a PCK certificate's body)
travels as ``meta["max_age"]``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from urllib.parse import quote

import httpx

from pydcap.intel import EntryKind
from pydcap.sources.defaults import AZURE_GLOBAL_CACHE_URL
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

AZURE_THIM_METADATA_URL = "http://169.254.169.254/metadata/THIM/sgx/certification"
AZURE_INSTANCE_METADATA_URL = "http://169.254.169.254/metadata/instance"
DEFAULT_CLIENT_ID = "production_client"
TDX_COLLATERAL_VERSION = "v4"  # the only one Microsoft's client asks THIM for, whatever AZDCAP_COLLATERAL_VERSION says

API_VERSION_COLLATERAL = "2018-10-01-preview"
API_VERSION_CRL = "2020-02-12-preview"
API_VERSION_PCK = "2021-07-22-preview"
API_VERSION_INSTANCE_METADATA = "2021-02-01"

# Intel's CRL distribution URLs, by which Azure's cache keys its CRLs.
CRL_URIS: Mapping[str, str] = {
    "root": "https://certificates.trustedservices.intel.com/intelsgxrootca.crl",
    PckCa.PROCESSOR.value: "https://certificates.trustedservices.intel.com/intelsgxpckprocessor.crl",
    PckCa.PLATFORM.value: "https://api.trustedservices.intel.com/sgx/certification/v3/pckcrl?ca=platform&encoding=pem",
}
PRIMARY_RETRY_AFTER = 30.0
_MAX_AGE = re.compile(r"max-age=(\d+)")


def crl_uri_param(uri: str) -> str:
    """The ``uri`` parameter's value as Microsoft's client sends it: Intel's URL already percent-encoded (lower-case
    hex), so that on the wire it is encoded twice and the service reads the encoded form."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(uri, safe=""))


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
        self.tdx_url = service_url(tdx_url, "Azure tdx_url") if tdx_url else None
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

    def _tdx_base(self) -> str:
        """The regional THIM URL, else (pydcap's fallback) the collateral URL."""
        return self.tdx_url or self.url

    def _tdx_collateral_base(self) -> str:
        """THIM's TDX documents live under ``/tdx/`` of the regional base URL, in collateral version v4."""
        return f"{self._tdx_base().replace('/sgx/', '/tdx/', 1)}/{TDX_COLLATERAL_VERSION}"

    def _params(self, api_version: str | None, **extra: str) -> dict[str, str]:
        params = dict(extra)
        if self.client_id:
            params["clientid"] = self.client_id
        if api_version:
            params["api-version"] = api_version
        return params

    async def _get(
        self,
        url: str,
        what: str,
        params: Mapping[str, str],
        document: EntryKind,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return await self.http.request("GET", url, what=what, params=params, headers=headers, document=document)

    async def root_ca_crl(self, tee: Tee = Tee.SGX) -> Fetched:
        """The root CA CRL: by URI from the global cache, or (``tee`` TDX) THIM's ``rootcacrl``."""
        what = "root CA CRL"
        if tee is Tee.TDX:
            url, params = f"{self._tdx_base()}/{TDX_COLLATERAL_VERSION}/rootcacrl", self._params(None)
        else:
            url = f"{self.url}/{self.version}/pckcrl"
            params = self._params(API_VERSION_CRL, uri=crl_uri_param(CRL_URIS["root"]))
        response = await self._get(url, what, params, EntryKind.ROOT_CA_CRL)
        return fetched(response, crl_body(response, what), b"", _kept_for(response))

    async def pck_crl(self, ca: PckCa, tee: Tee = Tee.SGX) -> Fetched:
        """A PCK CRL: by URI from the global cache, or (``tee`` TDX) by CA from THIM."""
        what = f"PCK CRL ({ca.value} CA)"
        if tee is Tee.TDX:
            url, params = f"{self._tdx_base()}/{TDX_COLLATERAL_VERSION}/pckcrl", self._params(None, ca=ca.value)
        else:
            url = f"{self.url}/{self.version}/pckcrl"
            params = self._params(API_VERSION_CRL, uri=crl_uri_param(CRL_URIS[ca.value]))
        response = await self._get(url, what, params, EntryKind.PCK_CRL)
        chain = header_chain(response, PCK_CRL_CHAIN, what)
        return fetched(response, crl_body(response, what), chain, _kept_for(response))

    async def tcb_info(self, tee: Tee, fmspc: bytes, update: Update = Update.STANDARD) -> Fetched:
        what = f"{tee.value.upper()} TCB info for FMSPC {fmspc.hex().upper()}"
        base = self._tdx_collateral_base() if tee is Tee.TDX else f"{self.url}/{self.version}"
        extra = {"fmspc": fmspc.hex(), **update_param(update)}  # lower-case hex, as Microsoft's client sends it
        response = await self._get(
            f"{base}/tcb", what, self._params(API_VERSION_COLLATERAL, **extra), EntryKind.TCB_INFO
        )
        chain = header_chain(response, TCB_INFO_CHAIN_V3, what)
        return fetched(response, signed_document_body(response, "tcbInfo", what), chain, _kept_for(response))

    async def qe_identity(self, tee: Tee, update: Update = Update.STANDARD) -> Fetched:
        base = self._tdx_collateral_base() if tee is Tee.TDX else f"{self.url}/{self.version}"
        what = "TD QE identity" if tee is Tee.TDX else "QE identity"
        return await self._identity(f"{base}/qe/identity", what, update, EntryKind.QE_IDENTITY)

    async def qve_identity(self, update: Update = Update.STANDARD) -> Fetched:
        url = f"{self.url}/{self.version}/qve/identity"
        return await self._identity(url, "QvE identity", update, EntryKind.QVE_IDENTITY)

    async def _identity(self, url: str, what: str, update: Update, document: EntryKind) -> Fetched:
        params = self._params(API_VERSION_COLLATERAL, **update_param(update))
        response = await self._get(url, what, params, document)
        chain = header_chain(response, IDENTITY_CHAIN, what)
        return fetched(response, signed_document_body(response, "enclaveIdentity", what), chain, _kept_for(response))

    async def pck_certificate(self, platform: PlatformId) -> Fetched:
        """The THIM endpoint first (when configured and not failing in the last 30 s), then the cache."""
        params = self._params(API_VERSION_PCK, **azure_platform_params(platform))
        what = f"PCK certificate for platform {platform.key}"
        if self.pck_url is not None and time.monotonic() >= self._primary_down_until:
            try:
                url = f"{self.pck_url}/{self.version}/pckcert"
                response = await self._get(url, what, params, EntryKind.PCK_CERTIFICATE, headers={"metadata": "true"})
                return _pck_certificate_json(response, what)
            except UpstreamError:
                self._primary_down_until = time.monotonic() + PRIMARY_RETRY_AFTER
        response = await self._get(f"{self.url}/{self.version}/pckcert", what, params, EntryKind.PCK_CERTIFICATE)
        return _pck_certificate_json(response, what)


async def instance_location(transport: HttpTransport, url: str = AZURE_INSTANCE_METADATA_URL) -> str:
    """The region this VM runs in, as Microsoft's client learns it when ``AZDCAP_REGION_URL`` is unset: the
    instance metadata service's ``compute.location`` (asked with ``metadata: true``), in lower case."""
    what = "Azure region (instance metadata; AZDCAP_REGION_URL names it instead)"
    params = {"api-version": API_VERSION_INSTANCE_METADATA}
    response = await transport.request("GET", url, what=what, params=params, headers={"metadata": "true"})
    body = json_body(response, what)
    compute = body.get("compute") if isinstance(body, dict) else None
    location = compute.get("location") if isinstance(compute, dict) else None
    if not isinstance(location, str) or not location.strip():
        raise malformed(what, response, "compute.location is missing")
    return location.strip().lower()


def _kept_for(response: httpx.Response) -> dict[str, str]:
    """``{"max_age": seconds}`` when the ``Cache-Control`` header says how long to keep the answer: Microsoft's
    client keeps a document that long (86400 s when the service says nothing)."""
    found = _MAX_AGE.search(response.headers.get("Cache-Control", ""))
    return {"max_age": found.group(1)} if found else {}


def _pck_kept_for(value: object) -> dict[str, str]:
    """The same for a PCK certificate, whose lifetime Azure puts in the body (``cacheMaxAge``)."""
    text = str(value).strip() if isinstance(value, int | str) else ""
    return {"max_age": str(int(text))} if text.isdigit() else {}


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
    meta = _pck_kept_for(body.get("cacheMaxAge"))
    if isinstance(body.get("sgx-Tcbm"), str):
        # Azure hosts the PCESVN in the TCBm big-endian; pydcap (like Intel) keeps it little-endian.
        azure = tcbm(body["sgx-Tcbm"], what, response)
        meta["tcbm"] = azure[:32] + azure[34:36] + azure[32:34]
    leaf_pem = pem_certificate_body((leaf if leaf.endswith("\n") else leaf + "\n").encode(), what, response)
    return fetched(response, leaf_pem, issuer_chain_pem(chain, what, response), meta)
