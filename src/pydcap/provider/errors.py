"""The errors quote providers raise: one named class per family of ``quote3_error_t`` codes, plus
configuration, selection and plugin-loading errors that say which file, line, key or symbol is wrong.
"""

from __future__ import annotations

from pydcap.errors import PydcapError
from pydcap.provider import codes


class ProviderError(PydcapError):
    """A provider could not deliver what was asked. ``code`` is the ``quote3_error_t``, ``name`` Intel's name."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.name = codes.name_of(code)
        self.detail = detail
        super().__init__(f"{self.name} (0x{code:04X})" + (f": {detail}" if detail else ""))


class NoPlatformCertData(ProviderError):
    """No PCK certificate for this platform (unregistered platform, or a wrong encrypted PPID)."""


class CollateralNotFound(ProviderError):
    """The service has no TCB info, QE/QvE identity or collateral for what was asked (HTTP 404)."""


class PlatformUnknown(ProviderError):
    """The caching service does not know this platform (PCCS 461)."""


class CertsUnavailable(ProviderError):
    """The caching service knows the platform but has no certificates for it (PCCS 462)."""


class ServiceUnavailable(ProviderError):
    """The service is down, busy, timed out or failed internally (503, 500, 502)."""


class ProviderNetworkError(ProviderError):
    """The service could not be reached (DNS, connection, TLS handshake other than trust)."""


class RootCaUntrusted(ProviderError):
    """The service's TLS certificate is not trusted (see ``use_secure_cert``)."""


class MalformedResponse(ProviderError):
    """The service or plugin answered something that is not what the protocol says."""


class UntrustedCollateral(ProviderError):
    """The service answered a document that does not verify against the provider's trust root; pydcap's
    own providers neither cache nor return it."""


class InvalidParameter(ProviderError):
    """A request parameter is out of range (FMSPC size, CA name, platform id sizes)."""


class UnsupportedCollateralVersion(ProviderError):
    """The plugin returned a collateral structure version pydcap does not read."""


class OperationNotSupported(ProviderError):
    """The plugin does not export the function this operation needs (for example the ``tdx_*`` ones)."""


class UnexpectedProviderError(ProviderError):
    """Any other ``quote3_error_t`` code."""


_FAMILIES: dict[int, type[ProviderError]] = {
    codes.NO_PLATFORM_CERT_DATA: NoPlatformCertData,
    codes.NO_QUOTE_COLLATERAL_DATA: CollateralNotFound,
    codes.TCBINFO_NOT_FOUND: CollateralNotFound,
    codes.QEIDENTITY_NOT_FOUND: CollateralNotFound,
    codes.NO_QVE_IDENTITY_DATA: CollateralNotFound,
    codes.PLATFORM_UNKNOWN: PlatformUnknown,
    codes.CERTS_UNAVAILABLE: CertsUnavailable,
    codes.SERVICE_UNAVAILABLE: ServiceUnavailable,
    codes.SERVICE_TIMEOUT: ServiceUnavailable,
    codes.ERROR_BUSY: ServiceUnavailable,
    codes.INTERNAL_SERVER_ERROR: ServiceUnavailable,
    codes.NETWORK_ERROR: ProviderNetworkError,
    codes.NETWORK_FAILURE: ProviderNetworkError,
    codes.ROOT_CA_UNTRUSTED: RootCaUntrusted,
    codes.MESSAGE_ERROR: MalformedResponse,
    codes.ERROR_MESSAGE_PARSING_ERROR: MalformedResponse,
    codes.UNKNOWN_MESSAGE_RESPONSE: MalformedResponse,
    codes.ERROR_INVALID_PARAMETER: InvalidParameter,
    codes.COLLATERAL_VERSION_NOT_SUPPORTED: UnsupportedCollateralVersion,
    codes.PLATFORM_LIB_UNAVAILABLE: OperationNotSupported,
}


def error_for(code: int, detail: str = "") -> ProviderError:
    """The named exception for a non-zero ``quote3_error_t``."""
    return _FAMILIES.get(code, UnexpectedProviderError)(code, detail)


class ProviderConfigError(PydcapError, ValueError):
    """A provider configuration (QCNL file, ``AZDCAP_*`` environment) that cannot be used.

    ``source`` is the file or ``environment``; ``line`` (1-based) and ``key`` locate the problem when known.
    """

    def __init__(self, source: str, reason: str, *, key: str | None = None, line: int | None = None) -> None:
        self.source = source
        self.reason = reason
        self.key = key
        self.line = line
        where = source + (f":{line}" if line is not None else "")
        super().__init__(f"{where}: " + (f"{key}: " if key else "") + reason)


class PluginLoadError(PydcapError):
    """A native quote provider library that cannot be loaded or lacks a required function."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot use quote provider {path}: {reason}")


class ProviderSelectionError(PydcapError, ValueError):
    """An explicit provider choice that names no known provider and no existing library."""
