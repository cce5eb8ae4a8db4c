"""Administrator and user tokens as Intel's PCCS checks them: the service keeps only the SHA-512 of each token
(hex), and a presented token is hashed and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac


def token_hash(token: str) -> str:
    """What a configuration keeps for ``token``: its SHA-512 in hex."""
    return hashlib.sha512(token.encode()).hexdigest()


def token_matches(token: bytes | None, expected_hash: str) -> bool:
    """Intel's check (SHA-512 of the token, in hex, equals the configured hash), in constant time."""
    if not token or not expected_hash:
        return False
    digest = hashlib.sha512(token).hexdigest().encode()
    return hmac.compare_digest(digest, expected_hash.lower().encode())
