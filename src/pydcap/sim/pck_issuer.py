"""PCK certificates as Intel's PCS issues them: one per TCB level of the platform's FMSPC, each with its own
key, and the selection PCS makes for a raw TCB (the highest certified TCB the platform reaches)."""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from pydcap.pki.pck import SgxType
from pydcap.sim.catalog import Catalog
from pydcap.sim.defects import QuoteDefect
from pydcap.sim.der_writer import SgxExtensionFields, sgx_extension
from pydcap.sim.keys import derive_key
from pydcap.sim.pki import (
    NOT_AFTER,
    PCK_CN,
    PCK_NOT_BEFORE,
    Authority,
    CertificateProfile,
    Pki,
    build_certificate,
    certificate_pem,
    expired_validity,
    intel_name,
    pck_ca_kind,
    pck_crl_url,
    pem_chain,
    reissue,
    serial_from,
    without_extension,
)
from pydcap.sim.platform import IssuedPck

Tcb = tuple[tuple[int, ...], int]  # (16 SGX TCB components, PCESVN)


@dataclass(frozen=True)
class PckSubject:
    """Whom a PCK certificate names: the platform (by label) and the SGX extension fields that do not depend
    on the TCB level."""

    label: str
    issuer: Authority
    ppid: bytes
    pce_id: bytes
    fmspc: bytes
    sgx_type: SgxType
    platform_instance_id: bytes | None


