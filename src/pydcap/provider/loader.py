"""Open the provider a ``ProviderChoice`` names (or that discovery picks), ready to answer requests."""

from __future__ import annotations

from collections.abc import Mapping

from pydcap.provider.discovery import ProviderChoice, select_provider
from pydcap.provider.errors import ProviderSelectionError
from pydcap.provider.interface import QuoteProvider
from pydcap.provider.native import NativeProvider
from pydcap.provider.qcnl import QcnlProvider
from pydcap.provider.qcnl_config import load_qcnl_config

# Kinds whose Python implementation waits on other parts of pydcap (see the provider package docstring).
_PENDING = {
    "bundled": "the bundled provider needs pydcap.cache, which is not finished; choose a native plugin or intel",
    "azure": "pydcap's Azure provider is not written yet; install Azure's libdcap_quoteprov.so and choose it by path",
}


def open_provider(choice: ProviderChoice | str | None = None, env: Mapping[str, str] | None = None) -> QuoteProvider:
    """The provider for ``choice``: a ``ProviderChoice``, a name or path (see ``select_provider``), or None
    for the documented search order. A native plugin is loaded (and initialised) here; the Intel QCNL
    provider reads its configuration file here."""
    if not isinstance(choice, ProviderChoice):
        choice = select_provider(choice, env=env)
    if choice.kind == "native" and choice.path is not None:
        return NativeProvider(choice.path)
    if choice.kind == "intel-qcnl":
        return QcnlProvider(load_qcnl_config(env=env))
    raise ProviderSelectionError(_PENDING.get(choice.kind, f"no provider of kind {choice.kind!r}"))
