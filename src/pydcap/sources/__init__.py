"""Collateral sources: clients of Intel PCS, a PCCS and Azure's caches, on httpx.

Each client implements ``CollateralSource`` (async): ``root_ca_crl()``, ``pck_crl(ca)``,
``tcb_info(tee, fmspc, update)``, ``qe_identity(tee, update)``, ``qve_identity(update)`` and
``pck_certificate(platform)``, each returning a ``Fetched`` (bytes as served, unverified) or raising a named
``UpstreamError`` (URL, status, advice). ``fetch_collateral(source, quote)`` gets a quote's collateral
concurrently; ``pydcap.cache`` puts a verifying, persistent cache in front of any source. A ``RequestBudget``
(token bucket) bounds what lookups that miss may send an upstream; over it they raise ``ThrottledError``.
"""

from typing import TYPE_CHECKING

from pydcap.exports import lazy_exports
from pydcap.sources.base import CollateralSource
from pydcap.sources.budget import RequestBudget
from pydcap.sources.defaults import AZURE_GLOBAL_CACHE_URL, INTEL_PCS_URL
from pydcap.sources.errors import (
    CertificatesUnavailableError,
    CollateralError,
    CollateralNotFoundError,
    CollateralUnavailableError,
    MalformedResponseError,
    PlatformUnknownError,
    RateLimitedError,
    ThrottledError,
    TlsVerificationError,
    UpstreamError,
    UpstreamRejectedError,
    UpstreamServerError,
    UpstreamUnreachableError,
)
from pydcap.sources.fetch import fetch_collateral, fetch_collateral_sync
from pydcap.sources.models import (
    CollateralRequest,
    Fetched,
    FetchedPckCertificates,
    PckCa,
    PckCertificateOption,
    PlatformId,
    PlatformRequestError,
    Tee,
    Update,
)

# The clients pull in httpx: they load on first use (``pydcap verify --collateral`` never needs them).
_LAZY = {
    "AzureClient": "pydcap.sources.azure",
    "HttpSettings": "pydcap.sources.http",
    "PccsClient": "pydcap.sources.pccs",
    "PcsClient": "pydcap.sources.pcs",
    "RetryPolicy": "pydcap.sources.http",
}

if TYPE_CHECKING:
    from pydcap.sources.azure import AzureClient
    from pydcap.sources.http import HttpSettings, RetryPolicy
    from pydcap.sources.pccs import PccsClient
    from pydcap.sources.pcs import PcsClient


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "AZURE_GLOBAL_CACHE_URL",
    "INTEL_PCS_URL",
    "AzureClient",
    "CertificatesUnavailableError",
    "CollateralError",
    "CollateralNotFoundError",
    "CollateralRequest",
    "CollateralSource",
    "CollateralUnavailableError",
    "Fetched",
    "FetchedPckCertificates",
    "HttpSettings",
    "MalformedResponseError",
    "PccsClient",
    "PckCa",
    "PckCertificateOption",
    "PcsClient",
    "PlatformId",
    "PlatformRequestError",
    "PlatformUnknownError",
    "RateLimitedError",
    "RequestBudget",
    "RetryPolicy",
    "Tee",
    "ThrottledError",
    "TlsVerificationError",
    "Update",
    "UpstreamError",
    "UpstreamRejectedError",
    "UpstreamServerError",
    "UpstreamUnreachableError",
    "fetch_collateral",
    "fetch_collateral_sync",
]
