"""Verify before store: the cache's use of ``pydcap.trust.admit``, where a refusal becomes an
``UntrustedCollateralError`` naming the entry and where it came from."""

from __future__ import annotations

from collections.abc import Mapping

from pydcap.cache.errors import UntrustedCollateralError
from pydcap.intel.documents import EntryKey, PckCa
from pydcap.pki import TrustRoot
from pydcap.trust import Admission, PkiMemo, Refused
from pydcap.trust import admit as admit_document
from pydcap.trust import pck_ca_of as trust_pck_ca_of

__all__ = ["Admission", "admit", "pck_ca_of"]


def admit(
    key: EntryKey,
    data: bytes,
    issuer_chain: bytes,
    trust: TrustRoot,
    *,
    root_ca_crl: bytes | None = None,
    pck_crl: bytes | None = None,
    meta: Mapping[str, str] | None = None,
    source: str = "",
    memo: PkiMemo | None = None,
) -> Admission:
    """``pydcap.trust.admit``; raises ``UntrustedCollateralError`` (naming ``key`` and ``source``) unless the
    document is authentic."""
    try:
        return admit_document(
            key, data, issuer_chain, trust, root_ca_crl=root_ca_crl, pck_crl=pck_crl, meta=meta, memo=memo
        )
    except Refused as exc:
        raise UntrustedCollateralError(key, exc.detail, source=source, failure=exc.failure) from exc


def pck_ca_of(key: EntryKey, data: bytes, source: str = "") -> PckCa:
    """The CA of a fetched PCK certificate (to know which PCK CRL admits it)."""
    try:
        return trust_pck_ca_of(data)
    except Refused as exc:
        raise UntrustedCollateralError(key, exc.detail, source=source, failure=exc.failure) from exc
