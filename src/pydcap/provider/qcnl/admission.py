"""What a QCNL answer must pass before the provider caches or returns it: ``pydcap.trust.admit``
against the provider's trust root, for the document that was asked for. Under ``local_cache_only``, the chain
of the PCK certificate picked from a local file is checked up to that root.
"""

from __future__ import annotations

from cryptography import x509

from pydcap.cache.admission import admit, pck_ca_of
from pydcap.cache.errors import UntrustedCollateralError
from pydcap.errors import FormatError
from pydcap.intel import EntryKey, EntryKind, Failure, PckCa, Tcb
from pydcap.pki import Certificate, PckCertificate, TrustRoot
from pydcap.provider import codes
from pydcap.provider.errors import MalformedResponse
from pydcap.provider.qcnl.documents import Answer, Document
from pydcap.trust import PkiMemo, Refused, pck_chain_leaf, require_root_key


class QcnlAdmission:
    """Admission of QCNL answers against one trust root, remembering parsed certificates and checks."""

    def __init__(self, trust: TrustRoot) -> None:
        self.trust = trust
        self._memo = PkiMemo(trust=self.trust)

    def root_crl_distribution_point(self, key: EntryKey, chain: bytes, source: str) -> str:
        """Where the root CA CRL is published: the CDP of the chain's root certificate, read only once that is the
        trusted root (its key, validly self-signed), so a forged chain cannot send the provider elsewhere."""
        try:
            root = self._memo.chain(chain).root
        except FormatError as exc:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, f"unreadable issuer chain: {exc}") from exc
        if root is None:
            raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, "the issuer chain has no root certificate")
        try:
            require_root_key(root, self.trust, Failure.SGX_ROOT_CA_UNTRUSTED, "its issuer chain")
            if not self._memo.self_signed(root):
                raise Refused(Failure.SGX_ROOT_CA_UNTRUSTED, "its issuer chain's root is not validly self-signed")
        except Refused as exc:
            raise UntrustedCollateralError(key, exc.detail, source=source, failure=exc.failure) from exc
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
            _check_platform(key, pck_chain_leaf(pem_chain, self.trust, self._memo), tcbm)
        except Refused as exc:
            raise UntrustedCollateralError(key, exc.detail, source=source, failure=exc.failure) from exc


def _leaf(answer: Answer) -> bytes:
    return answer.body.strip() + b"\n"


def _check_platform(key: EntryKey, pck: PckCertificate, tcbm: str) -> None:
    certified = Tcb.from_raw(pck.sgx.tcb.cpu_svn, pck.sgx.tcb.pce_svn)
    asked = key.platform_id().pce_id_hex
    if pck.pce_id.hex() != asked:
        raise Refused(Failure.PCK_CERT_MISMATCH, f"asked for PCE-ID {asked}, got {pck.pce_id.hex()}")
    try:
        said = Tcb.from_tcbm(tcbm)
    except FormatError:
        said = None
    if said != certified:
        shown, own = tcbm.strip().lower(), certified.tcbm.lower()
        raise Refused(Failure.PCK_CERT_MISMATCH, f"the file's TCBm {shown} is not the certificate's {own}")


def _distribution_point(root: Certificate) -> str:
    try:
        points = root.x509.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (x509.ExtensionNotFound, ValueError) as exc:
        raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, f"no root CA CRL distribution point: {exc}") from exc
    name = points[0].full_name[0] if points and points[0].full_name else None
    if not isinstance(name, x509.UniformResourceIdentifier):
        raise MalformedResponse(codes.ERROR_MESSAGE_PARSING_ERROR, "the root's CRL distribution point is not a URI")
    return name.value
