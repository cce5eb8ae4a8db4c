"""CRLs read in Intel's layout: the same values as ``cryptography``'s accessors, and nothing they would refuse."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from pydcap import CertificateFormatError
from pydcap.lazy import computed_once
from pydcap.pki import crl as crl_module
from pydcap.pki import der
from pydcap.pki.crl import RevocationList
from pydcap.sim import SimulatedIntel
from tests.support.edits import edited, mutants
from tests.support.testdata import NEGATIVE, REAL, require_testdata

_VALUES = ("_tbs", "issuer_raw", "this_update", "next_update", "crl_number", "has_authority_key_identifier")
_REFUSED = (ValueError, x509.InvalidVersion, x509.DuplicateExtension, UnsupportedAlgorithm, CertificateFormatError)


def _general(encoded: bytes) -> dict[str, Any] | None:
    """What ``cryptography``'s accessors read from the DER ``encoded``; None when they refuse it."""
    try:
        crl = RevocationList(x509.load_der_x509_crl(encoded), encoded)
        return {name: getattr(crl, name) for name in _VALUES}
    except _REFUSED:
        return None


def _loads(encoded: bytes) -> bool:
    try:
        x509.load_der_x509_crl(encoded)
    except (ValueError, x509.InvalidVersion):
        return False
    return True


@pytest.fixture(scope="module")
def crls() -> list[bytes]:
    """Every distinct CRL of the real and negative bundles (Intel's root CA CRL, PCK CRLs with and without revoked
    certificates), and the simulated Intel's."""
    require_testdata()
    found: dict[bytes, None] = {}
    for bundle in (*REAL, *NEGATIVE):
        for name in ("pck_crl.der", "root_ca_crl.der"):
            path = bundle.path / "collateral" / name
            if path.exists():
                found[path.read_bytes()] = None
    intel = SimulatedIntel(seed=61)
    collateral = intel.collateral_for(intel.sgx_platform())
    found[collateral.pck_crl] = found[collateral.root_ca_crl] = None
    return list(found)


def test_every_intel_crl_is_in_the_layout(crls: list[bytes]) -> None:
    assert len(crls) > 5
    for encoded in crls:
        assert crl_module._intel_layout(encoded) == _general(encoded) is not None


def test_parse_reads_intels_layout_without_the_accessors(crls: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    def unread(_self: RevocationList) -> int | None:
        raise AssertionError("read through cryptography")

    monkeypatch.setattr(RevocationList, "crl_number", computed_once(unread))
    for encoded in crls:
        assert RevocationList.parse(encoded).issuer_raw
    other = _crl(extra_extension=True)
    with pytest.raises(AssertionError, match="through cryptography"):
        RevocationList.parse(other)


NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
KEY = ec.generate_private_key(ec.SECP256R1())


def _crl(*, number: int = 1, extra_extension: bool = False, next_update: dt.datetime = NOW + dt.timedelta(30)) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Intel SGX PCK Platform CA")])
    builder = x509.CertificateRevocationListBuilder().issuer_name(name).last_update(NOW).next_update(next_update)
    builder = builder.add_extension(x509.CRLNumber(number), critical=False)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(KEY.public_key()), critical=False
    )
    if extra_extension:
        builder = builder.add_extension(x509.DeltaCRLIndicator(1), critical=False)
    revoked = x509.RevokedCertificateBuilder().serial_number(7).revocation_date(NOW).build()
    return builder.add_revoked_certificate(revoked).sign(KEY, hashes.SHA256()).public_bytes(Encoding.DER)


@pytest.mark.parametrize("number", [0, 1, 127, 128, 255, 256, 2**64, 2**158])
def test_crl_numbers_of_every_length_are_read(number: int) -> None:
    encoded = _crl(number=number)
    assert crl_module._intel_layout(encoded) == _general(encoded)
    assert RevocationList.parse(encoded).crl_number == number


