"""Assembling the collateral of one platform: the simulated Intel's current CRLs, chains and documents, with
the platform's collateral defects applied (each defect replaces one or two parts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from cryptography.x509.oid import ExtensionOID

from pydcap.collateral.bundle import Collateral
from pydcap.sim.catalog import Catalog
from pydcap.sim.defects import CollateralDefect
from pydcap.sim.defects import CollateralDefect as D
from pydcap.sim.pki import (
    DAY,
    Authority,
    Pki,
    certificate_pem,
    expired_validity,
    pck_ca_kind,
    pem_chain,
    reissue,
    without_extension,
)
from pydcap.sim.platform import SimulatedPlatform
from pydcap.sim.publisher import DOCUMENT_LIFETIME, DocumentPublisher
from pydcap.sim.revocation import PCK_CRL_LIFETIME, ROOT_CRL_LIFETIME


class Publisher(Protocol):
    """What assembling collateral reads of the simulated Intel (a ``SimulatedIntel``)."""

    now: int
    pki: Pki
    documents: DocumentPublisher

    @property
    def catalog(self) -> Catalog: ...
    @property
    def signing_chain(self) -> bytes: ...
    def impostor(self) -> Publisher: ...
    def crl(self, issuer: Authority, **kwargs: Any) -> bytes: ...
    def root_ca_crl(self) -> bytes: ...
    def tcb_info(self, fmspc: bytes | str, tee: str = "sgx", *, evaluation: int | None = None) -> bytes: ...
    def enclave_identity(self, enclave_id: str = "QE", *, evaluation: int | None = None) -> bytes: ...


@dataclass(frozen=True)
class CollateralTarget:
    """What collateral is assembled for: a platform this Intel certified, or what a foreign quote says."""

    tee: str
    fmspc: bytes
    issuer: Authority
    platform: SimulatedPlatform | None = None

    @property
    def defects(self) -> frozenset[CollateralDefect]:
        return self.platform.collateral_defects if self.platform is not None else frozenset()

    @property
    def update(self) -> str:
        return "standard" if self.platform is None else self.platform.collateral_update


UNREADABLE_CRL = bytes.fromhex("3003020101")  # DER, but a SEQUENCE holding one INTEGER is no CRL


@dataclass
class Parts:
    """The seven collateral parts, as bytes, while defects are applied."""

    pck_crl: bytes
    pck_crl_issuer_chain: bytes
    root_ca_crl: bytes
    tcb_info: bytes
    tcb_info_issuer_chain: bytes
    qe_identity: bytes
    qe_identity_issuer_chain: bytes


@dataclass(frozen=True)
class _Context:
    intel: Publisher
    target: CollateralTarget
    number: int

    @property
    def enclave(self) -> str:
        return "TD_QE" if self.target.tee == "tdx" else "QE"

    def tcb_body(self, **kwargs: Any) -> dict[str, Any]:
        return self.intel.documents.tcb_info_body(self.target.fmspc, self.target.tee, number=self.number, **kwargs)

    def identity_body(self, **kwargs: Any) -> dict[str, Any]:
        return self.intel.documents.enclave_identity_body(self.enclave, number=self.number, **kwargs)

    def expired(self, lifetime: int) -> tuple[int, int]:
        """Issue and expiry dates of a document or CRL of ``lifetime`` seconds that expired a day ago."""
        return self.intel.now - DAY - lifetime, self.intel.now - DAY

    def expired_document_dates(self) -> dict[str, int]:
        issued, expired = self.expired(DOCUMENT_LIFETIME)
        return {"issue_date": issued, "next_update": expired}


def assemble(intel: Publisher, target: CollateralTarget, number: int) -> Collateral:
    """The collateral for ``target`` at evaluation ``number``, defects applied in a fixed order."""
    ctx = _Context(intel, target, number)
    parts = Parts(
        pck_crl=intel.crl(target.issuer),
        pck_crl_issuer_chain=pem_chain(target.issuer, intel.pki.root),
        root_ca_crl=intel.root_ca_crl(),
        tcb_info=intel.tcb_info(target.fmspc, target.tee, evaluation=number),
        tcb_info_issuer_chain=intel.signing_chain,
        qe_identity=intel.enclave_identity(ctx.enclave, evaluation=number),
        qe_identity_issuer_chain=intel.signing_chain,
    )
    for defect in D:
        if defect in target.defects:
            _APPLY[defect](ctx, parts)
    return Collateral.create(**asdict(parts))


def _crl_from_other_ca(ctx: _Context, parts: Parts) -> None:
    other = ctx.intel.pki.other_intermediate(ctx.target.issuer)
    parts.pck_crl = ctx.intel.crl(other)
    parts.pck_crl_issuer_chain = pem_chain(other, ctx.intel.pki.root)


def _crl_without_extensions(ctx: _Context, parts: Parts) -> None:
    parts.pck_crl = ctx.intel.crl(ctx.target.issuer, extensions=False)


def _crl_without_aki(ctx: _Context, parts: Parts) -> None:
    parts.pck_crl = ctx.intel.crl(ctx.target.issuer, authority_key_identifier=False)


def _crl_forged(ctx: _Context, parts: Parts) -> None:
    forger = ctx.intel.impostor().pki.intermediate(pck_ca_kind(ctx.target.issuer))
    parts.pck_crl = ctx.intel.crl(ctx.target.issuer, signer=forger)


def _crl_unreadable(ctx: _Context, parts: Parts) -> None:
    parts.pck_crl = UNREADABLE_CRL


def _crl_expired(ctx: _Context, parts: Parts) -> None:
    issued, expired = ctx.expired(PCK_CRL_LIFETIME)
    parts.pck_crl = ctx.intel.crl(ctx.target.issuer, this_update=issued, next_update=expired)


def _crl_not_yet_valid(ctx: _Context, parts: Parts) -> None:
    now = ctx.intel.now
    parts.pck_crl = ctx.intel.crl(ctx.target.issuer, this_update=now + 2 * DAY, next_update=now + 32 * DAY)


def _root_crl_expired(ctx: _Context, parts: Parts) -> None:
    issued, expired = ctx.expired(ROOT_CRL_LIFETIME)
    parts.root_ca_crl = ctx.intel.crl(ctx.intel.pki.root, this_update=issued, next_update=expired)


def _signed_tcb(ctx: _Context, body: dict[str, Any], signer: Authority | None = None) -> bytes:
    return ctx.intel.documents.sign("tcbInfo", body, signer)


def _tcb_version_2(ctx: _Context, parts: Parts) -> None:
    body = ctx.intel.documents.tcb_info_body(ctx.target.fmspc, "sgx", number=ctx.number, version=2)
    parts.tcb_info = _signed_tcb(ctx, body)


def _tcb_unsupported_version(ctx: _Context, parts: Parts) -> None:
    parts.tcb_info = _signed_tcb(ctx, {**ctx.tcb_body(), "version": 4})


def _tcb_missing_field(ctx: _Context, parts: Parts) -> None:
    parts.tcb_info = _signed_tcb(ctx, {k: v for k, v in ctx.tcb_body().items() if k != "pceId"})


def _tcb_duplicate_levels(ctx: _Context, parts: Parts) -> None:
    body = ctx.tcb_body()
    body["tcbLevels"] = [*body["tcbLevels"], body["tcbLevels"][0]]
    parts.tcb_info = _signed_tcb(ctx, body)


def _tcb_forged(ctx: _Context, parts: Parts) -> None:
    parts.tcb_info = _signed_tcb(ctx, ctx.tcb_body(), ctx.intel.impostor().pki.tcb_signing)


def _tcb_chain_without_signer(ctx: _Context, parts: Parts) -> None:
    parts.tcb_info_issuer_chain = pem_chain(ctx.intel.pki.processor_ca, ctx.intel.pki.root)


def _tcb_expired(ctx: _Context, parts: Parts) -> None:
    parts.tcb_info = _signed_tcb(ctx, ctx.tcb_body(**ctx.expired_document_dates()))


def _tcb_other_fmspc(ctx: _Context, parts: Parts) -> None:
    tdx = ctx.target.tee == "tdx"
    others = [
        e.fmspc
        for e in sorted(ctx.intel.catalog.fmspcs.values(), key=lambda e: e.fmspc)
        if e.fmspc != ctx.target.fmspc and (e.has_tdx or not tdx) and ctx.number in e.tcb
    ]
    if not others:
        raise LookupError("the catalog has no other FMSPC for this TEE")
    parts.tcb_info = ctx.intel.tcb_info(others[0], ctx.target.tee, evaluation=ctx.number)


def _tcb_other_pce_id(ctx: _Context, parts: Parts) -> None:
    body = ctx.tcb_body()
    body["pceId"] = "0100" if body["pceId"] != "0100" else "0000"
    parts.tcb_info = _signed_tcb(ctx, body)


def _tcb_other_tee(ctx: _Context, parts: Parts) -> None:
    if ctx.target.tee == "tdx":
        parts.tcb_info = ctx.intel.tcb_info(ctx.target.fmspc, "sgx", evaluation=ctx.number)
        return
    entry = ctx.intel.catalog.entry(ctx.target.fmspc)
    fmspc = ctx.target.fmspc if entry is not None and entry.has_tdx else ctx.intel.catalog.default_fmspc["tdx"]
    parts.tcb_info = ctx.intel.tcb_info(fmspc, "tdx", evaluation=ctx.number)


def _signer_forged(ctx: _Context, parts: Parts) -> None:
    pki = ctx.intel.pki
    forged = reissue(pki.tcb_signing.certificate, ctx.intel.impostor().pki.root.key)
    parts.tcb_info_issuer_chain = certificate_pem(forged) + pki.root.pem


def _signer_retired(ctx: _Context, parts: Parts) -> None:
    retired = ctx.intel.pki.retired_tcb_signing
    parts.tcb_info = _signed_tcb(ctx, ctx.tcb_body(), retired)
    parts.tcb_info_issuer_chain = pem_chain(retired, ctx.intel.pki.root)


def _signer_expired(ctx: _Context, parts: Parts) -> None:
    pki = ctx.intel.pki
    not_before, not_after = expired_validity(ctx.intel.now)
    expired = reissue(pki.tcb_signing.certificate, pki.root.key, not_before=not_before, not_after=not_after)
    chain = certificate_pem(expired) + pki.root.pem
    parts.tcb_info_issuer_chain = chain
    parts.qe_identity_issuer_chain = chain


def _signer_without_key_usage(ctx: _Context, parts: Parts) -> None:
    pki = ctx.intel.pki
    parts.tcb_info_issuer_chain = without_extension(pki.tcb_signing, pki.root, ExtensionOID.KEY_USAGE) + pki.root.pem


def _identity_chain_root_without_crl_distribution_points(ctx: _Context, parts: Parts) -> None:
    pki = ctx.intel.pki
    stripped_root = without_extension(pki.root, pki.root, ExtensionOID.CRL_DISTRIBUTION_POINTS)
    parts.qe_identity_issuer_chain = pki.tcb_signing.pem + stripped_root


def _signed_identity(ctx: _Context, body: dict[str, Any], signer: Authority | None = None) -> bytes:
    return ctx.intel.documents.sign("enclaveIdentity", body, signer)


def _identity_missing_field(ctx: _Context, parts: Parts) -> None:
    body = ctx.identity_body()
    del body["mrsigner"]
    parts.qe_identity = _signed_identity(ctx, body)


def _identity_level_missing_field(ctx: _Context, parts: Parts) -> None:
    body = ctx.identity_body()
    body["tcbLevels"] = [{k: v for k, v in level.items() if k != "tcbDate"} for level in body["tcbLevels"]]
    parts.qe_identity = _signed_identity(ctx, body)


def _identity_invalid_status(ctx: _Context, parts: Parts) -> None:
    body = ctx.identity_body()
    level = {"tcb": {"isvsvn": 0}, "tcbDate": "2018-01-04T00:00:00Z", "tcbStatus": "ConfigurationNeeded"}
    body["tcbLevels"] = [*body["tcbLevels"], level]
    parts.qe_identity = _signed_identity(ctx, body)


def _identity_version_3(ctx: _Context, parts: Parts) -> None:
    parts.qe_identity = _signed_identity(ctx, {**ctx.identity_body(), "version": 3})


def _identity_forged(ctx: _Context, parts: Parts) -> None:
    parts.qe_identity = _signed_identity(ctx, ctx.identity_body(), ctx.intel.impostor().pki.tcb_signing)


def _identity_other_enclave(ctx: _Context, parts: Parts) -> None:
    other = "QE" if ctx.enclave == "TD_QE" else "TD_QE"
    parts.qe_identity = ctx.intel.enclave_identity(other, evaluation=ctx.number)


def _identity_expired(ctx: _Context, parts: Parts) -> None:
    parts.qe_identity = _signed_identity(ctx, ctx.identity_body(**ctx.expired_document_dates()))


_APPLY: dict[D, Callable[[_Context, Parts], None]] = {
    D.PCK_CRL_FROM_OTHER_CA: _crl_from_other_ca,
    D.PCK_CRL_WITHOUT_EXTENSIONS: _crl_without_extensions,
    D.PCK_CRL_WITHOUT_AKI: _crl_without_aki,
    D.PCK_CRL_FORGED: _crl_forged,
    D.PCK_CRL_UNREADABLE: _crl_unreadable,
    D.PCK_CRL_EXPIRED: _crl_expired,
    D.PCK_CRL_NOT_YET_VALID: _crl_not_yet_valid,
    D.ROOT_CA_CRL_EXPIRED: _root_crl_expired,
    D.TCB_INFO_VERSION_2: _tcb_version_2,
    D.TCB_INFO_UNSUPPORTED_VERSION: _tcb_unsupported_version,
    D.TCB_INFO_MISSING_FIELD: _tcb_missing_field,
    D.TCB_INFO_DUPLICATE_LEVELS: _tcb_duplicate_levels,
    D.TCB_INFO_FORGED: _tcb_forged,
    D.TCB_INFO_CHAIN_WITHOUT_SIGNER: _tcb_chain_without_signer,
    D.TCB_INFO_EXPIRED: _tcb_expired,
    D.TCB_INFO_OTHER_FMSPC: _tcb_other_fmspc,
    D.TCB_INFO_OTHER_PCE_ID: _tcb_other_pce_id,
    D.TCB_INFO_OTHER_TEE: _tcb_other_tee,
    D.TCB_SIGNING_CERT_FORGED: _signer_forged,
    D.TCB_SIGNING_CERT_RETIRED: _signer_retired,
    D.TCB_SIGNING_CERT_EXPIRED: _signer_expired,
    D.TCB_SIGNING_CERT_WITHOUT_KEY_USAGE: _signer_without_key_usage,
    D.QE_IDENTITY_CHAIN_ROOT_WITHOUT_CRL_DISTRIBUTION_POINTS: _identity_chain_root_without_crl_distribution_points,
    D.QE_IDENTITY_MISSING_FIELD: _identity_missing_field,
    D.QE_IDENTITY_LEVEL_MISSING_FIELD: _identity_level_missing_field,
    D.QE_IDENTITY_INVALID_STATUS: _identity_invalid_status,
    D.QE_IDENTITY_VERSION_3: _identity_version_3,
    D.QE_IDENTITY_FORGED: _identity_forged,
    D.QE_IDENTITY_OTHER_ENCLAVE: _identity_other_enclave,
    D.QE_IDENTITY_EXPIRED: _identity_expired,
}
