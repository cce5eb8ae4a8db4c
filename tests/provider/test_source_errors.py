"""Failures of ``pydcap.sources`` and ``pydcap.cache`` as quote provider errors: each kind of failure gets the
``quote3_error_t`` Intel's libraries report for it, and the named class of that code."""

from __future__ import annotations

import pytest

from pydcap.cache.errors import NotCachedError, StoreError, UntrustedCollateralError, WaitTimeoutError
from pydcap.errors import FormatError
from pydcap.intel import EntryKey, EntryKind
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
from pydcap.provider.source_errors import ObtainFailure, provider_error
from pydcap.sources.errors import (
    CertificatesUnavailableError,
    CollateralNotFoundError,
    PlatformUnknownError,
    RateLimitedError,
    ThrottledError,
    TlsVerificationError,
    UpstreamRejectedError,
    UpstreamServerError,
    UpstreamUnreachableError,
)
from pydcap.sources.models import PlatformRequestError

URL = "https://pccs.test/sgx/certification/v4/tcb"
TCB_INFO = EntryKey.tcb_info("sgx", bytes(6))


@pytest.mark.parametrize(
    ("failure", "not_found", "family", "code"),
    [
        (CollateralNotFoundError("TCB info", URL, 404, "", "h", document=EntryKind.TCB_INFO), None, CollateralNotFound,
         codes.TCBINFO_NOT_FOUND),
        (CollateralNotFoundError("QE identity", URL, 404, "", "h", document=EntryKind.QE_IDENTITY), None,
         CollateralNotFound, codes.QEIDENTITY_NOT_FOUND),
        # The kind of document is a field, never read from the words: this one names TCB info but is a CRL.
        (CollateralNotFoundError("CRL of TCB info", URL, 404, "", "h", document=EntryKind.PCK_CRL), None,
         CollateralNotFound, codes.NO_QUOTE_COLLATERAL_DATA),
        (CollateralNotFoundError("PCK certificate", URL, 404, "", "h", document=EntryKind.PCK_CERTIFICATE),
         codes.NO_PLATFORM_CERT_DATA, NoPlatformCertData, codes.NO_PLATFORM_CERT_DATA),
        (NotCachedError(TCB_INFO), None, CollateralNotFound, codes.TCBINFO_NOT_FOUND),
        (PlatformUnknownError("PCK certificate", URL, 461, "", "h"), None, PlatformUnknown, codes.PLATFORM_UNKNOWN),
        (CertificatesUnavailableError("PCK", URL, 462, "", "h"), None, CertsUnavailable, codes.CERTS_UNAVAILABLE),
        (RateLimitedError("PCK", URL, "", "h", retry_after=9.0), None, ServiceUnavailable, codes.ERROR_BUSY),
        (ThrottledError("TCB info", retry_after=0.5, rate=10, burst=100), None, ServiceUnavailable, codes.ERROR_BUSY),
        (UpstreamServerError("TCB info", URL, 503, "", "h"), None, ServiceUnavailable, codes.SERVICE_UNAVAILABLE),
        (WaitTimeoutError("held too long"), None, ServiceUnavailable, codes.SERVICE_TIMEOUT),
        (UpstreamUnreachableError("TCB info", URL, None, "ReadTimeout", "h", timed_out=True), None,
         ServiceUnavailable, codes.SERVICE_TIMEOUT),
        (TlsVerificationError("TCB info", URL, None, "its TLS certificate is not trusted", "h"), None,
         RootCaUntrusted, codes.ROOT_CA_UNTRUSTED),
        (UpstreamUnreachableError("TCB info", URL, None, "ConnectError: refused", "h"), None, ProviderNetworkError,
         codes.NETWORK_ERROR),
        # What failed is a field set where httpx raised it: words in the detail change nothing.
        (UpstreamUnreachableError("TCB info", URL, None, "Timeout? [SSL: CERTIFICATE_VERIFY_FAILED]", "h"), None,
         ProviderNetworkError, codes.NETWORK_ERROR),
        (UpstreamRejectedError("TCB info", URL, 401, "", "h"), None, UnexpectedProviderError, codes.ERROR_UNEXPECTED),
        (StoreError("disk full"), None, UnexpectedProviderError, codes.PERSISTENT_STORAGE_ERROR),
        (UntrustedCollateralError(TCB_INFO, "bad signature"), None, UntrustedCollateral, codes.TCBINFO_CHAIN_ERROR),
        (PlatformRequestError("CPUSVN must be 16 bytes"), None, InvalidParameter, codes.ERROR_INVALID_PARAMETER),
        # A document that does not parse is the service's fault, not a bad parameter of the caller's.
        (FormatError("tcbInfo is not a JSON object"), None, MalformedResponse, codes.ERROR_MESSAGE_PARSING_ERROR),
    ],
)  # fmt: skip
def test_each_failure_gets_intels_code_and_its_class(
    failure: ObtainFailure, not_found: int | None, family: type[ProviderError], code: int
) -> None:
    error = provider_error(failure) if not_found is None else provider_error(failure, not_found)
    assert type(error) is family and error.code == code
    assert error.detail == str(failure)
