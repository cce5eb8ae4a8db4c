"""The trust anchor and the Intel certificates known to carry the root's signature (checked here, once, for real)."""

from __future__ import annotations

import contextlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from pydcap import Collateral, Quote, QuoteFormatError, TrustRoot, Verifier
from pydcap.errors import CertificateFormatError
from pydcap.pki.certs import Certificate, split_pem_chain
from pydcap.pki.trust import INTEL_SGX_ROOT_CA_PUBLIC_KEY, INTEL_SIGNED_CERTIFICATES
from pydcap.sim import SimulatedIntel
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


def test_a_root_pins_what_it_issued_once_checked() -> None:
    """``TrustRoot.from_pem(root, issued=...)``: the root's own certificate and each issued one, checked against the
    root's key there; a certificate another key signed is refused, naming it."""
    intel = SimulatedIntel(seed=3)
    pki = intel.pki
    root = intel.trust_root
    expected = {
        Certificate.from_pem(a.pem).digest for a in (pki.root, pki.processor_ca, pki.platform_ca, pki.tcb_signing)
    }
    assert root.signed_certificates == expected
    assert root == TrustRoot.from_pem(intel.root_pem)  # pins make no difference to what a root is
    stranger = intel.impostor().pki.processor_ca.pem
    with pytest.raises(CertificateFormatError, match="'Intel SGX PCK Processor CA' is not signed by the trusted root"):
        TrustRoot.from_pem(intel.root_pem, issued=[stranger])
    with pytest.raises(CertificateFormatError, match="unparsable certificate"):
        TrustRoot.from_pem(intel.root_pem, issued=[b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])


def test_pinned_certificates_skip_their_signature_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh verifier checking a simulated bundle: with the simulated Intel's CAs, TCB Signing certificate and root
    pinned, two certificate signature checks fewer (PCK CA, TCB Signing), the same result. The root's own
    self-signature is never checked again: ``from_pem`` checked it."""
    intel = SimulatedIntel(seed=3)
    platform = intel.sgx_platform()
    quote, collateral = platform.quote(), intel.collateral_for(platform)
    checked: list[str] = []
    original = Certificate.is_signed_by

    def counting(cert: Certificate, issuer: Certificate) -> bool:
        checked.append(cert.subject_cn)
        return original(cert, issuer)

    monkeypatch.setattr(Certificate, "is_signed_by", counting)
    results = []
    for root in (TrustRoot.from_pem(intel.root_pem, issued=()), intel.trust_root):
        checked.clear()
        results.append(Verifier(trusted_root=root).verify(quote, collateral, at=intel.now))
        if root is intel.trust_root:
            assert checked == ["Intel SGX PCK Certificate"]
        else:
            assert sorted(checked) == [
                "Intel SGX PCK Certificate",
                "Intel SGX PCK Processor CA",
                "Intel SGX TCB Signing",
            ]
    assert results[0] == results[1] and results[0].accepted
