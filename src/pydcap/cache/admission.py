"""Verify before store: the checks a document must pass before it enters (or is served from) the cache.

Authenticity is time-independent: signatures and chains up to the pinned root (by key), revocation of the
signing CA by the root CA CRL, and that the document is the one asked for (FMSPC, TEE, enclave, CA,
PCE-ID). Time only decides freshness: each admission returns ``valid_until`` from the document itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import ec

from pydcap.cache.errors import UntrustedCollateralError
from pydcap.cache.keys import EntryKey, EntryKind
from pydcap.collateral import EnclaveIdentity, TcbInfo
from pydcap.errors import FormatError
from pydcap.pki import Certificate, CertificateChain, PckCertificate, RevocationList, TrustRoot
from pydcap.sources.models import PckCa, Tee
from pydcap.verify.chains import (
    INTERMEDIATE_CN,
    PCK_CN,
    ROOT_CN,
    CheckFailed,
    check_crl,
    check_pck_chain,
    check_root_certificate,
    check_signing_chain,
    parse_chain,
    parse_crl,
)
from pydcap.verify.memo import PkiMemo
from pydcap.verify.names import Failure
from pydcap.verify.signatures import document_signature_ok


@dataclass(frozen=True)
class Admission:
    """What verification learnt: until when the document is fresh, and a few facts worth listing."""

    valid_until: int
    meta: dict[str, str]


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _refuse(key: EntryKey, source: str, exc: Exception) -> UntrustedCollateralError:
    failure = exc.failure if isinstance(exc, CheckFailed) else None
    reason = exc.detail if isinstance(exc, CheckFailed) else str(exc)
    return UntrustedCollateralError(key, reason, source=source, failure=failure)


def admit(
    key: EntryKey,
    data: bytes,
    issuer_chain: bytes,
    trust: TrustRoot,
    *,
    root_ca_crl: bytes | None = None,
    pck_crl: bytes | None = None,
    meta: dict[str, str] | None = None,
    source: str = "",
    memo: PkiMemo | None = None,
) -> Admission:
    """Verify one document for ``key``; raise ``UntrustedCollateralError`` unless it is authentic.

    Every kind but the root CA CRL needs the (already admitted) ``root_ca_crl``; a PCK certificate also
    needs the ``pck_crl`` of its CA (see ``pck_ca_of``). ``memo`` remembers parsed certificates and
    signature checks across calls (keyed by exact bytes).
    """
    memo = memo if memo is not None else PkiMemo()
    try:
        if key.kind is EntryKind.ROOT_CA_CRL:
            return _root_ca_crl(data, trust, memo)
        if root_ca_crl is None:
            raise ValueError(f"admitting the {key.description} needs the root CA CRL")
        if key.kind is EntryKind.PCK_CRL:
            assert key.ca is not None
            return _pck_crl(data, issuer_chain, key.ca, trust, root_ca_crl, memo)
        if key.kind is EntryKind.TCB_INFO:
            assert key.tee is not None and key.fmspc is not None
            return _tcb_info(data, issuer_chain, key.tee, key.fmspc, trust, root_ca_crl, memo)
        if key.kind in (EntryKind.QE_IDENTITY, EntryKind.QVE_IDENTITY):
            expected = "QVE" if key.kind is EntryKind.QVE_IDENTITY else "TD_QE" if key.tee is Tee.TDX else "QE"
            return _identity(data, issuer_chain, expected, trust, root_ca_crl, memo)
        if pck_crl is None:
            raise ValueError(f"admitting the {key.description} needs the PCK CRL of its CA")
        return _pck_certificate(key, data, issuer_chain, trust, root_ca_crl, pck_crl, dict(meta or {}), memo)
    except (CheckFailed, FormatError) as exc:
        raise _refuse(key, source, exc) from exc


def pck_ca_of(key: EntryKey, data: bytes, source: str = "") -> PckCa:
    """The CA of a fetched PCK certificate (to know which PCK CRL admits it)."""
    try:
        return PckCa(PckCertificate.from_certificate(Certificate.from_pem(data)).ca_type)
    except FormatError as exc:
        raise _refuse(key, source, exc) from exc


def _root_public_key(trust: TrustRoot) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), trust.public_key)


def _root_ca_crl(data: bytes, trust: TrustRoot, memo: PkiMemo) -> Admission:
    crl = parse_crl(data, "root CA CRL", memo)
    if ROOT_CN not in crl.issuer_cn:
        raise CheckFailed(Failure.SGX_CRL_UNKNOWN_ISSUER, f"the root CA CRL is issued by {crl.issuer_cn!r}")
    if crl.crl_number is None or not crl.has_authority_key_identifier:
        raise CheckFailed(Failure.SGX_CRL_INVALID_EXTENSIONS, "the root CA CRL lacks the CRL number or AKI")
    if not crl.x509.is_signature_valid(_root_public_key(trust)):
        raise CheckFailed(
            Failure.SGX_CRL_INVALID_SIGNATURE, f"the root CA CRL is not signed by the trusted root ({trust.name})"
        )
    return Admission(crl.next_update, _crl_meta(crl))


def _crl_meta(crl: RevocationList) -> dict[str, str]:
    return {
        "this_update": _iso(crl.this_update),
        "next_update": _iso(crl.next_update),
        "crl_number": str(crl.crl_number),
        "revoked": str(len(crl.x509)),
    }


def _trusted_root(chain: CertificateChain, trust: TrustRoot, what: str, memo: PkiMemo) -> Certificate:
    root = chain.root
    if root is None or ROOT_CN not in root.subject_cn:
        raise CheckFailed(Failure.SGX_ROOT_CA_MISSING, f"{what} has no Intel SGX Root CA certificate")
    check_root_certificate(root, memo)
    if root.public_key_bytes != trust.public_key:
        raise CheckFailed(Failure.SGX_ROOT_CA_UNTRUSTED, f"{what} does not end in the trusted root ({trust.name})")
    return root


def _pck_crl(
    data: bytes, issuer_chain: bytes, ca: PckCa, trust: TrustRoot, root_ca_crl: bytes, memo: PkiMemo
) -> Admission:
    chain = parse_chain(issuer_chain, 2, "PCK CRL issuer chain", memo)
    root = _trusted_root(chain, trust, "the PCK CRL issuer chain", memo)
    issuer = chain.find(INTERMEDIATE_CN, self_issued=False)
    if issuer is None or ca.value.capitalize() not in issuer.subject_cn:
        raise CheckFailed(Failure.SGX_INTERMEDIATE_CA_MISSING, f"the PCK CRL issuer chain has no PCK {ca.value} CA")
    if issuer.issuer_raw != root.subject_raw or not memo.signed_by(issuer, root):
        raise CheckFailed(Failure.SGX_INTERMEDIATE_CA_INVALID_ISSUER, f"{issuer.subject_cn} is not signed by the root")
    root_crl = parse_crl(root_ca_crl, "root CA CRL", memo)
    check_crl(root_crl, root, "root CA CRL", memo)
    if root_crl.revokes(issuer):
        raise CheckFailed(Failure.SGX_INTERMEDIATE_CA_REVOKED, f"{issuer.subject_cn} is revoked")
    crl = parse_crl(data, "PCK CRL", memo)
    check_crl(crl, issuer, "PCK CRL", memo)
    return Admission(min(crl.next_update, chain.earliest_not_after), _crl_meta(crl))


def _tcb_info(
    data: bytes, issuer_chain: bytes, tee: Tee, fmspc: str, trust: TrustRoot, root_ca_crl: bytes, memo: PkiMemo
) -> Admission:
    info = TcbInfo.parse(data)
    signing = check_signing_chain(issuer_chain, root_ca_crl, trust, "TCB info", memo)
    if not document_signature_ok(info.signed, signing.signer.public_key):
        raise CheckFailed(Failure.TCB_INFO_INVALID_SIGNATURE, "the TCB info signature does not verify")
    if info.fmspc.hex() != fmspc:
        raise CheckFailed(Failure.TCB_INFO_MISMATCH, f"asked for FMSPC {fmspc}, got {info.fmspc.hex()}")
    if info.is_tdx != (tee is Tee.TDX):
        raise CheckFailed(Failure.TCB_INFO_MISMATCH, f"asked for {tee.value.upper()} TCB info, got {info.id}")
    meta = {
        "issue_date": _iso(info.issue_date),
        "next_update": _iso(info.next_update),
        "tcb_evaluation_data_number": str(info.tcb_evaluation_data_number),
        "version": str(info.version),
    }
    return Admission(min(info.next_update, signing.chain.earliest_not_after), meta)


def _identity(
    data: bytes, issuer_chain: bytes, expected: str, trust: TrustRoot, root_ca_crl: bytes, memo: PkiMemo
) -> Admission:
    identity = EnclaveIdentity.parse(data)
    signing = check_signing_chain(issuer_chain, root_ca_crl, trust, "enclave identity", memo)
    if not document_signature_ok(identity.signed, signing.signer.public_key):
        raise CheckFailed(Failure.SGX_ENCLAVE_IDENTITY_INVALID_SIGNATURE, "the identity signature does not verify")
    if identity.id != expected:
        raise CheckFailed(Failure.QE_IDENTITY_MISMATCH, f"asked for the {expected} identity, got {identity.id}")
    meta = {
        "issue_date": _iso(identity.issue_date),
        "next_update": _iso(identity.next_update),
        "tcb_evaluation_data_number": str(identity.tcb_evaluation_data_number),
    }
    return Admission(min(identity.next_update, signing.chain.earliest_not_after), meta)


def _pck_certificate(
    key: EntryKey,
    data: bytes,
    issuer_chain: bytes,
    trust: TrustRoot,
    root_ca_crl: bytes,
    pck_crl: bytes,
    meta: dict[str, str],
    memo: PkiMemo,
) -> Admission:
    leaf = data if data.endswith(b"\n") else data + b"\n"
    checked = check_pck_chain(leaf + issuer_chain, root_ca_crl, pck_crl, trust, memo)
    pck = checked.pck
    if checked.chain.find(PCK_CN) is None or pck.der != Certificate.from_pem(data).der:
        raise CheckFailed(Failure.SGX_PCK_MISSING, "the served certificate is not the chain's PCK certificate")
    tcb = pck.sgx.tcb
    leaf_tcbm = (tcb.cpu_svn + tcb.pce_svn.to_bytes(2, "little")).hex()
    platform = key.platform_id()
    if pck.pce_id.hex() != platform.pce_id_hex:
        raise CheckFailed(Failure.PCK_CERT_MISMATCH, f"asked for PCE-ID {platform.pce_id_hex}, got {pck.pce_id.hex()}")
    if meta.get("tcbm", leaf_tcbm) != leaf_tcbm:
        raise CheckFailed(Failure.PCK_CERT_MISMATCH, f"SGX-TCBm {meta['tcbm']} is not the certificate's {leaf_tcbm}")
    if meta.get("fmspc", pck.fmspc.hex()) != pck.fmspc.hex():
        raise CheckFailed(Failure.PCK_CERT_MISMATCH, f"SGX-FMSPC {meta['fmspc']} is not the certificate's")
    facts = {
        "tcbm": leaf_tcbm,
        "fmspc": pck.fmspc.hex(),
        "ca_type": pck.ca_type,
        "not_after": _iso(checked.chain.earliest_not_after),
    }
    return Admission(checked.chain.earliest_not_after, facts)
