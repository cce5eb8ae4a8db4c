"""What the simulated Intel has revoked, and the CRLs that say so: one per CA (root, PCK CAs, retired CAs),
issued at ``now`` (PCK CAs for 30 days, the root for a year), numbered by how many entries they carry."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from pydcap.sim.pki import CA_KINDS, DAY, ROOT_CRL_URL, Authority, Pki, build_crl, pck_crl_url

PCK_CRL_LIFETIME = 30 * DAY
ROOT_CRL_LIFETIME = 365 * DAY


class RevocationLists:
    """Revoked serial numbers per issuing CA, and their CRLs (cached until something new is revoked)."""

    def __init__(self, pki: Pki, now: int) -> None:
        self.pki = pki
        self.now = now
        self._lock = threading.Lock()
        self._revoked: dict[int, set[int]] = {}
        self._crls: dict[tuple[int, frozenset[int]], bytes] = {}

    def revoke(self, issuer: Authority, serial: int) -> None:
        with self._lock:
            self._revoked.setdefault(issuer.serial, set()).add(serial)

    def revoked(self, issuer: Authority) -> frozenset[int]:
        with self._lock:
            return frozenset(self._revoked.get(issuer.serial, ()))

    def crl(
        self,
        issuer: Authority,
        *,
        this_update: int | None = None,
        next_update: int | None = None,
        extensions: bool = True,
        authority_key_identifier: bool = True,
        signer: Authority | None = None,
    ) -> bytes:
        """``issuer``'s current CRL (DER); the keyword arguments make defective or expired copies."""
        revoked = self.revoked(issuer)
        default = (
            this_update is None and next_update is None and extensions and authority_key_identifier and signer is None
        )
        if default:
            with self._lock:
                cached = self._crls.get((issuer.serial, revoked))
            if cached is not None:
                return cached
        lifetime = ROOT_CRL_LIFETIME if issuer is self.pki.root else PCK_CRL_LIFETIME
        this = self.now if this_update is None else this_update
        der = build_crl(
            issuer,
            revoked,
            this_update=datetime.fromtimestamp(this, UTC),
            next_update=datetime.fromtimestamp(this + lifetime if next_update is None else next_update, UTC),
            number=1 + len(revoked),
            extensions=extensions,
            authority_key_identifier=authority_key_identifier,
            signing_key=signer.key if signer is not None else None,
        )
        if default:
            with self._lock:
                self._crls[(issuer.serial, revoked)] = der
        return der

    def for_uri(self, uri: str) -> bytes | None:
        """The CRL behind a CRL distribution point URL of this PKI's certificates."""
        if uri == ROOT_CRL_URL:
            return self.crl(self.pki.root)
        for ca in CA_KINDS:
            if uri in (pck_crl_url(ca, "v4"), pck_crl_url(ca, "v3")):
                return self.crl(self.pki.intermediate(ca))
        return None
