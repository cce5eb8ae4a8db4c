"""The id a cache keeps one trust root's entries under. (Document names, ``EntryKey``, are Intel's vocabulary:
``pydcap.intel``.)"""

from __future__ import annotations

from pydcap.pki import TrustRoot

__all__ = ["trust_root_id"]


def trust_root_id(trust: TrustRoot) -> str:
    """The id a cache keeps one trust root's entries under (store rows, lease names): its key id, in hex."""
    return trust.key_id.hex()[:32]
