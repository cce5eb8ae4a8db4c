"""Failures of ``pydcap.sources`` and ``pydcap.cache`` as quote provider errors: the ``quote3_error_t`` family
Intel's libraries would report for the same situation, with pydcap's explanation kept as the detail.
"""

from __future__ import annotations

from pydcap.cache.errors import NotCachedError, StoreError, UntrustedCollateralError, WaitTimeoutError
from pydcap.cache.keys import EntryKind
from pydcap.errors import FormatError
from pydcap.provider import codes
from pydcap.provider.errors import (
    CertsUnavailable,
    CollateralNotFound,
    InvalidParameter,
    MalformedResponse,
    NoPlatformCertData,
    PlatformUnknown,
    ProviderError,
    ProviderNetworkError,
    RootCaUntrusted,
    ServiceUnavailable,
    UnexpectedProviderError,
    UntrustedCollateral,
)
from pydcap.sources.errors import (
    CertificatesUnavailableError,
    CollateralNotFoundError,
    CollateralUnavailableError,
    MalformedResponseError,
    PlatformUnknownError,
    RateLimitedError,
    UpstreamRejectedError,
    UpstreamServerError,
    UpstreamUnreachableError,
)

# The chain error Intel's verification library names for a document of each kind.
_UNTRUSTED_CODES = {
    EntryKind.PCK_CERTIFICATE: codes.PCK_CERT_CHAIN_ERROR,
    EntryKind.TCB_INFO: codes.TCBINFO_CHAIN_ERROR,
    EntryKind.QE_IDENTITY: codes.QEIDENTITY_CHAIN_ERROR,
    EntryKind.QVE_IDENTITY: codes.QEIDENTITY_CHAIN_ERROR,
}
_NOT_FOUND_CODES = {
    EntryKind.PCK_CERTIFICATE: codes.NO_PLATFORM_CERT_DATA,
    EntryKind.TCB_INFO: codes.TCBINFO_NOT_FOUND,
    EntryKind.QE_IDENTITY: codes.QEIDENTITY_NOT_FOUND,
    EntryKind.QVE_IDENTITY: codes.NO_QVE_IDENTITY_DATA,
}


def _not_found_code(what: str, default: int) -> int:
    """The not-found code for a document a source described as ``what`` ("SGX TCB info for FMSPC ...")."""
    if default != codes.NO_QUOTE_COLLATERAL_DATA:
        return default
    if "TCB info" in what:
        return codes.TCBINFO_NOT_FOUND
    if "QE identity" in what:
        return codes.QEIDENTITY_NOT_FOUND
    return default


ObtainFailure = CollateralUnavailableError | StoreError | FormatError
"""What obtaining a document through a source and the cache can raise (and ``provider_error`` translates)."""


def provider_error(exc: ObtainFailure, not_found: int = codes.NO_QUOTE_COLLATERAL_DATA) -> ProviderError:
    """The provider error for a failure to obtain a document; ``not_found`` is the code a missing document
    gets (``NO_PLATFORM_CERT_DATA`` for a PCK certificate, ...), refined by kind for collateral parts."""
    detail = str(exc)
    if isinstance(exc, UntrustedCollateralError):
        return UntrustedCollateral(_UNTRUSTED_CODES.get(exc.key.kind, codes.UNABLE_TO_GET_COLLATERAL), detail)
    if isinstance(exc, NotCachedError):
        code = _NOT_FOUND_CODES.get(exc.key.kind, not_found)
        return (NoPlatformCertData if code == codes.NO_PLATFORM_CERT_DATA else CollateralNotFound)(code, detail)
    if isinstance(exc, WaitTimeoutError):
        return ServiceUnavailable(codes.SERVICE_TIMEOUT, detail)
    if isinstance(exc, CollateralNotFoundError):
        code = _not_found_code(exc.what, not_found)
        return (NoPlatformCertData if code == codes.NO_PLATFORM_CERT_DATA else CollateralNotFound)(code, detail)
    if isinstance(exc, PlatformUnknownError):
        return PlatformUnknown(codes.PLATFORM_UNKNOWN, detail)
    if isinstance(exc, CertificatesUnavailableError):
        return CertsUnavailable(codes.CERTS_UNAVAILABLE, detail)
    if isinstance(exc, RateLimitedError):
        return ServiceUnavailable(codes.ERROR_BUSY, detail)
    if isinstance(exc, UpstreamServerError):
        return ServiceUnavailable(codes.SERVICE_UNAVAILABLE, detail)
    if isinstance(exc, UpstreamUnreachableError):
        if "CERTIFICATE_VERIFY_FAILED" in exc.detail:
            return RootCaUntrusted(codes.ROOT_CA_UNTRUSTED, detail)
        if "Timeout" in exc.detail:
            return ServiceUnavailable(codes.SERVICE_TIMEOUT, detail)
        return ProviderNetworkError(codes.NETWORK_ERROR, detail)
    if isinstance(exc, MalformedResponseError):
        return MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, detail)
    if isinstance(exc, UpstreamRejectedError):  # 400, 401, 403, 410: Intel's QCNL says "unexpected" too
        return UnexpectedProviderError(codes.ERROR_UNEXPECTED, detail)
    if isinstance(exc, StoreError):
        return UnexpectedProviderError(codes.PERSISTENT_STORAGE_ERROR, detail)
    if isinstance(exc, CollateralUnavailableError):
        return UnexpectedProviderError(codes.UNABLE_TO_GET_COLLATERAL, detail)
    return InvalidParameter(codes.ERROR_INVALID_PARAMETER, detail)
