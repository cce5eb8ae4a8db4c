"""Is this document genuine under this root, and not older than what is held? The checks a collateral document
must pass before the cache, the PCCS or a provider stores or serves it.

Authenticity is time-independent: signatures and chains up to the pinned root (by key), revocation of the
signing CA by the root CA CRL, and that the document is the one asked for (FMSPC, TEE, enclave, CA,
PCE-ID, TCBm). Time only decides freshness: each admission returns ``valid_until`` from the document itself,
and its ``order`` (issue number, then issue date: both only grow) for the rollback check, ``older``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric import ec

from pydcap.collateral import EnclaveIdentity, TcbInfo
from pydcap.errors import FormatError, InvalidCollateralError, UnsupportedVersionError
from pydcap.intel.documents import EntryKey, EntryKind, PckCa, Tee
from pydcap.intel.outcomes import Failure
from pydcap.intel.tcb import Tcb
from pydcap.intel.time import iso
from pydcap.pki import Certificate, CertificateChain, PckCertificate, RevocationList, TrustRoot
from pydcap.trust.chains import (
    INTERMEDIATE_CN,
    PCK_CN,
    ROOT_CN,
    check_crl,
    check_pck_chain,
    check_root_certificate,
    check_signing_chain,
    parse_chain,
    parse_crl,
)
from pydcap.trust.errors import Refused
from pydcap.trust.memo import PkiMemo
from pydcap.trust.roots import require_root_key
from pydcap.trust.signatures import document_signed

D = TypeVar("D", TcbInfo, EnclaveIdentity)


@dataclass(frozen=True, order=True)
class IssueOrder:
    """Where a document stands among the issues of its kind: its number (CRL number, TCB evaluation data number),
    then its issue date (thisUpdate, issueDate; unix seconds). Both only grow from one issue to the next."""

    number: int
    issued: int

    def __str__(self) -> str:
        return f"issue {self.number} of {iso(self.issued)}"


def older(held: IssueOrder | None, new: IssueOrder | None) -> str | None:
    """Why a document at ``new`` is older than the one held at ``held``, or None when it is not (or either
    has no issue order: PCK certificates)."""
    if held is None or new is None or new >= held:
        return None
    return f"it is older than the one already cached ({new} < {held})"


@dataclass(frozen=True)
class Admission:
    """What verification learnt: until when the document is fresh, its issue order (None for a PCK certificate),
    and a few facts worth listing (as text: dates in ISO 8601, numbers in decimal, TCBm and FMSPC in hex)."""

    valid_until: int
    meta: dict[str, str]
    order: IssueOrder | None = field(default=None, compare=False)


def admit(
    key: EntryKey,
    data: bytes,
    issuer_chain: bytes,
    trust: TrustRoot,
    *,
    root_ca_crl: bytes | None = None,
    pck_crl: bytes | None = None,
    meta: Mapping[str, str] | None = None,
    memo: PkiMemo | None = None,
) -> Admission:
    """Verify one document for ``key``; raise ``Refused`` unless it is authentic. No I/O, no clock.

    Every kind but the root CA CRL needs the (already admitted) ``root_ca_crl``; a PCK certificate also
    needs the ``pck_crl`` of its CA (see ``pck_ca_of``) and may come with what its service said beside it
    (``meta``: ``tcbm``, ``fmspc``), which must match the certificate. ``memo`` remembers parsed certificates and
    signature checks across calls (keyed by exact bytes).
    """
    memo = memo if memo is not None else PkiMemo(trust=trust)
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
        return _pck_certificate(key, data, issuer_chain, trust, root_ca_crl, pck_crl, meta or {}, memo)
    except FormatError as exc:  # what the steps do not name themselves: a certificate or key that cannot be read
        raise Refused(Failure.UNSUPPORTED_CERT_FORMAT, str(exc)) from exc


def pck_ca_of(data: bytes) -> PckCa:
    """The CA of a fetched PCK certificate (to know which PCK CRL admits it); ``Refused`` when it is unreadable."""
    return PckCa(_pck_certificate_of(data).ca_type)


def _pck_certificate_of(pem: bytes) -> PckCertificate:
    try:
        certificate = Certificate.from_pem(pem)
    except FormatError as exc:
        raise Refused(Failure.UNSUPPORTED_CERT_FORMAT, f"PCK certificate: {exc}") from exc
    try:
        return PckCertificate.from_certificate(certificate)
    except FormatError as exc:
        raise Refused(Failure.SGX_PCK_INVALID_EXTENSIONS, f"PCK certificate: {exc}") from exc


def _document(parse: Callable[[bytes], D], data: bytes, what: str, names: tuple[Failure, Failure, Failure]) -> D:
    """A signed document parsed, or ``Refused`` with Intel's name for what is wrong with it: its format, its
    version or its content (the names the verifier gives the same defects)."""
    unsupported_format, unsupported_version, invalid = names
    try:
        return parse(data)
    except UnsupportedVersionError as exc:
        raise Refused(unsupported_version, f"{what}: {exc}") from exc
    except InvalidCollateralError as exc:
        raise Refused(invalid, f"{what}: {exc}") from exc
    except FormatError as exc:
        raise Refused(unsupported_format, f"{what}: {exc}") from exc


_TCB_INFO_FAILURES = (
    Failure.SGX_TCB_INFO_UNSUPPORTED_FORMAT,
    Failure.SGX_TCB_INFO_INVALID,
    Failure.SGX_TCB_INFO_INVALID,
)
_IDENTITY_FAILURES = (
    Failure.SGX_ENCLAVE_IDENTITY_UNSUPPORTED_FORMAT,
    Failure.SGX_ENCLAVE_IDENTITY_UNSUPPORTED_VERSION,
    Failure.SGX_ENCLAVE_IDENTITY_INVALID,
)


def _root_public_key(trust: TrustRoot) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), trust.public_key)


def _root_ca_crl(data: bytes, trust: TrustRoot, memo: PkiMemo) -> Admission:
    crl = parse_crl(data, "root CA CRL", memo)
    if ROOT_CN not in crl.issuer_cn:
        raise Refused(Failure.SGX_CRL_UNKNOWN_ISSUER, f"the root CA CRL is issued by {crl.issuer_cn!r}")
    if crl.crl_number is None or not crl.has_authority_key_identifier:
        raise Refused(Failure.SGX_CRL_INVALID_EXTENSIONS, "the root CA CRL lacks the CRL number or AKI")
    if not crl.x509.is_signature_valid(_root_public_key(trust)):  # signed by the trusted key itself
        raise Refused(
            Failure.SGX_CRL_INVALID_SIGNATURE, f"the root CA CRL is not signed by the trusted root ({trust.name})"
        )
    return Admission(crl.next_update, _crl_meta(crl), _crl_order(crl))


def _crl_order(crl: RevocationList) -> IssueOrder | None:
    return IssueOrder(crl.crl_number, crl.this_update) if crl.crl_number is not None else None


def _crl_meta(crl: RevocationList) -> dict[str, str]:
    return {
        "this_update": iso(crl.this_update),
        "next_update": iso(crl.next_update),
        "crl_number": str(crl.crl_number),
        "revoked": str(len(crl.x509)),
    }


def _trusted_root(chain: CertificateChain, trust: TrustRoot, what: str, memo: PkiMemo) -> Certificate:
    root = chain.root
    if root is None or ROOT_CN not in root.subject_cn:
        raise Refused(Failure.SGX_ROOT_CA_MISSING, f"{what} has no Intel SGX Root CA certificate")
    check_root_certificate(root, memo)
    require_root_key(root, trust, Failure.SGX_ROOT_CA_UNTRUSTED, what)
    return root


def _pck_crl(
    data: bytes, issuer_chain: bytes, ca: PckCa, trust: TrustRoot, root_ca_crl: bytes, memo: PkiMemo
) -> Admission:
    chain = parse_chain(issuer_chain, 2, "PCK CRL issuer chain", memo)
    root = _trusted_root(chain, trust, "the PCK CRL issuer chain", memo)
    issuer = chain.find(INTERMEDIATE_CN, self_issued=False)
    if issuer is None or ca.value.capitalize() not in issuer.subject_cn:
        raise Refused(Failure.SGX_INTERMEDIATE_CA_MISSING, f"the PCK CRL issuer chain has no PCK {ca.value} CA")
    if issuer.issuer_raw != root.subject_raw or not memo.signed_by(issuer, root):
        raise Refused(Failure.SGX_INTERMEDIATE_CA_INVALID_ISSUER, f"{issuer.subject_cn} is not signed by the root")
    root_crl = parse_crl(root_ca_crl, "root CA CRL", memo)
    check_crl(root_crl, root, "root CA CRL", memo)
    if root_crl.revokes(issuer):
        raise Refused(Failure.SGX_INTERMEDIATE_CA_REVOKED, f"{issuer.subject_cn} is revoked")
    crl = parse_crl(data, "PCK CRL", memo)
    check_crl(crl, issuer, "PCK CRL", memo)
    return Admission(min(crl.next_update, chain.earliest_not_after), _crl_meta(crl), _crl_order(crl))


def _tcb_info(
    data: bytes, issuer_chain: bytes, tee: Tee, fmspc: str, trust: TrustRoot, root_ca_crl: bytes, memo: PkiMemo
) -> Admission:
    info = _document(TcbInfo.parse, data, "TCB info", _TCB_INFO_FAILURES)
    signing = check_signing_chain(issuer_chain, root_ca_crl, trust, "TCB info", memo)
    if not document_signed(info.signed, signing.signer.public_key_bytes, memo.point_key):
        raise Refused(Failure.TCB_INFO_INVALID_SIGNATURE, "the TCB info signature does not verify")
    if info.fmspc.hex() != fmspc:
        raise Refused(Failure.TCB_INFO_MISMATCH, f"asked for FMSPC {fmspc}, got {info.fmspc.hex()}")
    if info.is_tdx != (tee is Tee.TDX):
        raise Refused(Failure.TCB_INFO_MISMATCH, f"asked for {tee.value.upper()} TCB info, got {info.id}")
    meta = {
        "issue_date": iso(info.issue_date),
        "next_update": iso(info.next_update),
        "tcb_evaluation_data_number": str(info.tcb_evaluation_data_number),
        "version": str(info.version),
    }
    order = IssueOrder(info.tcb_evaluation_data_number, info.issue_date)
    return Admission(min(info.next_update, signing.chain.earliest_not_after), meta, order)


def _identity(
    data: bytes, issuer_chain: bytes, expected: str, trust: TrustRoot, root_ca_crl: bytes, memo: PkiMemo
) -> Admission:
    identity = _document(EnclaveIdentity.parse, data, "enclave identity", _IDENTITY_FAILURES)
    signing = check_signing_chain(issuer_chain, root_ca_crl, trust, "enclave identity", memo)
    if not document_signed(identity.signed, signing.signer.public_key_bytes, memo.point_key):
        raise Refused(Failure.SGX_ENCLAVE_IDENTITY_INVALID_SIGNATURE, "the identity signature does not verify")
    if identity.id != expected:
        raise Refused(Failure.QE_IDENTITY_MISMATCH, f"asked for the {expected} identity, got {identity.id}")
    meta = {
        "issue_date": iso(identity.issue_date),
        "next_update": iso(identity.next_update),
        "tcb_evaluation_data_number": str(identity.tcb_evaluation_data_number),
    }
    order = IssueOrder(identity.tcb_evaluation_data_number, identity.issue_date)
    return Admission(min(identity.next_update, signing.chain.earliest_not_after), meta, order)


def _pck_certificate(
    key: EntryKey,
    data: bytes,
    issuer_chain: bytes,
    trust: TrustRoot,
    root_ca_crl: bytes,
    pck_crl: bytes,
    meta: Mapping[str, str],
    memo: PkiMemo,
) -> Admission:
    leaf = data if data.endswith(b"\n") else data + b"\n"
    checked = check_pck_chain(leaf + issuer_chain, root_ca_crl, pck_crl, trust, memo)
    pck = checked.pck
    if checked.chain.find(PCK_CN) is None or pck.der != Certificate.from_pem(data).der:
        raise Refused(Failure.SGX_PCK_MISSING, "the served certificate is not the chain's PCK certificate")
    certified = Tcb.from_raw(pck.sgx.tcb.cpu_svn, pck.sgx.tcb.pce_svn)
    platform = key.platform_id()
    if pck.pce_id.hex() != platform.pce_id_hex:
        raise Refused(Failure.PCK_CERT_MISMATCH, f"asked for PCE-ID {platform.pce_id_hex}, got {pck.pce_id.hex()}")
    said = meta.get("tcbm")
    if said is not None and _tcb_of(said) != certified:
        raise Refused(Failure.PCK_CERT_MISMATCH, f"SGX-TCBm {said} is not the certificate's {certified.tcbm.lower()}")
    if meta.get("fmspc", pck.fmspc.hex()) != pck.fmspc.hex():
        raise Refused(Failure.PCK_CERT_MISMATCH, f"SGX-FMSPC {meta['fmspc']} is not the certificate's")
    facts = {
        "tcbm": certified.tcbm.lower(),
        "fmspc": pck.fmspc.hex(),
        "ca_type": pck.ca_type,
        "not_after": iso(checked.chain.earliest_not_after),
    }
    return Admission(checked.chain.earliest_not_after, facts)


def pck_chain_leaf(pem_chain: bytes, trust: TrustRoot, memo: PkiMemo | None = None) -> PckCertificate:
    """The PCK certificate of a chain (leaf, PCK CA, root) whose signatures verify up to the trusted root; ``Refused``
    otherwise. Revocation is not checked: this is for a chain that comes without CRLs (a local cache file)."""
    memo = memo if memo is not None else PkiMemo(trust=trust)
    try:
        chain = parse_chain(pem_chain, 3, "PCK certificate chain", memo)
        root, intermediate, leaf = chain.root, chain.find(INTERMEDIATE_CN, self_issued=False), chain.find(PCK_CN)
        if root is None or ROOT_CN not in root.subject_cn:
            raise Refused(Failure.SGX_ROOT_CA_MISSING, "the PCK chain has no Intel SGX Root CA certificate")
        if intermediate is None or leaf is None:
            raise Refused(Failure.SGX_INTERMEDIATE_CA_MISSING, "the PCK chain lacks its PCK CA or PCK certificate")
        check_root_certificate(root, memo)
        require_root_key(root, trust, Failure.SGX_PCK_CERT_CHAIN_UNTRUSTED, "the PCK chain")
        if intermediate.issuer_raw != root.subject_raw or not memo.signed_by(intermediate, root):
            raise Refused(
                Failure.SGX_INTERMEDIATE_CA_INVALID_ISSUER, f"{intermediate.subject_cn} is not signed by the root"
            )
        if leaf.issuer_raw != intermediate.subject_raw or not memo.signed_by(leaf, intermediate):
            raise Refused(
                Failure.SGX_PCK_INVALID_ISSUER, f"the PCK certificate is not signed by {intermediate.subject_cn}"
            )
        return PckCertificate.from_certificate(leaf)
    except FormatError as exc:
        raise Refused(Failure.SGX_PCK_INVALID_EXTENSIONS, str(exc)) from exc


def _tcb_of(tcbm: str) -> Tcb | None:
    try:
        return Tcb.from_tcbm(tcbm)
    except FormatError:
        return None
