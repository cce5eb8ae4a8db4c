"""Certificate-chain and CRL checks, in the order Intel's library makes them.

Each check returns a ``Failure`` or None. Time is not an input: expiry is collected as dates and judged
later, because Intel's verification enclave reports it as a flag rather than a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydcap.errors import CertificateExtensionError, CertificateFormatError
from pydcap.pki.certs import Certificate, CertificateChain
from pydcap.pki.crl import RevocationList
from pydcap.pki.pck import PckCertificate
from pydcap.pki.trust import TrustRoot
from pydcap.verify.memo import PkiMemo
from pydcap.verify.names import Failure

ROOT_CN = "SGX Root CA"
INTERMEDIATE_CN = "CA"
PCK_CN = "SGX PCK Certificate"
TCB_SIGNING_CN = "SGX TCB Signing"


class CheckFailed(Exception):
    """Internal control flow: a named failure plus a human explanation."""

    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail


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
    unreadable or lacks a required extension decides the failure. With ``remember``, ``memo`` keeps the chain."""
    try:
        return memo.chain(pem) if remember else memo.read_chain(pem)
    except CertificateExtensionError as exc:
        raise CheckFailed(extension_failure(exc.position, exc.length), f"{what}: {exc}") from exc
    except CertificateFormatError as exc:
        raise CheckFailed(Failure.UNSUPPORTED_CERT_FORMAT, f"{what}: {exc}") from exc


def parse_chain(
    pem: bytes, expected_length: int, what: str, memo: PkiMemo, *, remember: bool = True
) -> CertificateChain:
    chain = read_chain(pem, what, memo, remember=remember)
    if len(chain) != expected_length:
        raise CheckFailed(
            Failure.UNSUPPORTED_CERT_FORMAT,
            f"{what} has {len(chain)} readable certificates, expected {expected_length}",
        )
    return chain


def parse_crl(data: bytes, what: str, memo: PkiMemo) -> RevocationList:
    try:
        crl = memo.crl(data)
    except CertificateFormatError as exc:
        raise CheckFailed(Failure.SGX_CRL_UNSUPPORTED_FORMAT, f"{what}: {exc}") from exc
    if crl.crl_number is None:  # Intel's CRL parser reads the number with the rest: without it, unreadable
        raise CheckFailed(Failure.SGX_CRL_UNSUPPORTED_FORMAT, f"{what} has no CRL number")
    return crl


def check_root_certificate(root: Certificate, memo: PkiMemo) -> None:
    if not memo.self_signed(root):
        raise CheckFailed(Failure.SGX_ROOT_CA_INVALID_ISSUER, "root CA certificate is not validly self-signed")


def check_crl(crl: RevocationList, issuer: Certificate, what: str, memo: PkiMemo) -> None:
    """Intel's CRL check: issuer name, AKI extension, signature (the CRL number was required when parsing)."""
    if crl.issuer_raw != issuer.subject_raw:
        raise CheckFailed(
            Failure.SGX_CRL_UNKNOWN_ISSUER,
            f"{what} is issued by {crl.issuer_cn!r}, not by {issuer.subject_cn!r}",
        )
    if not crl.has_authority_key_identifier:
        raise CheckFailed(Failure.SGX_CRL_INVALID_EXTENSIONS, f"{what} lacks the authority key identifier extension")
    if not memo.crl_signed_by(crl, issuer):
        raise CheckFailed(Failure.SGX_CRL_INVALID_SIGNATURE, f"{what} signature does not verify")


@dataclass(frozen=True, slots=True)
class PckCertificates:
    """The certificates of a PCK chain whose names and signatures check out, up to a root with the trusted key:
    everything about the chain that needs no collateral."""

    chain: CertificateChain
    root: Certificate
    intermediate: Certificate
    pck: PckCertificate


@dataclass(frozen=True, slots=True)
class PckRevocationLists:
    """The root CA CRL and the PCK CRL, readable (each with its CRL number)."""

    root_ca_crl: RevocationList
    pck_crl: RevocationList


@dataclass(frozen=True)
class PckChain:
    """A PCK chain that passed every time-independent check, with what later steps need."""

    chain: CertificateChain
    root: Certificate
    intermediate: Certificate
    pck: PckCertificate
    root_ca_crl: RevocationList
    pck_crl: RevocationList


def read_pck_chain(pem: bytes, memo: PkiMemo) -> CertificateChain:
    """The quote's chain, parsed as Intel's parser reads it (three certificates). Its CA certificates are taken
    from, and once checked kept in, ``memo``; the PCK certificate is parsed afresh (each platform has its own)."""
    return parse_chain(pem, 3, "PCK certificate chain", memo, remember=False)


def read_pck_crls(root_ca_crl: bytes, pck_crl: bytes, memo: PkiMemo) -> PckRevocationLists:
    return PckRevocationLists(parse_crl(root_ca_crl, "root CA CRL", memo), parse_crl(pck_crl, "PCK CRL", memo))


