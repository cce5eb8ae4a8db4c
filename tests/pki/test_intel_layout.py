"""PCK certificates read in Intel's layout: the same values as the general reader, and nothing it would refuse."""

from __future__ import annotations

import base64
import random
import warnings
from typing import Any

import pytest
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from hypothesis import given, settings
from hypothesis import strategies as st

from pydcap import CertificateFormatError, Quote
from pydcap.pki import PckCertificate
from pydcap.pki.certs import Certificate, pem_der, split_pem_chain
from pydcap.pki.intel_layout import intel_layout, read_pck
from pydcap.sim import SimulatedIntel
from tests.support.edits import edited, mutants
from tests.support.testdata import REAL, require_testdata

_VALUES = ("_signed_part", "issuer_raw", "subject_raw", "public_key_bytes", "_extensions")
_READ_LATER = ("not_before", "not_after", "serial_number", "signature")
CAS = ("processor", "platform")


def _pem(encoded: bytes) -> bytes:
    return b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(encoded) + b"-----END CERTIFICATE-----"


def _leaf_and_issuer(chain: bytes) -> tuple[bytes, bytes]:
    """A PCK chain's PCK certificate (DER) and its issuer's Name, its subject read once by the general reader (as
    ``intel_layout`` needs)."""
    leaf, ca, _root = split_pem_chain(chain)
    issuer = Certificate.from_pem(ca).subject_raw
    read_pck(leaf, issuer)
    return pem_der(leaf) or b"", issuer


def _simulated(seed: int) -> list[tuple[str, bytes, bytes]]:
    """(what, PCK certificate DER, its issuer's Name) from the simulated Intel, of both CAs."""
    intel = SimulatedIntel(seed=seed)
    return [(f"simulated {ca}", *_leaf_and_issuer(intel.sgx_platform(name=ca, ca=ca).pck_chain_pem)) for ca in CAS]


@pytest.fixture(scope="module")
def certificates() -> list[tuple[str, bytes, bytes]]:
    """The real bundles' PCK certificates and simulated ones."""
    require_testdata()
    found = []
    for bundle in REAL:
        pem = Quote.parse(bundle.quote).pck_chain_pem
        assert pem is not None
        found.append((bundle.name, *_leaf_and_issuer(pem)))
    return found + _simulated(53)


def _general(encoded: bytes) -> dict[str, Any] | None:
    """What the general reader gives for the DER ``encoded``; None when ``cryptography`` refuses it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            cert = Certificate(x509.load_der_x509_certificate(encoded), encoded)
            return {name: getattr(cert, name) for name in (*_VALUES, *_READ_LATER)}
    except ValueError:
        return None


def test_every_intel_pck_certificate_is_in_the_layout(certificates: list[tuple[str, bytes, bytes]]) -> None:
    for what, encoded, issuer in certificates:
        read = intel_layout(encoded, issuer)
        assert read is not None and read == _general(encoded), what
        fast, general = read_pck(_pem(encoded), issuer), PckCertificate.from_pem(_pem(encoded))
        assert "x509" not in fast.__dict__, what  # read without cryptography
        assert (fast.sgx, fast.ca_type, fast.missing_extensions) == (general.sgx, general.ca_type, ()), what
        assert fast.x509.serial_number == general.serial_number  # cryptography's reading, when asked for


def test_only_a_named_issuer_and_a_subject_read_before_are_taken(simulated_pcks: list[tuple[bytes, bytes]]) -> None:
    encoded, issuer = simulated_pcks[0]
    subject = Certificate.from_pem(_pem(encoded)).subject_raw
    assert intel_layout(encoded, issuer) is not None
    assert intel_layout(encoded, issuer[:-1] + b"X") is None
    assert intel_layout(encoded.replace(subject, subject[:-1] + b"X"), issuer) is None  # a Name not read before


def test_what_the_layout_takes_the_general_reader_reads_alike(certificates: list[tuple[str, bytes, bytes]]) -> None:
    """Some 4,000 mutations of each certificate: the layout either declines, or reads exactly what the general
    reader reads (which then never refuses the certificate)."""
    rng = random.Random(7)
    taken = declined = 0
    for what, encoded, issuer in certificates[:1] + certificates[-2:]:
        for mutant in mutants(encoded, rng):
            fast = intel_layout(mutant, issuer)
            if fast is None:
                declined += 1
                continue
            taken += 1
            assert fast == _general(mutant), (what, mutant.hex())
    assert taken > 1000 and declined > 1000  # keys, key identifiers, signatures, CRL URLs, SGX values, dates


@pytest.fixture(scope="module")
def simulated_pcks() -> list[tuple[bytes, bytes]]:
    return [(encoded, issuer) for _what, encoded, issuer in _simulated(59)]


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_random_edits_are_read_alike_or_declined(
    simulated_pcks: list[tuple[bytes, bytes]], data: st.DataObject
) -> None:
    """Bytes set, inserted or removed anywhere, one to three times."""
    encoded, issuer = data.draw(st.sampled_from(simulated_pcks))
    encoded = edited(encoded, data)
    fast = intel_layout(encoded, issuer)
    if fast is not None:
        assert fast == _general(encoded)


def test_a_certificate_the_layout_declines_is_read_or_refused_as_before(
    simulated_pcks: list[tuple[bytes, bytes]],
) -> None:
    """A negative serial number (which cryptography reads, with a warning), one not in its shortest form, another
    issuer, a damaged encoding: each left to the general reader, which reads or refuses it as before."""
    encoded, issuer = simulated_pcks[0]
    assert intel_layout(encoded, issuer) is not None and encoded[14] == 20
    negative = encoded[:15] + bytes([encoded[15] | 0x80]) + encoded[16:]
    padded = encoded[:15] + b"\x00" + bytes([encoded[16] & 0x7F]) + encoded[17:]
    assert intel_layout(negative, issuer) is None and intel_layout(padded, issuer) is None
    assert _general(negative) is not None
    with pytest.raises(CertificateFormatError):
        read_pck(_pem(encoded[:-1]), issuer)
    outside = read_pck(_pem(encoded), issuer + b"\x00")  # another issuer: read in full
    assert "x509" in outside.__dict__ and outside.sgx == read_pck(_pem(encoded), issuer).sgx
