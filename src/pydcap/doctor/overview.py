"""Every quote provider pydcap could use on this machine, described without loading or contacting anything:
the bundled, Intel QCNL and Azure providers with the services their configuration names, each installed
plugin in search order, and which one serves (``pydcap provider list|show``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydcap.provider.azure.config import AzureConfig
from pydcap.provider.bundled_config import BundledConfig
from pydcap.provider.discovery import PluginCandidate, ProviderChoice, describe_plugin, select_provider
from pydcap.provider.errors import ProviderConfigError
from pydcap.provider.qcnl.config import config_path, load_qcnl_config


@dataclass(frozen=True)
class ProviderSummary:
    """One provider: ``name`` (``bundled``, ``intel-qcnl``, ``azure`` or a library path), where it gets
    PCK certificates and collateral, its settings as parsed, and what stops it from working (if anything)."""

    name: str
    kind: str
    serves_from: str
    selected: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "selected": self.selected,
            "serves_from": self.serves_from,
            "problem": self.problem,
            "settings": dict(self.settings),
        }


@dataclass(frozen=True)
class ProviderOverview:
    choice: ProviderChoice
    providers: tuple[ProviderSummary, ...]

    @property
    def selected(self) -> ProviderSummary:
        return next(p for p in self.providers if p.selected)

    def to_dict(self) -> dict[str, Any]:
        return {"selection": self.choice.to_dict(), "providers": [p.to_dict() for p in self.providers]}


def bundled_summary(env: Mapping[str, str]) -> ProviderSummary:
    try:
        c = BundledConfig.from_env(env)
        c.probe_url()  # refuses a URL its client cannot use
    except ProviderConfigError as exc:
        return ProviderSummary("bundled", "bundled", "unusable configuration", problem=str(exc))
    serves = f"{c.describe()}; verified, kept in {c.store_location}"
    return ProviderSummary("bundled", "bundled", serves, settings=c.to_dict())


def qcnl_summary(env: Mapping[str, str]) -> ProviderSummary:
    path = config_path(env)
    try:
        c = load_qcnl_config(path)
    except ProviderConfigError as exc:
        return ProviderSummary("intel-qcnl", "intel-qcnl", f"configuration at {path}", problem=str(exc))
    where = f"{c.source}" if c.source else f"Intel's defaults (no file at {path})"
    serves = f"PCK certificates from {c.pccs_url}, collateral from {c.collateral_url} [{where}]"
    return ProviderSummary("intel-qcnl", "intel-qcnl", serves, settings=c.to_dict())


def azure_summary(env: Mapping[str, str]) -> ProviderSummary:
    try:
        c = AzureConfig.from_env(env)
    except ProviderConfigError as exc:
        return ProviderSummary("azure", "azure", "AZDCAP_* environment", problem=str(exc))
    pck = " then ".join(c.pck_urls)
    serves = f"collateral from {c.base_cert_url}, PCK certificates from {pck}"
    try:
        c.check_supported()
    except ProviderConfigError as exc:
        return ProviderSummary("azure", "azure", serves, settings=c.to_dict(), problem=str(exc))
    return ProviderSummary("azure", "azure", serves, settings=c.to_dict())


def plugin_summary(candidate: PluginCandidate) -> ProviderSummary:
    problem = None if candidate.usable else f"{candidate.path} is {candidate.label}"
    where = f"{candidate.label}, search position {candidate.position}"
    if candidate.same_file_as:
        where += f", the same file as {candidate.same_file_as}"
    return ProviderSummary(candidate.path, "native", where, settings=candidate.to_dict(), problem=problem)


def survey(choice: str | None = None, *, env: Mapping[str, str] | None = None) -> ProviderOverview:
    """The providers and the one ``choice`` (or ``$PYDCAP_PROVIDER``, or the search order) selects.
    Raises ``ProviderSelectionError`` for a choice that names nothing."""
    e = os.environ if env is None else env
    selection = select_provider(choice, env=e)
    summaries = [bundled_summary(e), qcnl_summary(e), azure_summary(e)]
    summaries += [plugin_summary(c) for c in selection.candidates]
    if selection.kind == "native" and selection.path and all(s.name != selection.path for s in summaries):
        summaries.append(plugin_summary(describe_plugin(Path(selection.path))))  # chosen by path, off the list
    chosen = selection.selected
    marked = tuple(
        ProviderSummary(s.name, s.kind, s.serves_from, s.name == chosen, s.settings, s.problem) for s in summaries
    )
    return ProviderOverview(selection, marked)
