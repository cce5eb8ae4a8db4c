"""DCAP client plugins: one interface (``QuoteProvider``) over the bundled provider (pydcap's sources and
verifying persistent cache; the default), Intel's QCNL client (``qcnl/``), pydcap's Azure client (``azure/``) and
native ``libdcap_quoteprov.so`` plugins (Intel's or Azure's, through the C ABI: ``native/``), with the documented
search order (``discovery``) deciding which serves::

    from pydcap.provider import open_provider, select_provider
    choice = select_provider()            # explicit name/path, $PYDCAP_PROVIDER, or the search order
    print(choice.selected, choice.reason)
    with open_provider(choice) as provider:
        collateral = provider.collateral_for_quote(quote_bytes)
"""

from pydcap.provider.azure import AzureConfig, AzureProvider
from pydcap.provider.bundled import BundledProvider
from pydcap.provider.bundled_config import BundledConfig
from pydcap.provider.discovery import SEARCH_PATHS, PluginCandidate, ProviderChoice, select_provider
from pydcap.provider.errors import (
    CertsUnavailable,
    CollateralNotFound,
    InvalidParameter,
    MalformedResponse,
    NoPlatformCertData,
    OperationNotSupported,
    PlatformUnknown,
    PluginLoadError,
    ProviderConfigError,
    ProviderError,
    ProviderNetworkError,
    ProviderSelectionError,
    RootCaUntrusted,
    ServiceUnavailable,
    UnexpectedProviderError,
    UnsupportedCollateralVersion,
    UntrustedCollateral,
)
from pydcap.provider.interface import (
    CacheKind,
    CaType,
    LogCallback,
    LogLevel,
    PckCertChain,
    PlatformId,
    QuoteProvider,
    QveIdentity,
)
from pydcap.provider.loader import open_provider
from pydcap.provider.native import NativeProvider
from pydcap.provider.qcnl import QcnlConfig, QcnlProvider, load_qcnl_config, parse_qcnl_config
from pydcap.provider.trust import TRUSTED_ROOT_ENV, UntrustedRootWarning

__all__ = [
    "SEARCH_PATHS",
    "TRUSTED_ROOT_ENV",
    "AzureConfig",
    "AzureProvider",
    "BundledConfig",
    "BundledProvider",
    "CaType",
    "CacheKind",
    "CertsUnavailable",
    "CollateralNotFound",
    "InvalidParameter",
    "LogCallback",
    "LogLevel",
    "MalformedResponse",
    "NativeProvider",
    "NoPlatformCertData",
    "OperationNotSupported",
    "PckCertChain",
    "PlatformId",
    "PlatformUnknown",
    "PluginCandidate",
    "PluginLoadError",
    "ProviderChoice",
    "ProviderConfigError",
    "ProviderError",
    "ProviderNetworkError",
    "ProviderSelectionError",
    "QcnlConfig",
    "QcnlProvider",
    "QuoteProvider",
    "QveIdentity",
    "RootCaUntrusted",
    "ServiceUnavailable",
    "UnexpectedProviderError",
    "UnsupportedCollateralVersion",
    "UntrustedCollateral",
    "UntrustedRootWarning",
    "load_qcnl_config",
    "open_provider",
    "parse_qcnl_config",
    "select_provider",
]