def check_pck_certificates(chain: CertificateChain, trust: TrustRoot, memo: PkiMemo) -> PckCertificates:
    """Names, the SGX extension, signatures and the trust root of a parsed PCK chain."""
    root = chain.root
    if root is None or ROOT_CN not in root.subject_cn:
        raise CheckFailed(Failure.SGX_ROOT_CA_MISSING, "PCK chain has no Intel SGX Root CA certificate")
    intermediate = chain.find(INTERMEDIATE_CN, self_issued=False)
    if intermediate is None:
        raise CheckFailed(Failure.SGX_INTERMEDIATE_CA_MISSING, "PCK chain has no intermediate CA certificate")
    leaf = chain.find(PCK_CN)
    if leaf is None:
        raise CheckFailed(Failure.SGX_PCK_MISSING, "PCK chain has no PCK certificate")
    try:
        pck = PckCertificate.from_certificate(leaf)
    except CertificateFormatError as exc:
        raise CheckFailed(Failure.SGX_PCK_INVALID_EXTENSIONS, str(exc)) from exc

    check_root_certificate(root, memo)
    if intermediate.issuer_raw != root.subject_raw or not memo.signed_by(intermediate, root):
        raise CheckFailed(
            Failure.SGX_INTERMEDIATE_CA_INVALID_ISSUER,
            "intermediate CA certificate is not signed by the root",
        )
    # The PCK certificate's own signature is not remembered: the verifier keeps what it learns per platform.
    if pck.issuer_raw != intermediate.subject_raw or not pck.is_signed_by(intermediate):
        raise CheckFailed(Failure.SGX_PCK_INVALID_ISSUER, "PCK certificate is not signed by the intermediate CA")
    if root.public_key_bytes != trust.public_key:
        raise CheckFailed(
            Failure.SGX_PCK_CERT_CHAIN_UNTRUSTED, f"PCK chain does not end in the trusted root ({trust.name})"
        )
    return PckCertificates(chain, root, intermediate, pck)


def check_pck_crls(crls: PckRevocationLists, root: Certificate, intermediate: Certificate, memo: PkiMemo) -> None:
    """The CRLs against the chain's root and intermediate CA, then whether the root CA CRL revokes the
    intermediate (whether the PCK CRL revokes the PCK certificate is the caller's last check)."""
    check_crl(crls.root_ca_crl, root, "root CA CRL", memo)
    check_crl(crls.pck_crl, intermediate, "PCK CRL", memo)
    if crls.root_ca_crl.revokes_serial(intermediate.serial_number):
        raise CheckFailed(Failure.SGX_INTERMEDIATE_CA_REVOKED, "the intermediate CA certificate is revoked")


def check_pck_chain(pem: bytes, root_ca_crl: bytes, pck_crl: bytes, trust: TrustRoot, memo: PkiMemo) -> PckChain:
    """The PCK certificate chain from the quote, against the root CA CRL and the PCK CRL."""
    chain = read_pck_chain(pem, memo)
    crls = read_pck_crls(root_ca_crl, pck_crl, memo)
    certs = check_pck_certificates(chain, trust, memo)
    check_pck_crls(crls, certs.root, certs.intermediate, memo)
    if crls.pck_crl.revokes_serial(certs.pck.serial_number):
        raise CheckFailed(Failure.SGX_PCK_REVOKED, "the PCK certificate is revoked")
    return PckChain(chain, certs.root, certs.intermediate, certs.pck, crls.root_ca_crl, crls.pck_crl)


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
        raise CheckFailed(Failure.SGX_ROOT_CA_MISSING, f"{what} issuer chain has no Intel SGX Root CA")
    check_root_certificate(root, memo)
    signer = chain.topmost
    if signer is None or TCB_SIGNING_CN not in signer.subject_cn:
        raise CheckFailed(Failure.SGX_TCB_SIGNING_CERT_MISSING, f"{what} issuer chain has no TCB Signing cert")
    if signer.issuer_raw != root.subject_raw or not memo.signed_by(signer, root):
        raise CheckFailed(
            Failure.SGX_TCB_SIGNING_CERT_INVALID_ISSUER, "TCB Signing certificate is not signed by the root"
        )
    check_crl(root_crl, root, "root CA CRL", memo)
    if root_crl.revokes_serial(signer.serial_number):
        raise CheckFailed(Failure.SGX_TCB_SIGNING_CERT_REVOKED, "the TCB Signing certificate is revoked")
    if root.public_key_bytes != trust.public_key:
        raise CheckFailed(
            Failure.SGX_TCB_SIGNING_CERT_CHAIN_UNTRUSTED,
            f"{what} issuer chain does not end in the trusted root ({trust.name})",
        )
    return SigningChain(chain, root, signer, root_crl)
