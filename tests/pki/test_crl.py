"""CRL signature checks: the signed part is sliced from the DER, and it must be exactly what the issuer signed."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from pydcap import Collateral
from pydcap.pki import der
from pydcap.pki.certs import Certificate
from pydcap.pki.crl import RevocationList
from tests.support.testdata import REAL, Bundle, bundle_params, require_testdata

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CRL Issuer")])


def _issuer(key: ec.EllipticCurvePrivateKey) -> Certificate:
    cert = (
        x509.CertificateBuilder()
        .subject_name(NAME)
        .issuer_name(NAME)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return Certificate(cert)


def _crl(key: ec.EllipticCurvePrivateKey, digest: hashes.HashAlgorithm, revoked: int = 3) -> bytes:
    builder = x509.CertificateRevocationListBuilder().issuer_name(NAME).last_update(NOW)
    builder = builder.next_update(NOW + dt.timedelta(days=1))
    for serial in range(100, 100 + revoked):
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW).build()
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(key, digest).public_bytes(Encoding.DER)


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_the_signed_part_is_what_cryptography_reads(key: ec.EllipticCurvePrivateKey) -> None:
    crl = RevocationList.parse(_crl(key, hashes.SHA256(), revoked=50))
    assert der.signed_part(crl.der) == crl.x509.tbs_certlist_bytes


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_the_signed_part_of_intels_crls(bundle: Bundle | None) -> None:
    require_testdata()
    assert bundle is not None
    collateral = Collateral.load(bundle.path)
    for data in (collateral.pck_crl, collateral.root_ca_crl):
        crl = RevocationList.parse(data)
        assert der.signed_part(crl.der) == crl.x509.tbs_certlist_bytes


@pytest.mark.parametrize("digest", [hashes.SHA256(), hashes.SHA384()], ids=["sha256", "sha384"])
def test_a_crl_verifies_with_its_issuers_key_only(
    key: ec.EllipticCurvePrivateKey, digest: hashes.HashAlgorithm
) -> None:
    crl = RevocationList.parse(_crl(key, digest))
    assert crl.is_signed_by(_issuer(key))
    assert not crl.is_signed_by(_issuer(ec.generate_private_key(ec.SECP256R1())))


def test_a_changed_revocation_list_no_longer_verifies(key: ec.EllipticCurvePrivateKey) -> None:
    data = bytearray(_crl(key, hashes.SHA256()))
    serial = data.find(bytes([0x02, 0x01, 101]))  # the INTEGER of the second revoked serial number
    assert serial > 0
    data[serial + 2] = 120
    crl = RevocationList.parse(bytes(data))
    assert crl.x509.get_revoked_certificate_by_serial_number(120) is not None
    assert not crl.is_signed_by(_issuer(key))


@pytest.mark.parametrize(
    "data",
    [b"\x30\x03\x02\x01\x01", b"\x30\x05\x30\x09\x02\x01\x01", b"\x30\x02\x30\x00\x00"],
    ids=["first element not a SEQUENCE", "first element too long", "bytes after the SEQUENCE"],
)
def test_a_malformed_outer_sequence_is_a_der_error(data: bytes) -> None:
    with pytest.raises(der.DerError):
        der.signed_part(data)


def test_revocation_is_answered_alike_by_search_and_by_set(key: ec.EllipticCurvePrivateKey) -> None:
    """The first question searches the list; later ones use a set of every revoked serial: the same answers."""
    crl = RevocationList.parse(_crl(key, hashes.SHA256(), revoked=20))
    asked = [99, 100, 110, 119, 120, 100, 5, 119]
    assert [crl.revokes_serial(s) for s in asked] == [False, True, True, True, False, True, False, True]
