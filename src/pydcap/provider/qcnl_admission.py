"""What a QCNL answer must pass before the provider caches or returns it: ``pydcap.cache.admission.admit``
against the provider's trust root, for the document that was asked for. Under ``local_cache_only``, the chain
of the PCK certificate picked from a local file is checked up to that root.
"""

from __future__ import annotations

from cryptography import x509

from pydcap.cache.admission import admit, pck_ca_of
from pydcap.cache.errors import UntrustedCollateralError
from pydcap.cache.keys import EntryKey, EntryKind
from pydcap.errors import FormatError
from pydcap.pki import Certificate, PckCertificate, TrustRoot
from pydcap.provider import codes
from pydcap.provider.errors import MalformedResponse
from pydcap.provider.qcnl_documents import Answer, Document
from pydcap.sources.models import PckCa
from pydcap.verify.chains import (
    INTERMEDIATE_CN,
    PCK_CN,
    ROOT_CN,
    CheckFailed,
    check_root_certificate,
    parse_chain,
)
from pydcap.verify.memo import PkiMemo
from pydcap.verify.names import Failure


class QcnlAdmission:
    """Admission of QCNL answers against one trust root, remembering parsed certificates and checks."""

    def __init__(self, trust: TrustRoot) -> None:
        self.trust = trust
        self._memo = PkiMemo()

    def root_crl_distribution_point(self, key: EntryKey, chain: bytes, source: str) -> str:
        """Where the root CA CRL is published: the CDP of the chain's root certificate, read only once that is the
        trusted root (its key, validly self-signed), so a forged chain cannot send the provider elsewhere."""
        try:
            root = self._memo.chain(chain).root
        except FormatError as exc:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, f"unreadable issuer chain: {exc}") from exc
        if root is None:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, "the issuer chain has no root certificate")
        if root.public_key_bytes != self.trust.public_key or not self._memo.self_signed(root):
            reason = f"its issuer chain does not end in the trusted root ({self.trust.name})"
            raise UntrustedCollateralError(key, reason, source=source, failure=Failure.SGX_ROOT_CA_UNTRUSTED)
        return _distribution_point(root)

    def pck_ca(self, key: EntryKey, answer: Answer, source: str) -> PckCa:
        """The CA of an answered PCK certificate: whose PCK CRL admits it."""
        return pck_ca_of(key, _leaf(answer), source)

    def admit(
        self,
        document: Document,
        answer: Answer,
        issuer_chain: bytes,
        *,
        root_ca_crl: bytes | None,
        pck_crl: bytes | None,
        source: str,
    ) -> int:
        """Until when the answer is fresh; ``UntrustedCollateralError`` unless it is the authentic document asked
        for (signatures and chains up to the trusted root, the CRLs, FMSPC, TEE, identity, CA, PCE-ID, TCBm)."""
        pck = document.key.kind is EntryKind.PCK_CERTIFICATE
        admission = admit(
            document.key,
            _leaf(answer) if pck else answer.body,
            issuer_chain,
            self.trust,
            root_ca_crl=root_ca_crl,
            pck_crl=pck_crl,
            meta=document.pck_meta(answer) if pck else None,
            source=source,
            memo=self._memo,
        )
        return admission.valid_until

    def check_local_pck(self, key: EntryKey, pem_chain: bytes, tcbm: str, source: str) -> None:
        """A PCK certificate chain from a local cache file: each certificate signed by the next, up to the trusted
        root; the PCE-ID asked for; the TCB the file says it certifies. Revocation is left to the verifier: the
        file holds no CRL, and this mode asks no service for anything to get a PCK certificate."""
        try:
            leaf = self._trusted_pck_chain(pem_chain)
            pck = PckCertificate.from_certificate(leaf)
            _check_platform(key, pck, tcbm.strip().lower())
        except (CheckFailed, FormatError) as exc:
            failure = exc.failure if isinstance(exc, CheckFailed) else None
            reason = exc.detail if isinstance(exc, CheckFailed) else str(exc)
            raise UntrustedCollateralError(key, reason, source=source, failure=failure) from exc

    def _trusted_pck_chain(self, pem_chain: bytes) -> Certificate:
        """The leaf of a PCK chain whose signatures verify up to the trusted root."""
        chain = parse_chain(pem_chain, 3, "PCK certificate chain", self._memo)
        root, intermediate, leaf = chain.root, chain.find(INTERMEDIATE_CN, self_issued=False), chain.find(PCK_CN)
        if root is None or ROOT_CN not in root.subject_cn:
            raise CheckFailed(Failure.SGX_ROOT_CA_MISSING, "the PCK chain has no Intel SGX Root CA certificate")
        if intermediate is None or leaf is None:
            raise CheckFailed(Failure.SGX_INTERMEDIATE_CA_MISSING, "the PCK chain lacks its PCK CA or PCK certificate")
        check_root_certificate(root, self._memo)
        if root.public_key_bytes != self.trust.public_key:
            untrusted = f"the PCK chain does not end in the trusted root ({self.trust.name})"
            raise CheckFailed(Failure.SGX_PCK_CERT_CHAIN_UNTRUSTED, untrusted)
        if intermediate.issuer_raw != root.subject_raw or not self._memo.signed_by(intermediate, root):
            raise CheckFailed(
                Failure.SGX_INTERMEDIATE_CA_INVALID_ISSUER, f"{intermediate.subject_cn} is not signed by the root"
            )
        if leaf.issuer_raw != intermediate.subject_raw or not self._memo.signed_by(leaf, intermediate):
            raise CheckFailed(
                Failure.SGX_PCK_INVALID_ISSUER, f"the PCK certificate is not signed by {intermediate.subject_cn}"
            )
        return leaf


def _leaf(answer: Answer) -> bytes:
    return answer.body.strip() + b"\n"


def _check_platform(key: EntryKey, pck: PckCertificate, tcbm: str) -> None:
    tcb = pck.sgx.tcb
    certified = (tcb.cpu_svn + tcb.pce_svn.to_bytes(2, "little")).hex()
    asked = key.platform_id().pce_id_hex
    if pck.pce_id.hex() != asked:
        raise CheckFailed(Failure.PCK_CERT_MISMATCH, f"asked for PCE-ID {asked}, got {pck.pce_id.hex()}")
    if tcbm != certified:
        raise CheckFailed(Failure.PCK_CERT_MISMATCH, f"the file's TCBm {tcbm} is not the certificate's {certified}")


def _distribution_point(root: Certificate) -> str:
    try:
        points = root.x509.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (x509.ExtensionNotFound, ValueError) as exc:
        raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, f"no root CA CRL distribution point: {exc}") from exc
    name = points[0].full_name[0] if points and points[0].full_name else None
    if not isinstance(name, x509.UniformResourceIdentifier):
        raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, "the root's CRL distribution point is not a URI")
    return name.value
