"""PCK certificates and chains: the SGX extension, CA type, chain classification whatever the order."""

from __future__ import annotations

import pytest

from pydcap import CertificateFormatError, Quote
from pydcap.pki import CertificateChain, PckCertificate, SgxType
from pydcap.pki.certs import split_pem_chain
from pydcap.pki.pck import parse_sgx_extension
from pydcap.pki.trust import INTEL_SGX_ROOT_CA_PUBLIC_KEY, TrustRoot
from tests.conftest import REAL, Bundle, bundle_params, require_testdata


def _pck(bundle: Bundle) -> tuple[CertificateChain, PckCertificate]:
    pem = Quote.parse(bundle.quote).pck_chain_pem
    assert pem is not None
    chain = CertificateChain.parse(pem)
    leaf = chain.find("SGX PCK Certificate")
    assert leaf is not None
    return chain, PckCertificate.from_certificate(leaf)


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_sgx_extension_matches_the_bundle(bundle: Bundle | None) -> None:
    require_testdata()
    assert bundle is not None
    chain, pck = _pck(bundle)
    facts = bundle.expected["quote_facts"]
    assert pck.fmspc.hex() == facts["fmspc"]
    assert pck.issuer_cn == facts["pck_issuer"]
    assert pck.ca_type == ("processor" if "Processor" in facts["pck_issuer"] else "platform")
    sgx = pck.sgx
    assert len(sgx.ppid) == 16 and len(sgx.tcb.components) == 16 and len(sgx.tcb.cpu_svn) == 16
    assert sgx.pce_id == b"\x00\x00"
    if pck.ca_type == "platform":
        assert sgx.platform_instance_id is not None and len(sgx.platform_instance_id) == 16
        assert sgx.dynamic_platform is not None and sgx.cached_keys is not None and sgx.smt_enabled is not None
        assert sgx.sgx_type == SgxType.SCALABLE
    else:
        assert sgx.platform_instance_id is None and sgx.dynamic_platform is None
        assert sgx.sgx_type == SgxType.STANDARD
    # CPUSVN in the certificate carries the same component values for these platforms.
    assert tuple(sgx.tcb.cpu_svn) == sgx.tcb.components
    assert chain.root is not None and chain.root.public_key_bytes == INTEL_SGX_ROOT_CA_PUBLIC_KEY


def test_chain_classification_ignores_order() -> None:
    require_testdata()
    pem = Quote.parse(REAL[0].quote).pck_chain_pem
    assert pem is not None
    blocks = split_pem_chain(pem)
    for order in ([2, 0, 1], [1, 2, 0], [0, 2, 1]):
        chain = CertificateChain.parse(b"\n".join(blocks[i] for i in order))
        assert chain.root is not None and "Root CA" in chain.root.subject_cn
        assert chain.topmost is not None and "PCK Certificate" in chain.topmost.subject_cn


def test_a_certificate_without_the_sgx_extension_is_rejected() -> None:
    require_testdata()
    chain, _ = _pck(REAL[0])
    assert chain.root is not None
    with pytest.raises(CertificateFormatError, match="no SGX extension"):
        parse_sgx_extension(chain.root)


def test_garbage_chain() -> None:
    with pytest.raises(CertificateFormatError):
        CertificateChain.parse(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateFormatError):
        CertificateChain.parse(b"nothing here")


def test_trust_root_from_pem_keeps_only_the_key() -> None:
    require_testdata()
    chain, _ = _pck(REAL[0])
    assert chain.root is not None
    from cryptography.hazmat.primitives.serialization import Encoding

    root = TrustRoot.from_pem(chain.root.x509.public_bytes(Encoding.PEM))
    assert root.is_intel and root == TrustRoot(INTEL_SGX_ROOT_CA_PUBLIC_KEY, root.name)
    with pytest.raises(CertificateFormatError):
        TrustRoot.from_pem(b"junk")


@pytest.mark.parametrize("oid", ["2.5.4.3", "1.2.840.113741.1.13.1.2.17", "2.999.1", "0.9.2342.19200300", "2.999"])
def test_oid_round_trip(oid: str) -> None:
    from pydcap.pki import der

    assert der.decode_oid(der.encode_oid(oid)) == oid
