"""pydcap: Intel SGX and TDX DCAP (ECDSA) remote attestation in Python.

Verify a quote::

    import pydcap
    quote = pydcap.Quote.parse(open("quote.bin", "rb").read())
    result = pydcap.verify_quote(quote, pydcap.Collateral.load("collateral/"))
    print(result.accepted, result.tcb_status, result.reasons)
"""

from typing import TYPE_CHECKING

from pydcap.errors import (
    CertificateFormatError,
    CollateralError,
    CollateralFormatError,
    CollateralUnavailableError,
    FormatError,
    PydcapError,
    QuoteFormatError,
)
from pydcap.exports import lazy_exports

__version__ = "0.1.0"

# Everything else loads on first use: ``pydcap --help`` needs none of it, verifying a quote needs no HTTP client
# or database (httpx, SQLAlchemy).
_LAZY = {
    "Collateral": "pydcap.collateral",
    "EnclaveIdentity": "pydcap.collateral",
    "TcbInfo": "pydcap.collateral",
    "PckCertificate": "pydcap.pki",
    "TrustRoot": "pydcap.pki",
    "AllOf": "pydcap.policy",
    "AnyOf": "pydcap.policy",
    "Policy": "pydcap.policy",
    "UnsafeAcceptAnyStatus": "pydcap.policy",
    "Quote": "pydcap.quote",
    "Failure": "pydcap.verify",
    "Quote3Error": "pydcap.verify",
    "QvResult": "pydcap.verify",
    "Supplemental": "pydcap.verify",
    "TcbStatus": "pydcap.verify",
    "VerificationResult": "pydcap.verify",
    "Verifier": "pydcap.verify",
    "verify_quote": "pydcap.verify",
    "AsyncCollateralService": "pydcap.cache",
    "CollateralCache": "pydcap.cache",
    "CollateralService": "pydcap.cache",
    "CollateralStore": "pydcap.cache",
    "AzureClient": "pydcap.sources",
    "UntrustedCollateralError": "pydcap.cache",
    "PccsClient": "pydcap.sources",
    "PcsClient": "pydcap.sources",
    "TokenVerifier": "pydcap.attest",
    "verify_token": "pydcap.attest",
}

if TYPE_CHECKING:
    from pydcap.attest import TokenVerifier, verify_token
    from pydcap.cache import (
        AsyncCollateralService,
        CollateralCache,
        CollateralService,
        CollateralStore,
        UntrustedCollateralError,
    )
    from pydcap.collateral import Collateral, EnclaveIdentity, TcbInfo
    from pydcap.pki import PckCertificate, TrustRoot
    from pydcap.policy import AllOf, AnyOf, Policy, UnsafeAcceptAnyStatus
    from pydcap.quote import Quote
    from pydcap.sources import AzureClient, PccsClient, PcsClient
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


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "AllOf",
    "AnyOf",
    "AsyncCollateralService",
    "AzureClient",
    "CertificateFormatError",
    "Collateral",
    "CollateralCache",
    "CollateralError",
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
    "UntrustedCollateralError",
    "VerificationResult",
    "Verifier",
    "__version__",
    "verify_quote",
    "verify_token",
]
