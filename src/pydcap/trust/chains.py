"""Certificate-chain and CRL checks, in the order Intel's library makes them.

Each check returns, or raises ``Refused`` with Intel's name for what failed. Time is not an input: expiry is
collected as dates and judged later, because Intel's verification enclave reports it as a flag rather than a
failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydcap.errors import CertificateExtensionError, CertificateFormatError
from pydcap.intel.outcomes import Failure
from pydcap.pki.certs import Certificate, CertificateChain
from pydcap.pki.crl import RevocationList
from pydcap.pki.pck import PckCertificate
from pydcap.pki.trust import TrustRoot
from pydcap.trust.errors import Refused
from pydcap.trust.memo import PkiMemo
from pydcap.trust.roots import require_root_key

ROOT_CN = "SGX Root CA"
INTERMEDIATE_CN = "CA"
PCK_CN = "SGX PCK Certificate"
TCB_SIGNING_CN = "SGX TCB Signing"


def extension_failure(position: int, length: int) -> Failure:
    """Intel's guess, from its position alone, at which certificate lacks required extensions (its chain parser
    cannot tell): the first is taken for the root; the second for the TCB Signing certificate in a chain of two,
    else for the intermediate CA; any later one for the PCK certificate. Chains run leaf first, so a PCK or TCB
    Signing certificate without them is reported as the root, and the root of a PCK chain as the PCK."""
    if position == 0:
        return Failure.SGX_ROOT_CA_INVALID_EXTENSIONS
    if position == 1:
        if length == 2:
            return Failure.SGX_TCB_SIGNING_CERT_INVALID_EXTENSIONS
        return Failure.SGX_INTERMEDIATE_CA_INVALID_EXTENSIONS
    return Failure.SGX_PCK_INVALID_EXTENSIONS


def read_chain(pem: bytes, what: str, memo: PkiMemo, *, remember: bool = True) -> CertificateChain:
    """A chain as Intel's ``CertificateChain::parse`` reads it: the first certificate, in the chain's order, that is
    unreadable or lacks a required extension decides the failure. With ``remember``, ``memo`` keeps the chain (a
    quote's chain is not kept: only its CA certificates are)."""
    try:
        return memo.chain(pem) if remember else memo.read_chain(pem)
    except CertificateExtensionError as exc:
        raise Refused(extension_failure(exc.position, exc.length), f"{what}: {exc}") from exc
    except CertificateFormatError as exc:
        raise Refused(Failure.UNSUPPORTED_CERT_FORMAT, f"{what}: {exc}") from exc


def parse_chain(
    pem: bytes, expected_length: int, what: str, memo: PkiMemo, *, remember: bool = True
) -> CertificateChain:
    chain = read_chain(pem, what, memo, remember=remember)
    if len(chain) != expected_length:
        raise Refused(
            Failure.UNSUPPORTED_CERT_FORMAT,
            f"{what} has {len(chain)} readable certificates, expected {expected_length}",
        )
    return chain


def parse_crl(data: bytes, what: str, memo: PkiMemo) -> RevocationList:
    try:
        crl = memo.crl(data)
    except CertificateFormatError as exc:
        raise Refused(Failure.SGX_CRL_UNSUPPORTED_FORMAT, f"{what}: {exc}") from exc
    if crl.crl_number is None:  # Intel's CRL parser reads the number with the rest: without it, unreadable
        raise Refused(Failure.SGX_CRL_UNSUPPORTED_FORMAT, f"{what} has no CRL number")
    return crl


def check_root_certificate(root: Certificate, memo: PkiMemo) -> None:
    if not memo.self_signed(root):
        raise Refused(Failure.SGX_ROOT_CA_INVALID_ISSUER, "root CA certificate is not validly self-signed")


def check_crl(crl: RevocationList, issuer: Certificate, what: str, memo: PkiMemo) -> None:
    """Intel's CRL check: issuer name, AKI extension, signature (the CRL number was required when parsing)."""
    if crl.issuer_raw != issuer.subject_raw:
        raise Refused(
            Failure.SGX_CRL_UNKNOWN_ISSUER,
            f"{what} is issued by {crl.issuer_cn!r}, not by {issuer.subject_cn!r}",
        )
    if not crl.has_authority_key_identifier:
        raise Refused(Failure.SGX_CRL_INVALID_EXTENSIONS, f"{what} lacks the authority key identifier extension")
    if not memo.crl_signed_by(crl, issuer):
        raise Refused(Failure.SGX_CRL_INVALID_SIGNATURE, f"{what} signature does not verify")


@dataclass(frozen=True)
class PckChain:
    """A PCK chain that passed every time-independent check, with what later steps need."""

    chain: CertificateChain
    root: Certificate
    intermediate: Certificate
    pck: PckCertificate
    root_ca_crl: RevocationList
    pck_crl: RevocationList


def trusted_pck_chain(pem: bytes, trust: TrustRoot, memo: PkiMemo) -> tuple[CertificateChain, PckCertificate | None]:
    """The PCK chain as Intel's API reads it before any other check of it: three readable certificates, each with
    its required extensions, every one named as a PCK certificate a readable PCK certificate, a self-issued root,
    and that root's key the trusted key. Returns the chain and its PCK certificate (the last so named, as
    Intel's chain keeps it)."""
    chain = parse_chain(pem, 3, "PCK certificate chain", memo, remember=False)
    pck = None
    for cert in chain.certificates:
        if PCK_CN in cert.subject_cn:
            try:
                pck = PckCertificate.from_certificate(cert)
            except CertificateFormatError as exc:
                raise Refused(Failure.SGX_PCK_INVALID_EXTENSIONS, str(exc)) from exc
    if chain.root is None:
        raise Refused(Failure.SGX_ROOT_CA_MISSING, "PCK chain has no self-issued root certificate")
    require_root_key(chain.root, trust, Failure.SGX_PCK_CERT_CHAIN_UNTRUSTED, "PCK chain")
    return chain, pck


def check_pck_certificates(
    chain: CertificateChain, pck: PckCertificate | None, memo: PkiMemo
) -> tuple[Certificate, Certificate, PckCertificate]:
    """The QVL's checks of a PCK chain that ``trusted_pck_chain`` read: names, then signatures. Returns the root,
    the intermediate CA and the PCK certificate."""
    root = chain.root
    if root is None or ROOT_CN not in root.subject_cn:
        raise Refused(Failure.SGX_ROOT_CA_MISSING, "PCK chain has no Intel SGX Root CA certificate")
    intermediate = chain.find(INTERMEDIATE_CN, self_issued=False)
    if intermediate is None:
        raise Refused(Failure.SGX_INTERMEDIATE_CA_MISSING, "PCK chain has no intermediate CA certificate")
    if pck is None:
        raise Refused(Failure.SGX_PCK_MISSING, "PCK chain has no PCK certificate")

    check_root_certificate(root, memo)
    if intermediate.issuer_raw != root.subject_raw or not memo.signed_by(intermediate, root):
        raise Refused(
            Failure.SGX_INTERMEDIATE_CA_INVALID_ISSUER,
            "intermediate CA certificate is not signed by the root",
        )
    # The PCK certificate's own signature is not remembered: the verifier keeps what it learns per platform.
    if pck.issuer_raw != intermediate.subject_raw or not pck.is_signed_by(intermediate):
        raise Refused(Failure.SGX_PCK_INVALID_ISSUER, "PCK certificate is not signed by the intermediate CA")
    return root, intermediate, pck


def check_pck_crls(
    root_crl: RevocationList, pck_crl: RevocationList, root: Certificate, intermediate: Certificate, memo: PkiMemo
) -> None:
    """The CRLs against the chain's root and intermediate CA, then whether the root CA CRL revokes the
    intermediate (whether the PCK CRL revokes the PCK certificate is the last check, the caller's)."""
    check_crl(root_crl, root, "root CA CRL", memo)
    check_crl(pck_crl, intermediate, "PCK CRL", memo)
    if root_crl.revokes(intermediate):
        raise Refused(Failure.SGX_INTERMEDIATE_CA_REVOKED, "the intermediate CA certificate is revoked")


def check_pck_chain(pem: bytes, root_ca_crl: bytes, pck_crl: bytes, trust: TrustRoot, memo: PkiMemo) -> PckChain:
    """The PCK certificate chain from the quote, against the root CA CRL and the PCK CRL."""
    chain, pck = trusted_pck_chain(pem, trust, memo)
    root_crl = parse_crl(root_ca_crl, "root CA CRL", memo)
    intermediate_crl = parse_crl(pck_crl, "PCK CRL", memo)
    root, intermediate, pck = check_pck_certificates(chain, pck, memo)
    check_pck_crls(root_crl, intermediate_crl, root, intermediate, memo)
    if intermediate_crl.revokes(pck):
        raise Refused(Failure.SGX_PCK_REVOKED, "the PCK certificate is revoked")
    return PckChain(chain, root, intermediate, pck, root_crl, intermediate_crl)


@dataclass(frozen=True)
class SigningChain:
    chain: CertificateChain
    root: Certificate
    signer: Certificate
    root_ca_crl: RevocationList


def check_signing_chain(pem: bytes, root_ca_crl: bytes, trust: TrustRoot, what: str, memo: PkiMemo) -> SigningChain:
    """A TCB Signing chain (TCB info or enclave identity issuer chain): exactly signer + root."""
    chain = parse_chain(pem, 2, f"{what} issuer chain", memo)
    root_crl = parse_crl(root_ca_crl, "root CA CRL", memo)
    root = chain.root
    if root is None or ROOT_CN not in root.subject_cn:
        raise Refused(Failure.SGX_ROOT_CA_MISSING, f"{what} issuer chain has no Intel SGX Root CA")
    check_root_certificate(root, memo)
    signer = chain.topmost
    if signer is None or TCB_SIGNING_CN not in signer.subject_cn:
        raise Refused(Failure.SGX_TCB_SIGNING_CERT_MISSING, f"{what} issuer chain has no TCB Signing cert")
    if signer.issuer_raw != root.subject_raw or not memo.signed_by(signer, root):
        raise Refused(Failure.SGX_TCB_SIGNING_CERT_INVALID_ISSUER, "TCB Signing certificate is not signed by the root")
    check_crl(root_crl, root, "root CA CRL", memo)
    if root_crl.revokes(signer):
        raise Refused(Failure.SGX_TCB_SIGNING_CERT_REVOKED, "the TCB Signing certificate is revoked")
    require_root_key(root, trust, Failure.SGX_TCB_SIGNING_CERT_CHAIN_UNTRUSTED, f"{what} issuer chain")
    return SigningChain(chain, root, signer, root_crl)
