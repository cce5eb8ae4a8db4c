"""The exceptions pydcap raises on purpose, all under ``PydcapError``: one tree, drawn here and checked against the
code by tests/test_errors_tree.py (a class added anywhere goes into the drawing).

Verification failures are not exceptions: they are values in a ``VerificationResult``. Exceptions are for input
that cannot be read (``FormatError``), collateral that could not be had or was refused (``CollateralError``), and
the failures of the parts around verification. Collateral keeps bad data and no data apart (as python-tuf keeps
``RepositoryError`` and ``DownloadError``): ``UntrustedCollateralError`` is a document that came and was refused (not
authentic under the trust root, not the document asked for, or older than the one held), never retried from
memory as if the service were down; ``CollateralUnavailableError`` is no document at all (unreachable, not found,
throttled, not cached). What a failure was is a class or a field set where it happened (``TlsVerificationError``,
``UpstreamUnreachableError.timed_out``, ``UpstreamError.document``), never read back from a message.

Every name ends in ``Error`` but those of three families that stand for someone else's codes and keep their names:
the ``quote3_error_t`` families of ``ProviderError`` (``NoPlatformCertData`` is ``SGX_QL_NO_PLATFORM_CERT_DATA``),
the PCCS's answers (``PccsError``: Intel's statuses) and the attestation service's (``AttestError``: MAA's codes).

Home of each class in brackets; ``pydcap`` re-exports the public ones.

PydcapError
├── FormatError (also ValueError): bytes or text that cannot be read
│   ├── QuoteFormatError (offset)
│   ├── CertificateFormatError
│   │   └── CertificateExtensionError (position, missing)
│   ├── CollateralFormatError (part)
│   │   ├── UnsupportedVersionError
│   │   └── InvalidCollateralError
│   ├── TcbFormatError                                                     [intel]
│   ├── PlatformRequestError: a platform id or quote pydcap cannot use     [intel]
│   └── RequestBodyError (status)                                          [serving]
├── CollateralError: collateral that could not be used
│   ├── CollateralUnavailableError: no data
│   │   ├── ThrottledError (retry_after): this process's request budget    [sources]
│   │   ├── NotCachedError (key): only the cache was asked                 [cache]
│   │   ├── WaitTimeoutError: another process held the fetch too long      [cache]
│   │   └── UpstreamError (url, status, document, hint)                    [sources]
│   │       ├── UpstreamUnreachableError (timed_out)
│   │       │   └── TlsVerificationError
│   │       ├── UpstreamServerError: 5xx
│   │       ├── RateLimitedError (retry_after): 429
│   │       ├── CollateralNotFoundError: 404
│   │       ├── PlatformUnknownError: 461
│   │       ├── CertificatesUnavailableError: 462
│   │       ├── UpstreamRejectedError: 400, 401, 403, 410, ...
│   │       └── MalformedResponseError: an answer not as the protocol says
│   │           └── ResponseTooLargeError
│   └── UntrustedCollateralError (key, failure): bad data, refused        [cache]
│       └── OutdatedCollateralError: older than the one held
├── StoreError (reason, busy): the collateral store cannot be used         [cache]
│   └── PlatformNotStoredError                                             [pccs]
├── ProviderError (code, name): a quote3_error_t family                    [provider]
│   ├── NoPlatformCertData
│   ├── CollateralNotFound
│   ├── PlatformUnknown
│   ├── CertsUnavailable
│   ├── ServiceUnavailable
│   ├── ProviderNetworkError
│   ├── RootCaUntrusted
│   ├── MalformedResponse
│   ├── UntrustedCollateral
│   ├── InvalidParameter
│   ├── UnsupportedCollateralVersion
│   ├── OperationNotSupported
│   └── UnexpectedProviderError
├── ProviderConfigError (also ValueError; source, line, key)               [provider]
├── ProviderSelectionError (also ValueError)                               [provider]
├── PluginLoadError (path)                                                 [provider]
├── NativeUnavailableError (path): the native accelerator cannot be loaded  [pki]
├── PlatformError: no quote from this machine                             [platform]
├── HostError                                                              [host]
├── ConfigError: a service's configuration                                 [serving]
├── PccsError (status): the PCCS's answer in Intel's words                 [pccs]
│   ├── InvalidRequest: 400
│   ├── Unauthorized: 401
│   ├── NotCached: 404
│   │   └── CertificatesNotIssued: Intel has no certificate for any TCB
│   ├── _NotFound: 404
│   ├── _MethodNotAllowed: 405
│   ├── PayloadTooLarge: 413
│   ├── IntegrityError: 460
│   ├── PlatformUnknown: 461
│   ├── CertificatesUnavailable: 462
│   ├── UpstreamFailed: 502
│   └── ServiceUnavailable: 503
├── AttestError (status, code): the attestation service's answer in MAA's words  [attest]
│   ├── InvalidParameter: 400
│   ├── InvalidOperation
│   ├── PolicyParsingError
│   ├── PolicyEvaluationError
│   ├── Unauthorized: 401
│   ├── NotFound: 404
│   ├── MethodNotAllowed: 405
│   ├── PayloadTooLarge: 413
│   └── ServiceUnavailable: 503
├── TokenError: a token that does not verify                              [attest]
└── IssuerError: the token issuer's keys could not be had                  [attest]
    └── IssuerUnreachableError
"""

from __future__ import annotations


class PydcapError(Exception):
    """Base class of every error pydcap raises on purpose."""


class FormatError(PydcapError, ValueError):
    """Input bytes or text that do not have the expected format."""


class QuoteFormatError(FormatError):
    """A quote that cannot be parsed. ``offset`` is where in the quote the problem was found."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"malformed quote at offset {offset}: {reason}")
        self.offset = offset
        self.reason = reason


class CertificateFormatError(FormatError):
    """A certificate, certificate chain or CRL that cannot be parsed."""


class CertificateExtensionError(CertificateFormatError):
    """A certificate of a chain lacks standard X.509 extensions that Intel's parser requires.

    ``position`` is its index among the ``length`` certificates of the chain; ``missing`` names the extensions.
    """

    def __init__(self, position: int, length: int, missing: tuple[str, ...], subject_cn: str) -> None:
        super().__init__(
            f"certificate {position + 1} of {length} ({subject_cn!r}) lacks the {', '.join(missing)} extension"
        )
        self.position = position
        self.length = length
        self.missing = missing


class CollateralFormatError(FormatError):
    """A collateral document (TCB info, enclave identity, bundle) that cannot be parsed.

    ``part`` names the collateral part (``tcb_info``, ``qe_identity``, ``pck_crl``, ...).
    """

    def __init__(self, part: str, reason: str) -> None:
        super().__init__(f"{part}: {reason}")
        self.part = part
        self.reason = reason


class UnsupportedVersionError(CollateralFormatError):
    """A collateral document of a version pydcap does not support."""


class InvalidCollateralError(CollateralFormatError):
    """A collateral document that parses but whose content is invalid (bad status, duplicate levels)."""


class CollateralError(PydcapError):
    """Collateral could not be used: none came (``CollateralUnavailableError``) or what came was refused
    (``pydcap.cache.UntrustedCollateralError``)."""


class CollateralUnavailableError(CollateralError):
    """No data: collateral could not be obtained (the upstream could not be reached, failed or has no such document,
    the request budget is spent, or nothing is cached where only the cache may be asked)."""
