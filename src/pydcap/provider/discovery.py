"""Which quote provider serves pydcap: an explicit choice, else the first ``libdcap_quoteprov.so`` in the
documented search order, else the bundled provider. Every installed plugin is reported, with why one wins.

Paths are looked up under a system root (``$PYDCAP_SYSROOT``, default ``/``) so containers and tests can
point elsewhere. Plugins are described from their ELF symbol tables; none is loaded here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydcap.provider.errors import ProviderSelectionError
from pydcap.provider.native.abi import missing_symbols
from pydcap.provider.native.elf import NotElfError, exported_symbols

# The order in which Conclave's runtime stat()s for a plugin; the first found is loaded.
SEARCH_PATHS = (
    "/usr/lib/x86_64-linux-gnu/libdcap_quoteprov.so.1",
    "/usr/lib/x86_64-linux-gnu/libdcap_quoteprov.so",
    "/usr/lib/libdcap_quoteprov.so.1",
    "/usr/lib/libdcap_quoteprov.so",
)

SYSROOT_ENV = "PYDCAP_SYSROOT"
PROVIDER_ENV = "PYDCAP_PROVIDER"

ProviderKind = Literal["bundled", "native", "intel-qcnl", "azure"]
_NAMES: dict[str, ProviderKind] = {
    "bundled": "bundled",
    "intel": "intel-qcnl",
    "qcnl": "intel-qcnl",
    "intel-qcnl": "intel-qcnl",
    "azure": "azure",
}
Flavor = Literal["intel", "azure", "incomplete", "unreadable"]
_FLAVOR_LABELS = {
    "intel": "Intel-compatible quote provider (sgx_ql_set_logging_callback)",
    "azure": "Azure DCAP client (sgx_ql_set_logging_function)",
    "incomplete": "not a usable quote provider",
    "unreadable": "unreadable",
}


def system_root(env: Mapping[str, str] | None = None) -> Path:
    e = os.environ if env is None else env
    return Path(e.get(SYSROOT_ENV) or "/")


def under_root(root: Path, absolute: str) -> Path:
    """``absolute`` (a path on the target system) as seen from here."""
    return root / absolute.lstrip("/")


@dataclass(frozen=True)
class PluginCandidate:
    """An installed ``libdcap_quoteprov.so``: where, what it is, and whether it can serve."""

    path: str
    documented_path: str
    position: int
    real_path: str
    flavor: Flavor
    missing: tuple[str, ...] = ()
    problem: str | None = None
    same_file_as: str | None = None

    @property
    def usable(self) -> bool:
        return self.flavor in ("intel", "azure")

    @property
    def label(self) -> str:
        text = _FLAVOR_LABELS[self.flavor]
        if self.problem:
            text += f": {self.problem}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "search_position": self.position,
            "real_path": self.real_path,
            "flavor": self.flavor,
            "description": self.label,
            "missing_symbols": list(self.missing),
            "same_file_as": self.same_file_as,
        }


def describe_plugin(path: Path, documented_path: str = "", position: int = 0) -> PluginCandidate:
    """Read a library's exported functions and classify it (without loading it)."""
    real = os.path.realpath(path)
    try:
        symbols = exported_symbols(path)
    except NotElfError as exc:
        return PluginCandidate(str(path), documented_path or str(path), position, real, "unreadable", problem=str(exc))
    missing = missing_symbols(symbols)
    if missing:
        problem = f"lacks {', '.join(missing)}"
        return PluginCandidate(str(path), documented_path or str(path), position, real, "incomplete", missing, problem)
    flavor: Flavor = "azure" if "sgx_ql_set_logging_function" in symbols else "intel"
    return PluginCandidate(str(path), documented_path or str(path), position, real, flavor)


def find_plugins(root: Path) -> tuple[tuple[PluginCandidate, ...], tuple[str, ...]]:
    """Every plugin on the search path, in search order, and notes on entries that were skipped."""
    found: list[PluginCandidate] = []
    notes: list[str] = []
    seen: dict[str, str] = {}
    for position, documented in enumerate(SEARCH_PATHS, start=1):
        p = under_root(root, documented)
        if not p.exists():  # follows symlinks, as stat() does: a dangling link is no plugin
            if p.is_symlink():
                notes.append(f"{p} is a dangling symbolic link to {os.readlink(p)}; it is ignored")
            continue
        if not p.is_file():
            notes.append(f"{p} is not a regular file; it is ignored")
            continue
        candidate = describe_plugin(p, documented, position)
        earlier = seen.get(candidate.real_path)
        if earlier is not None:
            candidate = PluginCandidate(**{**candidate.__dict__, "same_file_as": earlier})
        else:
            seen[candidate.real_path] = candidate.path
        found.append(candidate)
    return tuple(found), tuple(notes)


