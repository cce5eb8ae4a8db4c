"""Collateral sources: clients of Intel PCS, a PCCS and Azure's caches, on httpx.

Each client implements ``CollateralSource`` (async): ``root_ca_crl()``, ``pck_crl(ca)``,
``tcb_info(tee, fmspc, update)``, ``qe_identity(tee, update)``, ``qve_identity(update)`` and
``pck_certificate(platform)``, each returning a ``Fetched`` (bytes as served, unverified) or raising a named
``UpstreamError`` (URL, status, advice). ``fetch_collateral(source, quote)`` gets a quote's collateral
concurrently; ``pydcap.cache`` puts a verifying, persistent cache in front of any source. A ``RequestBudget``
(token bucket) bounds what lookups that miss may send an upstream; over it they raise ``ThrottledError``.
"""

from pydcap.sources.azure import AZURE_GLOBAL_CACHE_URL, AzureClient
from pydcap.sources.base import CollateralSource
from pydcap.sources.budget import RequestBudget
from pydcap.sources.errors import (
    CertificatesUnavailableError,
    CollateralNotFoundError,
    CollateralUnavailableError,
    MalformedResponseError,
    PlatformUnknownError,
    RateLimitedError,
    ThrottledError,
    UpstreamError,
    UpstreamRejectedError,
    UpstreamServerError,
    UpstreamUnreachableError,
)
from pydcap.sources.fetch import fetch_collateral, fetch_collateral_sync
from pydcap.sources.http import HttpSettings, RetryPolicy
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
from pydcap.sources.pccs import PccsClient
from pydcap.sources.pcs import INTEL_PCS_URL, PcsClient

__all__ = [
    "AZURE_GLOBAL_CACHE_URL",
    "INTEL_PCS_URL",
    "AzureClient",
    "CertificatesUnavailableError",
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
    "Update",
    "UpstreamError",
    "UpstreamRejectedError",
    "UpstreamServerError",
    "UpstreamUnreachableError",
    "fetch_collateral",
    "fetch_collateral_sync",
]
