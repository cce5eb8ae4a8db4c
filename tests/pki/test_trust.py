"""The trust anchor and the Intel certificates known to carry the root's signature (checked here, once, for real)."""

from __future__ import annotations

import contextlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from pydcap import Collateral, Quote, QuoteFormatError, Verifier
from pydcap.pki.certs import Certificate, split_pem_chain
from pydcap.pki.trust import INTEL_SGX_ROOT_CA_PUBLIC_KEY, INTEL_SIGNED_CERTIFICATES
from tests.support.testdata import NEGATIVE, REAL, require_testdata


def _certificates_in_test_data() -> dict[bytes, Certificate]:
    found: dict[bytes, Certificate] = {}
    for bundle in REAL + NEGATIVE:
        collateral = Collateral.load(bundle.path)
        chains = [collateral.pck_crl_issuer_chain, collateral.tcb_info_issuer_chain]
        with contextlib.suppress(QuoteFormatError):  # a negative bundle's damaged quote
            chains.append(Quote.parse(bundle.quote).pck_chain_pem or b"")
        for block in (b for chain in chains for b in split_pem_chain(chain)):
            try:
                cert = Certificate.from_pem(block)
            except ValueError:
                continue  # the negative bundles hold damaged certificates
            found[cert.digest] = cert
    return found


def test_every_pinned_certificate_verifies_with_intels_root_key() -> None:
    """Each pinned digest is a certificate of the real test data whose signature the root key verifies (checked
    here through cryptography, without pydcap's own signature code), so a pin never stands for an unchecked one."""
    require_testdata()
    certs = _certificates_in_test_data()
    root_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), INTEL_SGX_ROOT_CA_PUBLIC_KEY)
    for digest in INTEL_SIGNED_CERTIFICATES:
        assert digest in certs, digest.hex()
        cert = certs[digest].x509
        root_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    names = sorted(certs[d].subject_cn for d in INTEL_SIGNED_CERTIFICATES)
    assert names == [
        "Intel SGX PCK Platform CA",
        "Intel SGX PCK Processor CA",
        "Intel SGX Root CA",
        "Intel SGX TCB Signing",
        "Intel SGX TCB Signing",
    ]


def test_a_changed_intermediate_is_not_pinned_and_fails_its_check() -> None:
    """The negative bundle whose intermediate CA certificate has a changed byte: not one of the pinned bytes, so
    its signature is checked, and fails as before."""
    require_testdata()
    bundle = next(b for b in NEGATIVE if b.name == "go-tdx-guest-neg-intermediate-cert-byte-changed")
    result = Verifier().verify(bundle.quote, Collateral.load(bundle.path), at=bundle.at)
    assert result.failure is not None and result.failure.value in (
        bundle.expected.get("failure_any") or [bundle.expected["failure"]]
    )


def test_der_is_read_from_the_pem_not_re_encoded() -> None:
    """Every certificate of the test data: the DER pydcap decodes from the PEM is what cryptography encodes."""
    require_testdata()
    from cryptography.hazmat.primitives.serialization import Encoding

    for cert in _certificates_in_test_data().values():
        assert cert.der == cert.x509.public_bytes(Encoding.DER)
