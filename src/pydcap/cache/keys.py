"""The id a cache keeps one trust root's entries under. Document names (``EntryKey``) are Intel's vocabulary and
live in ``pydcap.intel.documents``; they are re-exported here for code written before that move."""

from __future__ import annotations

from pydcap.intel.documents import EntryKey, EntryKind, InvalidKeyError
from pydcap.pki import TrustRoot

__all__ = ["EntryKey", "EntryKind", "InvalidKeyError", "trust_root_id"]


def trust_root_id(trust: TrustRoot) -> str:
    """The id a cache keeps one trust root's entries under (store rows, lease names): its key id, in hex."""
    return trust.key_id.hex()[:32]
