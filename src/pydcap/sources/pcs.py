"""Intel's Provisioning Certification Service (PCS), API v4 (v3 where asked).

The subscription key goes in ``Ocp-Apim-Subscription-Key`` (PCS needs it for ``pckcert(s)``). The root CA
CRL comes from the root certificate's CRL distribution point when talking to Intel, and from the
``rootcacrl`` endpoint of any other PCS-compatible server (a simulated Intel, a mirror).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import httpx

from pydcap.intel import EntryKind, protocol
from pydcap.sources.defaults import INTEL_PCS_URL
from pydcap.sources.errors import CollateralNotFoundError, UpstreamRejectedError
from pydcap.sources.http import Explanation, HttpSettings
from pydcap.sources.intel_api import PCK_CERT_CHAIN, IntelApiClient, platform_params
from pydcap.sources.models import (
    Fetched,
    FetchedPckCertificates,
    PckCertificateOption,
    PlatformId,
    Tee,
)
from pydcap.sources.wire import header_chain, json_body, malformed, pem_certificate_body, tcbm

# The CRL distribution point of the Intel SGX Root CA certificate.
INTEL_ROOT_CA_CRL_URL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"

PCS_EXPLANATIONS: Mapping[int, Explanation] = {
    401: (
        UpstreamRejectedError,
        f"Intel PCS wants a valid subscription key ({protocol.SUBSCRIPTION_KEY}) for this request: pass api_key "
        "(the key of your api.portal.trustedservices.intel.com subscription)",
    ),
    404: (CollateralNotFoundError, "Intel PCS has no such document: Intel does not know this FMSPC or platform"),
}


class PcsClient(IntelApiClient):
    """Intel PCS. ``url`` is the service root (``https://api.trustedservices.intel.com``) or a URL ending in
    ``/sgx/certification/vN/``, which also sets the API version."""

    service = "Intel PCS"

    def __init__(
        self,
        url: str = INTEL_PCS_URL,
        *,
        api_key: str | None = None,
        api_version: int | None = None,
        root_ca_crl_url: str | None = None,
        settings: HttpSettings | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        headers = {protocol.SUBSCRIPTION_KEY: api_key} if api_key else None
        super().__init__(
            url,
            api_version=api_version,
            settings=settings,
            client=client,
            headers=headers,
            explanations=PCS_EXPLANATIONS,
        )
        if root_ca_crl_url is not None:
            self.root_ca_crl_url = root_ca_crl_url
        elif urlsplit(self.root).hostname == urlsplit(INTEL_PCS_URL).hostname:
            self.root_ca_crl_url = INTEL_ROOT_CA_CRL_URL

    async def pck_certificate(self, platform: PlatformId) -> Fetched:
        """``pckcert``: by encrypted PPID as Intel wants it; a platform without one is asked for by QE-ID,
        which only caching services answer."""
        return await self._pck_certificate(platform_params(platform, with_qe_id=False), platform)

    async def pck_certificates(
        self, *, pce_id: int, encrypted_ppid: bytes | None = None, platform_manifest: bytes | None = None
    ) -> FetchedPckCertificates:
        """``pckcerts``: every PCK certificate of a platform, by encrypted PPID (GET) or platform manifest
        (POST), as Intel's caching services fetch them for PCK certificate selection."""
        what = "PCK certificates of a platform"
        url = self.endpoint(Tee.SGX, "pckcerts")
        pceid = pce_id.to_bytes(2, "little").hex()
        if platform_manifest is not None:
            body = {"platformManifest": platform_manifest.hex(), "pceid": pceid}
            response = await self.http.request("POST", url, what=what, json=body)
        elif encrypted_ppid is not None:
            params = {"encrypted_ppid": encrypted_ppid.hex(), "pceid": pceid}
            response = await self._get(url, what, params, EntryKind.PCK_CERTIFICATE)
        else:
            raise ValueError("pckcerts needs an encrypted PPID or a platform manifest")
        items = json_body(response, what)
        if not isinstance(items, list):
            raise malformed(what, response, "the body is not a JSON array")
        options = []
        for item in items:
            if not (
                isinstance(item, dict)
                and isinstance(item.get("tcb"), dict)
                and isinstance(item.get("tcbm"), str)
                and isinstance(item.get("cert"), str)
            ):
                raise malformed(what, response, "an entry lacks tcb, tcbm or cert")
            cert = item["cert"]
            pem = None if cert == "Not available" else pem_certificate_body(unquote(cert).encode(), what, response)
            options.append(PckCertificateOption(item["tcb"], tcbm(item["tcbm"], what, response), pem))
        return FetchedPckCertificates(
            options=tuple(options),
            issuer_chain=header_chain(response, PCK_CERT_CHAIN, what),
            fmspc=response.headers.get(protocol.FMSPC),
            ca_type=response.headers.get(protocol.PCK_CERTIFICATE_CA_TYPE),
            url=str(response.request.url),
            request_id=response.headers.get(protocol.REQUEST_ID),
        )

    async def fmspcs(self, platform: str | None = None) -> list[dict[str, str]]:
        """``fmspcs``: the FMSPCs Intel knows, each ``{"fmspc": ..., "platform": ...}``."""
        what = "FMSPC list"
        params = {"platform": platform} if platform else None
        response = await self._get(self.endpoint(Tee.SGX, "fmspcs"), what, params)
        items = json_body(response, what)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise malformed(what, response, "the body is not a JSON array of objects")
        return [{str(k): str(v) for k, v in item.items()} for item in items]
