"""Failures of ``pydcap.sources`` and ``pydcap.cache`` as quote provider errors: the ``quote3_error_t`` family
Intel's libraries would report for the same situation, with pydcap's explanation kept as the detail.
"""

from __future__ import annotations

from pydcap.cache.errors import NotCachedError, StoreError, UntrustedCollateralError, WaitTimeoutError
from pydcap.errors import CollateralError, FormatError
from pydcap.intel import EntryKind
from pydcap.provider import codes
from pydcap.provider.errors import ProviderError, UntrustedCollateral, error_for
from pydcap.sources.errors import (
    CertificatesUnavailableError,
    CollateralNotFoundError,
    CollateralUnavailableError,
    MalformedResponseError,
    PlatformUnknownError,
    RateLimitedError,
    ThrottledError,
    TlsVerificationError,
    UpstreamRejectedError,
    UpstreamServerError,
    UpstreamUnreachableError,
)
from pydcap.sources.models import PlatformRequestError

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


# The not-found code of a collateral part (for the other documents, the one the caller names).
_COLLATERAL_NOT_FOUND_CODES = {
    EntryKind.TCB_INFO: codes.TCBINFO_NOT_FOUND,
    EntryKind.QE_IDENTITY: codes.QEIDENTITY_NOT_FOUND,
}

ObtainFailure = CollateralError | StoreError | FormatError
"""What obtaining a document through a source and the cache can raise (and ``provider_error`` translates)."""
OBTAIN_FAILURES = (CollateralError, StoreError, FormatError)


def provider_error(exc: ObtainFailure, not_found: int = codes.NO_QUOTE_COLLATERAL_DATA) -> ProviderError:
    """The provider error for a failure to obtain a document; ``not_found`` is the code a missing document
    gets (``NO_PLATFORM_CERT_DATA`` for a PCK certificate, ...), refined by kind for collateral parts."""
    if isinstance(exc, UntrustedCollateralError):
        return UntrustedCollateral(_UNTRUSTED_CODES.get(exc.key.kind, codes.UNABLE_TO_GET_COLLATERAL), str(exc))
    return error_for(_code(exc, not_found), str(exc))


def _code(exc: ObtainFailure, not_found: int) -> int:
    """The ``quote3_error_t`` Intel's libraries would report for the same situation."""
    if isinstance(exc, NotCachedError):
        return _NOT_FOUND_CODES.get(exc.key.kind, not_found)
    if isinstance(exc, WaitTimeoutError):
        return codes.SERVICE_TIMEOUT
    if isinstance(exc, CollateralNotFoundError):
        if not_found != codes.NO_QUOTE_COLLATERAL_DATA or exc.document is None:
            return not_found
        return _COLLATERAL_NOT_FOUND_CODES.get(exc.document, not_found)
    if isinstance(exc, PlatformUnknownError):
        return codes.PLATFORM_UNKNOWN
    if isinstance(exc, CertificatesUnavailableError):
        return codes.CERTS_UNAVAILABLE
    if isinstance(exc, RateLimitedError | ThrottledError):  # throttled by Intel, or by this process's budget
        return codes.ERROR_BUSY
    if isinstance(exc, UpstreamServerError):
        return codes.SERVICE_UNAVAILABLE
    if isinstance(exc, TlsVerificationError):
        return codes.ROOT_CA_UNTRUSTED
    if isinstance(exc, UpstreamUnreachableError):
        return codes.SERVICE_TIMEOUT if exc.timed_out else codes.NETWORK_ERROR
    if isinstance(exc, MalformedResponseError):
        return codes.ERROR_MESSAGE_PARSING_ERROR
    if isinstance(exc, UpstreamRejectedError):  # 400, 401, 403, 410: Intel's QCNL says "unexpected" too
        return codes.ERROR_UNEXPECTED
    if isinstance(exc, StoreError):
        return codes.PERSISTENT_STORAGE_ERROR
    if isinstance(exc, CollateralUnavailableError):
        return codes.UNABLE_TO_GET_COLLATERAL
    if isinstance(exc, PlatformRequestError):  # the request itself: a platform id or quote pydcap cannot use
        return codes.ERROR_INVALID_PARAMETER
    return codes.ERROR_MESSAGE_PARSING_ERROR  # any other FormatError: a document that does not parse
