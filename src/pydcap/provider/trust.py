"""The root pydcap's providers (bundled, Intel QCNL, Azure) verify collateral against before caching it: Intel's
built-in root, or a PEM root named by ``$PYDCAP_TRUSTED_ROOT`` (a simulated Intel), announced loudly.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

from pydcap.errors import FormatError
from pydcap.pki import TrustRoot
from pydcap.provider.errors import ProviderConfigError

TRUSTED_ROOT_ENV = "PYDCAP_TRUSTED_ROOT"

log = logging.getLogger("pydcap.provider")


class UntrustedRootWarning(UserWarning):
    """A provider verifies collateral against a root other than Intel's: what it serves proves nothing
    about real Intel hardware."""


def trusted_root_from_env(env: Mapping[str, str] | None = None) -> TrustRoot | None:
    """The root ``$PYDCAP_TRUSTED_ROOT`` names (a PEM certificate file), or None for Intel's."""
    e = os.environ if env is None else env
    path = e.get(TRUSTED_ROOT_ENV)
    return load_trusted_root(path) if path else None


def load_trusted_root(path: str | Path) -> TrustRoot:
    """The root certificate (PEM) at ``path``; a problem is reported against ``$PYDCAP_TRUSTED_ROOT``."""
    try:
        return TrustRoot.from_pem(Path(path).read_bytes())
    except OSError as exc:
        raise ProviderConfigError("environment", f"cannot read {path}: {exc.strerror}", key=TRUSTED_ROOT_ENV) from exc
    except FormatError as exc:
        raise ProviderConfigError("environment", f"{path}: {exc}", key=TRUSTED_ROOT_ENV) from exc


def announce_root(root: TrustRoot, provider: str) -> None:
    """Say, as a warning and in the log, that ``provider`` trusts a root other than Intel's."""
    if root.is_intel:
        return
    message = (
        f"the {provider} provider trusts a root other than Intel's: {root.name} (key id {root.key_id.hex()[:16]}). "
        "Collateral and PCK certificates it serves prove nothing about real Intel hardware"
    )
    log.warning("%s", message)
    warnings.warn(message, UntrustedRootWarning, stacklevel=3)