@dataclass(frozen=True)
class ProviderChoice:
    """The outcome of selection: which provider, why, and everything discovery saw."""

    kind: ProviderKind
    reason: str
    path: str | None = None
    explicit: bool = False
    candidates: tuple[PluginCandidate, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    sysroot: str = "/"

    @property
    def selected(self) -> str:
        """``bundled``, ``intel-qcnl``, ``azure``, or the path of the native library."""
        return self.path if self.kind == "native" and self.path else self.kind

    @property
    def selected_candidate(self) -> PluginCandidate | None:
        return next((c for c in self.candidates if c.path == self.path), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "selected": self.selected,
            "kind": self.kind,
            "reason": self.reason,
            "explicit": self.explicit,
            "candidates": [c.to_dict() for c in self.candidates],
            "warnings": list(self.warnings),
            "sysroot": self.sysroot,
            "search_paths": list(SEARCH_PATHS),
        }


def select_provider(
    choice: str | None = None,
    *,
    origin: str = "argument",
    env: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> ProviderChoice:
    """Decide which provider to use.

    ``choice`` is a name (``bundled``, ``intel``/``qcnl``, ``azure``, ``native``, ``auto``) or a library path;
    without one, ``$PYDCAP_PROVIDER`` is read, and without that the documented search order decides.
    """
    e = os.environ if env is None else env
    sysroot = root if root is not None else system_root(e)
    if choice is None and e.get(PROVIDER_ENV):
        choice, origin = e[PROVIDER_ENV], PROVIDER_ENV
    candidates, notes = find_plugins(sysroot)
    warnings = list(notes) + _conflicts(candidates)
    first = candidates[0] if candidates else None
    root_text = str(sysroot)
    how = f"{origin}={choice}" if origin == PROVIDER_ENV else f"{origin} {choice!r}"

    name = (choice or "auto").strip()
    if name.lower() in _NAMES:
        kind = _NAMES[name.lower()]
        if first is not None:
            warnings.append(f"the explicit choice overrides {first.path}, which discovery would have picked")
        return ProviderChoice(kind, f"chosen explicitly ({how})", None, True, candidates, tuple(warnings), root_text)
    if "/" in name or name.endswith(".so") or ".so." in name:
        p = Path(name)
        if not p.is_file():
            raise ProviderSelectionError(f"{how}: no quote provider library at {p}")
        if first is not None and os.path.realpath(p) != first.real_path:
            warnings.append(f"the explicit choice overrides {first.path}, which discovery would have picked")
        return ProviderChoice(
            "native", f"chosen explicitly ({how})", str(p), True, candidates, tuple(warnings), root_text
        )
    if name.lower() not in ("auto", "native"):
        raise ProviderSelectionError(
            f"{how}: unknown provider; use bundled, intel (or qcnl), azure, native, auto or a library path"
        )
    if first is None:
        looked = ", ".join(str(under_root(sysroot, s)) for s in SEARCH_PATHS)
        if name.lower() == "native":
            raise ProviderSelectionError(f"{how}: no libdcap_quoteprov.so found (looked at {looked})")
        reason = f"no libdcap_quoteprov.so installed (looked at {looked}); the bundled provider needs no setup"
        return ProviderChoice("bundled", reason, None, False, candidates, tuple(warnings), root_text)
    reason = (
        f"the first plugin found in the documented search order "
        f"(position {first.position} of {len(SEARCH_PATHS)}: {first.documented_path})"
    )
    if not first.usable:
        warnings.append(f"{first.path} wins the search but is {first.label}; remove it or set {PROVIDER_ENV}=bundled")
    return ProviderChoice(
        "native", reason, first.path, name.lower() == "native", candidates, tuple(warnings), root_text
    )


def _conflicts(candidates: tuple[PluginCandidate, ...]) -> list[str]:
    distinct = [c for c in candidates if c.same_file_as is None]
    if len(distinct) < 2:
        return []
    winner, others = distinct[0], distinct[1:]
    losers = "; ".join(f"{c.path} ({c.label})" for c in others)
    return [
        f"{len(distinct)} different quote provider libraries are installed: {winner.path} ({winner.label}) "
        f"wins over {losers}. Uninstall the others to avoid conflicts."
    ]
