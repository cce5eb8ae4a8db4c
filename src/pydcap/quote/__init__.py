"""DCAP quotes: parsing SGX and TDX ECDSA quotes (versions 3, 4 and 5) into named fields."""

from pydcap.quote.parser import Quote
from pydcap.quote.structs import (
    CertificationData,
    EnclaveReport,
    EncryptedPpid,
    QuoteHeader,
    TdReport10,
    TdReport15,
    TdReport15Ex,
    TeeType,
)

__all__ = [
    "CertificationData",
    "EnclaveReport",
    "EncryptedPpid",
    "Quote",
    "QuoteHeader",
    "TdReport10",
    "TdReport15",
    "TdReport15Ex",
    "TeeType",
]
