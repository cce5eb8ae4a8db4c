"""The bundled provider's settings: which collateral service it asks (Intel PCS by default, a PCCS or Azure's
cache), where it persists what it verified, and which root it trusts; from ``PYDCAP_*`` variables.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydcap.cache.locations import STORE_ENV, default_store_path
from pydcap.provider.azure.cloud import detect_azure
from pydcap.provider.discovery import system_root
from pydcap.provider.endpoints import identity_url, tls_verification
from pydcap.provider.errors import ProviderConfigError
from pydcap.provider.trust import TRUSTED_ROOT_ENV
from pydcap.sources import AZURE_GLOBAL_CACHE_URL, INTEL_PCS_URL, AzureClient, HttpSettings, PccsClient, PcsClient
from pydcap.sources.defaults import DEFAULT_PCCS_URL
from pydcap.sources.models import Update

SERVICE_ENV = "PYDCAP_COLLATERAL_SERVICE"
URL_ENV = "PYDCAP_COLLATERAL_URL"
UPDATE_ENV = "PYDCAP_COLLATERAL_UPDATE"
VERIFY_TLS_ENV = "PYDCAP_COLLATERAL_VERIFY_TLS"
API_KEY_ENV = "PYDCAP_PCS_API_KEY"
_COLLATERAL_PREFIX = "PYDCAP_COLLATERAL_"
_COLLATERAL_VARIABLES = (SERVICE_ENV, URL_ENV, UPDATE_ENV, VERIFY_TLS_ENV)
VARIABLES = (*_COLLATERAL_VARIABLES, API_KEY_ENV, STORE_ENV, TRUSTED_ROOT_ENV)

MISSING_API_KEY = (
    f"Intel PCS serves PCK certificates (needed to make quotes) only with a subscription key: set {API_KEY_ENV} "
    "(the key of your api.portal.trustedservices.intel.com subscription), or use a PCCS instead: "
    f"{SERVICE_ENV}=pccs {URL_ENV}=https://<your PCCS>:8081/sgx/certification/v4/"
)

ServiceKind = Literal["pcs", "pccs", "azure"]
DEFAULT_URLS: Mapping[ServiceKind, str] = {
    "pcs": INTEL_PCS_URL,
    "pccs": DEFAULT_PCCS_URL,
    "azure": AZURE_GLOBAL_CACHE_URL,
}
SERVICE_NAMES: Mapping[ServiceKind, str] = {"pcs": "Intel PCS", "pccs": "PCCS", "azure": "Azure's collateral cache"}


@dataclass(frozen=True)
class BundledConfig:
    """Where the bundled provider gets collateral and keeps it. ``url`` None means the service's default;
    ``store`` None means ``default_store_path()``; ``trusted_root`` None means Intel's root; ``service_reason``
    says why ``service`` is the one. ``from_env`` reads:

    PYDCAP_COLLATERAL_SERVICE     pcs | pccs | azure (default: azure on an Azure VM, else pcs; see provider.cloud)
    PYDCAP_COLLATERAL_URL         the service's URL (default: Intel PCS, https://localhost:8081/..., Azure)
    PYDCAP_COLLATERAL_UPDATE      standard (default) | early: which TCB evaluation to ask for
    PYDCAP_COLLATERAL_VERIFY_TLS  true (default) | false | path of a CA bundle for the service's certificate
    PYDCAP_PCS_API_KEY            Intel PCS subscription key (needed for PCK certificates from Intel)
    PYDCAP_CACHE                  the store: a SQLite file or postgresql+psycopg:// URL (default: XDG cache)
    PYDCAP_TRUSTED_ROOT           a PEM root other than Intel's (a simulated Intel), announced as a warning
    """

    service: ServiceKind = "pcs"
    service_reason: str = "the default"
    url: str | None = None
    api_key: str | None = None
    update: Update = Update.STANDARD
    verify_tls: bool | str = True
    store: str | None = None
    trusted_root: str | None = None
    variables_set: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BundledConfig:
        """The settings the environment gives; a bad value is refused with the variable's name."""
        e = os.environ if env is None else env
        for name in e:
            if name.startswith(_COLLATERAL_PREFIX) and name not in _COLLATERAL_VARIABLES:
                close = difflib.get_close_matches(name, VARIABLES, n=1, cutoff=0.75)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ProviderConfigError("environment", f"not a variable pydcap reads{hint}", key=name)
        values: dict[str, Any] = {}
        service = e.get(SERVICE_ENV, "").strip().lower()
        if service:
            if service not in DEFAULT_URLS:
                raise ProviderConfigError("environment", f"{service!r}: must be pcs, pccs or azure", key=SERVICE_ENV)
            values["service"] = service
            values["service_reason"] = f"{SERVICE_ENV}={service}"
        elif e.get(URL_ENV):
            values["service_reason"] = f"{URL_ENV} is set without {SERVICE_ENV}: Intel PCS's API"
        else:
            values.update(_default_service(system_root(e)))
        if e.get(URL_ENV):
            values["url"] = _url(e[URL_ENV])
        if e.get(UPDATE_ENV):
            try:
                values["update"] = Update(e[UPDATE_ENV].strip().lower())
            except ValueError as exc:
                msg = f"{e[UPDATE_ENV]!r}: must be standard or early"
                raise ProviderConfigError("environment", msg, key=UPDATE_ENV) from exc
        if e.get(VERIFY_TLS_ENV):
            values["verify_tls"] = _verify_tls(e[VERIFY_TLS_ENV])
        for name, field in ((API_KEY_ENV, "api_key"), (TRUSTED_ROOT_ENV, "trusted_root")):
            if e.get(name):
                values[field] = e[name]
        values["store"] = e.get(STORE_ENV) or str(default_store_path(e))
        return cls(**values, variables_set=tuple(n for n in VARIABLES if e.get(n)))

    @property
    def service_url(self) -> str:
        return self.url or DEFAULT_URLS[self.service]

    @property
    def store_location(self) -> str:
        return self.store or str(default_store_path())

    def describe(self) -> str:
        """``Intel PCS at https://...`` for messages."""
        return f"{SERVICE_NAMES[self.service]} at {self.service_url}"

    def http_settings(self) -> HttpSettings:
        return HttpSettings(verify_tls=self.verify_tls)

    def make_source(self, settings: HttpSettings | None = None) -> PcsClient | PccsClient | AzureClient:
        """The client of the configured service (no request is sent here)."""
        s = settings or self.http_settings()
        try:
            if self.service == "pccs":
                return PccsClient(self.service_url, settings=s)
            if self.service == "azure":
                return AzureClient(self.service_url, settings=s)
            return PcsClient(self.service_url, api_key=self.api_key, settings=s)
        except ValueError as exc:
            raise ProviderConfigError("environment", str(exc), key=URL_ENV) from exc

    def probe_url(self) -> str:
        """What ``pydcap doctor`` asks the service (refused here when its client cannot use the URL)."""
        return identity_url(self.make_source())

    def to_dict(self) -> dict[str, Any]:
        return {
            "variables_set": list(self.variables_set),
            "service": self.service,
            "service_reason": self.service_reason,
            "url": self.service_url,
            "update": self.update.value,
            "verify_tls": self.verify_tls,
            "api_key": "set" if self.api_key else None,
            "store": self.store_location,
            "trusted_root": self.trusted_root,
        }


def _default_service(root: Path) -> dict[str, Any]:
    """Azure's collateral cache on an Azure VM (it needs no set-up there), else Intel PCS."""
    found = detect_azure(root)
    if found.azure:
        return {"service": "azure", "service_reason": f"the default on {found.evidence}: it needs no set-up there"}
    return {"service": "pcs", "service_reason": f"the default: {found.evidence}"}


def _url(value: str) -> str:
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ProviderConfigError("environment", f"{value!r}: not an http:// or https:// URL", key=URL_ENV)
    return text


def _verify_tls(value: str) -> bool | str:
    text = value.strip()
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    if not Path(text).is_file():
        raise ProviderConfigError(
            "environment", f"{value!r}: must be true, false or the path of a CA bundle file", key=VERIFY_TLS_ENV
        )
    try:
        tls_verification(text)  # read now: a bundle without a certificate would fail every request
    except OSError as exc:  # ssl.SSLError included
        msg = f"{value!r}: not a usable CA bundle: {exc}"
        raise ProviderConfigError("environment", msg, key=VERIFY_TLS_ENV) from exc
    return text
