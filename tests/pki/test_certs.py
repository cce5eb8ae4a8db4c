"""Certificates and chains: the standard X.509 extensions Intel's parser requires of every certificate, read
straight from the TBS, and which certificate of a chain is reported when one lacks them."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID
from hypothesis import given, settings
from hypothesis import strategies as st

from pydcap import CertificateFormatError, Collateral, Quote
from pydcap.errors import CertificateExtensionError
from pydcap.pki import CertificateChain
from pydcap.pki.certs import REQUIRED_EXTENSIONS, Certificate, _read_at_once, split_pem_chain
from pydcap.sim import REFERENCE_TIME, SimulatedIntel
from pydcap.sim.pki import without_extension
from tests.support.testdata import REAL, Bundle, bundle_params, require_testdata

# Intel's constants::REQUIRED_X509_EXTENSIONS, as cryptography names them, in Intel's order.
INTEL_LIST = {
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER: "authority key identifier",
    ExtensionOID.CRL_DISTRIBUTION_POINTS: "CRL distribution points",
    ExtensionOID.SUBJECT_KEY_IDENTIFIER: "subject key identifier",
    ExtensionOID.KEY_USAGE: "key usage",
    ExtensionOID.BASIC_CONSTRAINTS: "basic constraints",
}
UNREADABLE = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=17, now=REFERENCE_TIME)


def _chains(bundle: Bundle) -> list[bytes]:
    collateral = Collateral.load(bundle.path)
    pem = Quote.parse(bundle.quote).pck_chain_pem
    assert pem is not None
    return [
        pem,
        collateral.pck_crl_issuer_chain,
        collateral.tcb_info_issuer_chain,
        collateral.qe_identity_issuer_chain,
    ]


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_every_real_certificate_has_the_required_extensions(bundle: Bundle | None) -> None:
    require_testdata()
    assert bundle is not None
    for pem in _chains(bundle):
        chain = CertificateChain.parse(pem, require_extensions=True)
        assert all(cert.missing_extensions == () for cert in chain.certificates)


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_signatures_cover_the_tbs_certificate_as_encoded(bundle: Bundle | None) -> None:
    require_testdata()
    assert bundle is not None
    for pem in _chains(bundle):
        for cert in CertificateChain.parse(pem).certificates:
            assert cert._signed_part == cert.x509.tbs_certificate_bytes


def test_the_required_extensions_are_intels_list() -> None:
    assert list(REQUIRED_EXTENSIONS.values()) == list(INTEL_LIST.values())


@pytest.mark.parametrize("oid", list(INTEL_LIST), ids=list(INTEL_LIST.values()))
def test_a_certificate_without_one_extension_lacks_exactly_that_one(
    intel: SimulatedIntel, oid: x509.ObjectIdentifier
) -> None:
    ca = intel.pki.processor_ca
    cert = Certificate.from_pem(without_extension(ca, intel.pki.root, oid))
    assert cert.missing_extensions == (INTEL_LIST[oid],)
    assert Certificate.from_pem(ca.pem).missing_extensions == ()


def test_other_extensions_are_still_read(intel: SimulatedIntel) -> None:
    """The SGX extension of a PCK certificate is found in the same pass over the extensions."""
    pck = intel.sgx_platform().pck.authority
    cert = Certificate.from_pem(without_extension(pck, intel.pki.processor_ca, ExtensionOID.KEY_USAGE))
    assert cert.missing_extensions == ("key usage",)
    assert cert.extension_value(bytes.fromhex("2a864886f84d010d01")) is not None
    assert cert.extension_value(bytes.fromhex("551d0f")) is None


def test_a_chain_reports_the_first_certificate_lacking_extensions(intel: SimulatedIntel) -> None:
    pki = intel.pki
    no_ski = without_extension(pki.processor_ca, pki.root, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    no_bc = without_extension(pki.root, pki.root, ExtensionOID.BASIC_CONSTRAINTS)
    pem = pki.tcb_signing.pem + no_ski + no_bc
    with pytest.raises(CertificateExtensionError) as caught:
        CertificateChain.parse(pem, require_extensions=True)
    assert (caught.value.position, caught.value.length, caught.value.missing) == (1, 3, ("subject key identifier",))
    assert "Intel SGX PCK Processor CA" in str(caught.value)
    assert len(CertificateChain.parse(pem)) == 3  # not required unless asked: any chain can still be read


def test_in_a_chain_the_first_wrong_certificate_decides(intel: SimulatedIntel) -> None:
    """Intel parses certificates in the chain's order and stops at the first it cannot take."""
    pki = intel.pki
    no_aki = without_extension(pki.processor_ca, pki.root, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    with pytest.raises(CertificateExtensionError):
        CertificateChain.parse(no_aki + UNREADABLE, require_extensions=True)
    with pytest.raises(CertificateFormatError) as caught:
        CertificateChain.parse(UNREADABLE + no_aki, require_extensions=True)
    assert not isinstance(caught.value, CertificateExtensionError)


def test_an_unknown_key_algorithm_is_a_format_error_not_a_crash(intel: SimulatedIntel) -> None:
    """A certificate whose key algorithm OID is unknown: its key is unreadable (CertificateFormatError), so a
    signature check with it fails instead of raising cryptography's UnsupportedAlgorithm."""
    pem = intel.pki.root.pem
    body = Certificate.from_pem(pem).der
    ec_oid = bytes.fromhex("06072a8648ce3d0201")  # id-ecPublicKey
    changed = body.replace(ec_oid, bytes.fromhex("06072a8648ce3d0209"), 1)
    cert = Certificate(x509.load_der_x509_certificate(changed), changed)
    with pytest.raises(CertificateFormatError, match="unusable public key"):
        _ = cert.public_key
    assert not cert.signed(b"\x30\x06\x02\x01\x01\x02\x01\x01", b"data")


_AT_ONCE = ("_signed_part", "issuer_raw", "subject_raw", "public_key_bytes", "_extensions")


def _field_by_field(cert: x509.Certificate, encoded: bytes) -> dict[str, object]:
    """What each property reads from ``encoded`` on its own (or the error it raises)."""
    lazy = Certificate(cert, encoded, known={})
    out: dict[str, object] = {}
    for name in _AT_ONCE:
        try:
            out[name] = getattr(lazy, name)
        except ValueError as exc:  # DerError, CertificateFormatError
            out[name] = type(exc)
    return out


def _every_certificate() -> list[bytes]:
    intel = SimulatedIntel(seed=43, now=REFERENCE_TIME)
    chains = [intel.sgx_platform().pck_chain_pem, intel.tdx_platform().pck_chain_pem]
    chains += [c for b in REAL for c in _chains(b)]
    return [block for pem in chains for block in split_pem_chain(pem)]


_CERTIFICATES = _every_certificate()


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_CERTIFICATES), st.lists(st.tuples(st.integers(0, 1400), st.integers(0, 255)), max_size=3))
def test_the_fields_read_at_once_are_those_read_one_by_one(block: bytes, edits: list[tuple[int, int]]) -> None:
    """Certificates as they come and with bytes changed: the walk that reads the TBS fields at once either declines
    (each property then reads, or refuses, on its own) or gives exactly what each property reads."""
    cert = x509.load_pem_x509_certificate(block)
    encoded = bytearray(cert.public_bytes(Encoding.DER))
    for pos, value in edits:
        if pos < len(encoded):
            encoded[pos] = value
    at_once = _read_at_once(bytes(encoded))
    if at_once is not None:
        assert at_once == _field_by_field(cert, bytes(encoded))
    if not edits:
        assert at_once is not None
