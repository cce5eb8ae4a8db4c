"""pydcap: Intel SGX and TDX DCAP (ECDSA) remote attestation in Python.

Verify a quote::

    import pydcap
    quote = pydcap.Quote.parse(open("quote.bin", "rb").read())
    result = pydcap.verify_quote(quote, pydcap.Collateral.load("collateral/"))
    print(result.accepted, result.tcb_status, result.reasons)
"""

from typing import TYPE_CHECKING, Any

from pydcap.collateral import Collateral, EnclaveIdentity, TcbInfo
from pydcap.errors import (
    CertificateFormatError,
    CollateralFormatError,
    FormatError,
    PydcapError,
    QuoteFormatError,
)
from pydcap.pki import PckCertificate, TrustRoot
from pydcap.policy import AllOf, AnyOf, Policy, UnsafeAcceptAnyStatus
from pydcap.quote import Quote
from pydcap.verify import (
    Failure,
    Quote3Error,
    QvResult,
    Supplemental,
    TcbStatus,
    VerificationResult,
    Verifier,
    verify_quote,
)

__version__ = "0.1.0"

# The collateral clients and the cache pull in httpx and SQLAlchemy; they load on first use so that
# verifying a quote (and the command line) starts quickly.
_LAZY = {
    "AsyncCollateralService": "pydcap.cache",
    "CollateralCache": "pydcap.cache",
    "CollateralService": "pydcap.cache",
    "CollateralStore": "pydcap.cache",
    "AzureClient": "pydcap.sources",
    "CollateralUnavailableError": "pydcap.sources",
    "PccsClient": "pydcap.sources",
    "PcsClient": "pydcap.sources",
    "TokenVerifier": "pydcap.attest",
    "verify_token": "pydcap.attest",
}

if TYPE_CHECKING:
    from pydcap.attest import TokenVerifier, verify_token
    from pydcap.cache import AsyncCollateralService, CollateralCache, CollateralService, CollateralStore
    from pydcap.sources import AzureClient, CollateralUnavailableError, PccsClient, PcsClient


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pydcap' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AllOf",
    "AnyOf",
    "AsyncCollateralService",
    "AzureClient",
    "CertificateFormatError",
    "Collateral",
    "CollateralCache",
    "CollateralFormatError",
    "CollateralService",
    "CollateralStore",
    "CollateralUnavailableError",
    "EnclaveIdentity",
    "Failure",
    "FormatError",
    "PccsClient",
    "PckCertificate",
    "PcsClient",
    "Policy",
    "PydcapError",
    "Quote",
    "Quote3Error",
    "QuoteFormatError",
    "QvResult",
    "Supplemental",
    "TcbInfo",
    "TcbStatus",
    "TokenVerifier",
    "TrustRoot",
    "UnsafeAcceptAnyStatus",
    "VerificationResult",
    "Verifier",
    "__version__",
    "verify_quote",
    "verify_token",
]
