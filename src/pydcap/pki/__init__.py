"""Intel's PKI for SGX/TDX: the pinned root, certificate chains, PCK certificates and CRLs."""

from pydcap.pki.certs import Certificate, CertificateChain
from pydcap.pki.crl import RevocationList
from pydcap.pki.pck import PckCertificate, PckTcb, SgxExtension, SgxType
from pydcap.pki.trust import INTEL_SGX_ROOT_CA_PUBLIC_KEY, TrustRoot

__all__ = [
    "INTEL_SGX_ROOT_CA_PUBLIC_KEY",
    "Certificate",
    "CertificateChain",
    "PckCertificate",
    "PckTcb",
    "RevocationList",
    "SgxExtension",
    "SgxType",
    "TrustRoot",
]