class PckIssuer:
    """Issues (and caches) PCK certificates for one PKI, and picks the one PCS would serve."""

    def __init__(self, pki: Pki, catalog: Callable[[], Catalog], now: int) -> None:
        self.pki = pki
        self._catalog = catalog
        self.now = now
        self._lock = threading.Lock()
        self._issued: dict[tuple[PckSubject, Tcb, str], IssuedPck] = {}

    def candidates(self, fmspc: bytes) -> list[Tcb]:
        """Every TCB (SGX components, PCESVN) of the FMSPC's levels, at any evaluation number, highest first."""
        entry = self._catalog().entry(fmspc)
        if entry is None:
            return []
        found = {level.sgx_key for tcb in entry.tcb.values() for level in (*tcb.sgx_levels, *tcb.tdx_levels)}
        return sorted(found, reverse=True)

    def select(self, fmspc: bytes, components: tuple[int, ...], pce_svn: int, also: Iterable[Tcb] = ()) -> Tcb | None:
        """PCS's choice for a raw TCB: the first certified TCB (of the FMSPC's levels, and ``also``) it reaches
        on every component and PCESVN."""
        for candidate, candidate_pce in sorted({*self.candidates(fmspc), *also}, reverse=True):
            if candidate_pce <= pce_svn and all(c <= r for c, r in zip(candidate, components, strict=True)):
                return candidate, candidate_pce
        return None

    def issue(self, subject: PckSubject, tcb: Tcb, variant: str = "") -> IssuedPck:
        """The PCK certificate of ``subject`` at ``tcb``. ``variant`` ``expired`` gives an expired copy,
        ``no-sgx-extension`` one without the SGX extension (same key and serial)."""
        cache_key = (subject, tcb, variant)
        with self._lock:
            cached = self._issued.get(cache_key)
        if cached is not None:
            return cached
        components, pce_svn = tcb
        tcbm = (bytes(components) + struct.pack("<H", pce_svn)).hex()
        key_label = f"{subject.label}/pck/{subject.issuer.serial:x}/{tcbm}"
        key = derive_key(self.pki.seed, key_label)
        multi_package = subject.platform_instance_id is not None
        fields = SgxExtensionFields(
            ppid=subject.ppid,
            components=components,
            pce_svn=pce_svn,
            cpu_svn=bytes(components),
            pce_id=subject.pce_id,
            fmspc=subject.fmspc,
            sgx_type=int(subject.sgx_type),
            platform_instance_id=subject.platform_instance_id,
            dynamic_platform=True if multi_package else None,
            cached_keys=True if multi_package else None,
            smt_enabled=True if multi_package else None,
        )
        not_before, not_after = expired_validity(self.now) if variant == "expired" else (PCK_NOT_BEFORE, NOT_AFTER)
        cert = build_certificate(
            subject=intel_name(PCK_CN),
            public_key=key.public_key(),
            issuer_name=subject.issuer.name,
            issuer_key_id=subject.issuer.key_id,
            signing_key=subject.issuer.key,
            serial=serial_from(self.pki.seed, key_label),
            not_before=not_before,
            not_after=not_after,
            profile=CertificateProfile(ca=False, path_length=None, crl_url=pck_crl_url(pck_ca_kind(subject.issuer))),
            sgx_extension=None if variant == "no-sgx-extension" else sgx_extension(fields),
        )
        issued = IssuedPck(Authority(key, cert), components, pce_svn)
        with self._lock:
            return self._issued.setdefault(cache_key, issued)

    def all_levels(self, subject: PckSubject) -> list[IssuedPck]:
        """What PCS ``pckcerts`` returns: a certificate for every TCB level of the subject's FMSPC."""
        return [self.issue(subject, tcb) for tcb in self.candidates(subject.fmspc)]

    def quote_chain(
        self, pck: IssuedPck, issuer: Authority, defects: frozenset[QuoteDefect], rogue: Callable[[], Pki]
    ) -> bytes:
        """The PEM chain a quote embeds: PCK, its CA, root; or the broken chain a defect asks for (``rogue``
        gives the impostor PKI whose root key forges signatures)."""
        root, signer = self.pki.root, self.pki.tcb_signing
        if QuoteDefect.CHAIN_TRUNCATED in defects:
            return pem_chain(pck.authority, issuer)
        if QuoteDefect.CHAIN_WITHOUT_ROOT in defects:
            return pem_chain(pck.authority, issuer, issuer)
        if QuoteDefect.CHAIN_WITHOUT_INTERMEDIATE in defects:
            return pem_chain(pck.authority, root, signer)
        if QuoteDefect.CHAIN_WITHOUT_PCK in defects:
            return pem_chain(signer, issuer, root)
        if QuoteDefect.CHAIN_WITH_OTHER_CA in defects:
            return pem_chain(pck.authority, self.pki.other_intermediate(issuer), root)
        if QuoteDefect.FORGED_ROOT in defects:
            return pck.pem + issuer.pem + certificate_pem(reissue(root.certificate, rogue().root.key))
        if QuoteDefect.FORGED_INTERMEDIATE in defects:
            return pck.pem + certificate_pem(reissue(issuer.certificate, rogue().root.key)) + root.pem
        chain = (pck.authority, issuer, root)
        return _chain_lacking_extension(chain, defects) or pem_chain(*chain)


# Which certificate of the chain (PCK, CA, root) lacks which required X.509 extension, by defect.
_LACKING: dict[QuoteDefect, tuple[int, x509.ObjectIdentifier]] = {
    QuoteDefect.PCK_WITHOUT_BASIC_CONSTRAINTS: (0, ExtensionOID.BASIC_CONSTRAINTS),
    QuoteDefect.INTERMEDIATE_WITHOUT_SUBJECT_KEY_IDENTIFIER: (1, ExtensionOID.SUBJECT_KEY_IDENTIFIER),
    QuoteDefect.ROOT_WITHOUT_AUTHORITY_KEY_IDENTIFIER: (2, ExtensionOID.AUTHORITY_KEY_IDENTIFIER),
}


def _chain_lacking_extension(
    chain: tuple[Authority, Authority, Authority], defects: frozenset[QuoteDefect]
) -> bytes | None:
    """The PEM chain with one certificate lacking an extension (signed again by its own issuer), if a defect asks."""
    for defect, (position, oid) in _LACKING.items():
        if defect in defects:
            signer = chain[min(position + 1, len(chain) - 1)]  # the root signs itself
            stripped = without_extension(chain[position], signer, oid)
            return b"".join(stripped if i == position else cert.pem for i, cert in enumerate(chain))
    return None
