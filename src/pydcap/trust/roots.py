"""The trust root is pinned by key: a chain is trusted when its root certificate carries the root's public key."""

from __future__ import annotations

from pydcap.intel.outcomes import Failure
from pydcap.pki import Certificate, TrustRoot
from pydcap.trust.errors import Refused


def require_root_key(root: Certificate, trust: TrustRoot, failure: Failure, what: str) -> None:
    """``Refused(failure)`` unless ``root`` (the self-issued end of ``what``) holds the trusted root's key."""
    if root.public_key_bytes != trust.public_key:
        raise Refused(failure, f"{what} does not end in the trusted root ({trust.name})")