def test_other_layouts_are_left_to_the_accessors() -> None:
    """A third extension, a date past 2049 (GeneralizedTime), a negative CRL number: each declined, and read or
    refused by the accessors as before."""
    base = _crl()
    assert crl_module._intel_layout(base) is not None
    for encoded in (
        _crl(extra_extension=True),
        _crl(next_update=dt.datetime(2050, 1, 1, tzinfo=dt.UTC)),
    ):
        assert crl_module._intel_layout(encoded) is None
        assert RevocationList.parse(encoded).crl_number == 1
    at = base.index(bytes.fromhex("0603551d1404030201")) + 8  # the CRL number's INTEGER: 02 01 01
    negative = base[: at + 1] + b"\xff" + base[at + 2 :]
    assert crl_module._intel_layout(negative) is None and _general(negative) is None  # cryptography refuses it
    with pytest.raises(CertificateFormatError, match="unparsable CRL"):
        RevocationList.parse(negative)


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    length = (
        bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8)
    )
    return bytes([tag]) + length + content


def _with_crl_number(encoded: bytes, integer: bytes) -> bytes:
    """``encoded`` (a CRL of ``_crl``'s layout) with its CRL number's INTEGER content replaced by ``integer``, every
    length around it written again (the signature no longer matches, which reading does not look at)."""
    outer = der.read_all(der.content(encoded, der.TAG_SEQUENCE))
    tbs = der.read_all(outer[0].value)
    aki = der.read_all(der.read_all(tbs[-1].value)[0].value)[1]
    number = _tlv(0x30, bytes.fromhex("0603551d14") + _tlv(0x04, _tlv(der.TAG_INTEGER, integer)))
    extensions = _tlv(0xA0, _tlv(0x30, number + _tlv(aki.tag, aki.value)))
    rest = b"".join(_tlv(t.tag, t.value) for t in tbs[:-1])
    return _tlv(0x30, _tlv(0x30, rest + extensions) + b"".join(_tlv(t.tag, t.value) for t in outer[1:]))


def test_a_crl_number_not_in_its_shortest_form_is_left_to_the_accessors() -> None:
    base = _crl()
    assert _with_crl_number(base, b"\x01") == base  # the re-encoding itself changes nothing
    padded = _with_crl_number(base, b"\x00\x01")
    assert crl_module._intel_layout(padded) is None
    assert crl_module._intel_layout(_with_crl_number(base, b"\x00\x80")) == _general(
        _with_crl_number(base, b"\x00\x80")
    )
    assert _loads(padded) and _general(padded) is None  # loaded, then refused when its extensions are read
    with pytest.raises(CertificateFormatError, match="unparsable CRL"):
        RevocationList.parse(padded)


def test_what_the_layout_takes_the_accessors_read_alike(crls: list[bytes]) -> None:
    """Some thousands of mutations of a root CA CRL, a PCK CRL with revoked certificates and a simulated one: of
    those ``cryptography`` loads (the only ones ``parse`` hands the layout), the layout either declines or reads
    exactly what the accessors read (which then never refuse the CRL)."""
    rng = random.Random(11)
    chosen = [min(crls, key=len), max(crls, key=len), crls[-1]]
    taken = declined = 0
    for encoded in chosen:
        for mutant in mutants(encoded, rng):
            if not _loads(mutant):
                continue
            fast = crl_module._intel_layout(mutant)
            if fast is None:
                declined += 1
                continue
            taken += 1
            assert fast == _general(mutant), mutant.hex()
    assert taken > 1000 and declined > 50  # signatures, names, key identifiers, serials; lengths, tags, dates


EDITED = [_crl(), _crl(number=2**64)]  # made once: a signature differs from one signing to the next


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_random_edits_are_read_alike_or_declined(data: st.DataObject) -> None:
    encoded = edited(data.draw(st.sampled_from(EDITED)), data)
    if _loads(encoded) and (fast := crl_module._intel_layout(encoded)) is not None:
        assert fast == _general(encoded)
