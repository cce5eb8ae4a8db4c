"""Open the provider a ``ProviderChoice`` names (or that discovery picks), ready to answer requests."""

from __future__ import annotations

from collections.abc import Mapping

from pydcap.provider.azure.provider import AzureProvider
from pydcap.provider.bundled import BundledProvider
from pydcap.provider.discovery import ProviderChoice, select_provider
from pydcap.provider.errors import ProviderSelectionError
from pydcap.provider.interface import QuoteProvider
from pydcap.provider.native.provider import NativeProvider
from pydcap.provider.qcnl.provider import QcnlProvider


def open_provider(choice: ProviderChoice | str | None = None, env: Mapping[str, str] | None = None) -> QuoteProvider:
    """The provider for ``choice``: a ``ProviderChoice``, a name or path (see ``select_provider``), or None
    for the documented search order. A native plugin is loaded (and initialised) here; the Intel QCNL
    provider reads its configuration file (and finds its cache directory from ``env``), the bundled and
    Azure providers their environment variables (``PYDCAP_*``, ``AZDCAP_*``) and open their persistent store."""
    if not isinstance(choice, ProviderChoice):
        choice = select_provider(choice, env=env)
    if choice.kind == "native" and choice.path is not None:
        return NativeProvider(choice.path)
    if choice.kind == "intel-qcnl":
        return QcnlProvider(env=env)
    if choice.kind == "bundled":
        return BundledProvider(env=env)
    if choice.kind == "azure":
        return AzureProvider(env=env)
    raise ProviderSelectionError(f"no provider of kind {choice.kind!r}")
