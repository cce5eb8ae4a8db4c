"""pydcap's attestation service: quotes in, signed attestation tokens out, speaking Microsoft Azure Attestation's
REST API so that MAA's SDKs work unchanged against it (``pydcap attest serve``).

``AttestService`` is the service without HTTP (evidence, Intel's appraisal with collateral from the same store a
PCCS uses, the tenant's policy, tokens); ``AttestApp`` the ASGI application; ``serve(config)`` runs it and
``AttestServer`` runs it in a background thread (these load the server stack on first use). On the relying
party's side, ``verify_token`` and ``TokenVerifier`` check a token against its issuer's published keys and return
the claims.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydcap.attest.client import IssuerError, IssuerUnreachableError, TokenError, TokenVerifier, verify_token
from pydcap.attest.config import AttestConfig, load_config
from pydcap.attest.errors import AttestError
from pydcap.attest.evidence import AttestationType, open_enclave_report
from pydcap.attest.policy import AttestationPolicy
from pydcap.serving.values import ConfigError

_LAZY = {
    "AttestApp": "pydcap.attest.app",
    "AttestServer": "pydcap.attest.server",
    "AttestService": "pydcap.attest.service",
    "serve": "pydcap.attest.server",
}

if TYPE_CHECKING:
    from pydcap.attest.app import AttestApp
    from pydcap.attest.server import AttestServer, serve
    from pydcap.attest.service import AttestService


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pydcap.attest' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AttestApp",
    "AttestConfig",
    "AttestError",
    "AttestServer",
    "AttestService",
    "AttestationPolicy",
    "AttestationType",
    "ConfigError",
    "IssuerError",
    "IssuerUnreachableError",
    "TokenError",
    "TokenVerifier",
    "load_config",
    "open_enclave_report",
    "serve",
    "verify_token",
]
