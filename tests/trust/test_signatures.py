"""Raw (r || s) ECDSA signatures: their DER form, and the checks made with it."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from pydcap import Quote
from pydcap.pki.trust import public_key_point
from pydcap.sim import SimulatedIntel
from pydcap.trust.signatures import der_signature, document_signed, public_key_from_point, verify_raw

_HALF = st.one_of(
    st.integers(min_value=0, max_value=2**256 - 1),
    st.integers(min_value=0, max_value=2**64),  # many leading zero bytes
    st.integers(min_value=2**255, max_value=2**256 - 1),  # top bit set: a leading zero in DER
    st.sampled_from([1, 0x7F, 0x80, 0xFF, 0x100, 2**248 - 1, 2**248]),
)


@settings(max_examples=2000, deadline=None)
@given(_HALF, _HALF)
def test_der_signature_is_cryptographys_encoding(r: int, s: int) -> None:
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if r == 0 or s == 0:
        assert der_signature(raw) is None
    else:
        assert der_signature(raw) == encode_dss_signature(r, s)


def test_der_signature_refuses_a_wrong_length() -> None:
    assert der_signature(b"\x01" * 63) is None
    assert der_signature(b"\x01" * 65) is None
    assert der_signature(b"") is None


def test_quote_signature_checked_through_the_der_form() -> None:
    quote = Quote.parse(SimulatedIntel().sgx_platform().quote())
    key = public_key_from_point(b"\x04" + quote.attestation_key)
    assert key is not None
    assert verify_raw(key, quote.signature, quote.signed_data)
    assert not verify_raw(key, quote.signature, quote.signed_data + b"\x00")
    for flipped in (0, 31, 32, 63):  # a bit of r or of s
        signature = bytearray(quote.signature)
        signature[flipped] ^= 0x01
        assert not verify_raw(key, bytes(signature), quote.signed_data)
    assert not verify_raw(key, bytes(32) + quote.signature[32:], quote.signed_data)
    assert not verify_raw(key, quote.signature[:32] + bytes(32), quote.signed_data)


def test_a_document_is_checked_with_its_signers_point_as_intel_reads_it() -> None:
    """The TCB info and QE identity signatures, for the verifier and the caches' admission alike: over the body,
    with the TCB Signing key as an uncompressed P-256 point. The same key given compressed is no P-256 point to
    Intel's library, so nothing verifies with it (``cryptography`` would read it as the same key)."""
    intel = SimulatedIntel(seed=43)
    collateral = intel.collateral_for(intel.sgx_platform(name="doc"))
    key = intel.pki.tcb_signing.key.public_key()
    uncompressed = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    compressed = key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    for document in (collateral.tcb_info, collateral.qe_identity):
        assert document_signed(document, uncompressed)
        assert not document_signed(document, compressed)
        assert not document_signed(document, public_key_point(intel.pki.root.key.public_key()))
