"""Named failures produced by altering real Intel bundles (the simulated Intel covers the rest).

Each test is named after the failure it provokes; the unaltered bundle verifies, so each alteration is
what makes the difference.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pydcap import Collateral, Failure, Quote, Quote3Error, QvResult, TrustRoot, Verifier
from pydcap.collateral import SignedDocument
from pydcap.pki.certs import split_pem_chain
from pydcap.verify import VerificationResult
from tests.support.testdata import REAL, Bundle, real_bundle, require_testdata

_E = Quote3Error

SGX = "phala-sgx-v3"
SGX_OTHER = "teepot-azure"
TDX = "phala-tdx-v4"


def verify(
    b: Bundle, quote: bytes | None = None, collateral: Collateral | None = None, **kw: object
) -> VerificationResult:
    return Verifier(**kw).appraise(quote or b.quote, collateral or Collateral.load(b.path), at=b.at)  # type: ignore[arg-type]


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


def with_chain(quote: bytes, pem: bytes) -> bytes:
    """A v3 quote with another PCK chain: the chain is not covered by any signature, only by sizes."""
    q = Quote.parse(quote)
    assert q.version == 3
    body_end = 48 + 384
    auth = quote[body_end + 4 : body_end + 4 + struct.unpack_from("<I", quote, body_end)[0]]
    head = auth[: 64 + 64 + 384 + 64 + 2 + len(q.qe_auth_data)]
    new_auth = head + struct.pack("<HI", 5, len(pem)) + pem
    return quote[:body_end] + struct.pack("<I", len(new_auth)) + new_auth


def chain_blocks(b: Bundle) -> list[bytes]:
    pem = Quote.parse(b.quote).pck_chain_pem
    assert pem is not None
    return split_pem_chain(pem)


def test_baselines_verify() -> None:
    for name in (SGX, SGX_OTHER, TDX):
        assert verify(real_bundle(name)).failure is None


def _expect(result: VerificationResult, failure: Failure, quote3_error: Quote3Error) -> None:
    """The QVL status of the defect, and Intel's API answer for it (read from qve.cpp)."""
    assert result.failure == failure, result.detail
    assert (result.quote3_error, result.qv_result) == (quote3_error, QvResult.UNSPECIFIED)
    assert result.tcb_status is None
    assert not result.accepted


def test_INVALID_QUOTE_SIGNATURE() -> None:
    b = real_bundle(SGX)
    result = verify(b, flip(b.quote, 48 + 320))  # REPORTDATA
    _expect(result, Failure.INVALID_QUOTE_SIGNATURE, _E.SGX_QL_RESULT_INVALID_SIGNATURE)


def test_INVALID_QE_REPORT_SIGNATURE() -> None:
    b = real_bundle(SGX)
    qe_report_sig = 48 + 384 + 4 + 64 + 64 + 384
    _expect(
        verify(b, flip(b.quote, qe_report_sig + 5)),
        Failure.INVALID_QE_REPORT_SIGNATURE,
        _E.SGX_QL_QE_REPORT_INVALID_SIGNATURE,
    )


def test_INVALID_QE_REPORT_DATA() -> None:
    b = real_bundle(SGX)
    attestation_key = 48 + 384 + 4 + 64
    _expect(verify(b, flip(b.quote, attestation_key + 3)), Failure.INVALID_QE_REPORT_DATA, _E.SGX_QL_ERROR_UNEXPECTED)


def test_UNSUPPORTED_QE_CERTIFICATION_DATA_TYPE() -> None:
    b = real_bundle(SGX)
    q = Quote.parse(b.quote)
    at = 48 + 384 + 4 + 64 + 64 + 384 + 64 + 2 + len(q.qe_auth_data)
    quote = b.quote[:at] + struct.pack("<H", 3) + b.quote[at + 2 :]
    _expect(
        verify(b, quote), Failure.UNSUPPORTED_QE_CERTIFICATION_DATA_TYPE, _E.SGX_QL_QUOTE_CERTIFICATION_DATA_UNSUPPORTED
    )


def test_UNSUPPORTED_QUOTE_FORMAT() -> None:
    b = real_bundle(SGX)
    _expect(verify(b, b.quote[:1000]), Failure.UNSUPPORTED_QUOTE_FORMAT, _E.SGX_QL_ERROR_INVALID_PARAMETER)


def test_UNSUPPORTED_CERT_FORMAT() -> None:
    b = real_bundle(SGX)
    leaf, intermediate, _root = chain_blocks(b)
    _expect(
        verify(b, with_chain(b.quote, leaf + b"\n" + intermediate)),
        Failure.UNSUPPORTED_CERT_FORMAT,
        _E.SGX_QL_PCK_CERT_CHAIN_ERROR,
    )


def test_SGX_ROOT_CA_MISSING() -> None:
    b = real_bundle(SGX)
    leaf, intermediate, _root = chain_blocks(b)
    signer = split_pem_chain(Collateral.load(b.path).tcb_info_issuer_chain)[0]
    _expect(
        verify(b, with_chain(b.quote, leaf + intermediate + signer)),
        Failure.SGX_ROOT_CA_MISSING,
        _E.SGX_QL_PCK_CERT_CHAIN_ERROR,
    )


def test_SGX_INTERMEDIATE_CA_MISSING() -> None:
    b = real_bundle(SGX)
    leaf, _intermediate, root = chain_blocks(b)
    signer = split_pem_chain(Collateral.load(b.path).tcb_info_issuer_chain)[0]
    _expect(
        verify(b, with_chain(b.quote, leaf + signer + root)),
        Failure.SGX_INTERMEDIATE_CA_MISSING,
        _E.SGX_QL_ERROR_UNEXPECTED,
    )


def test_SGX_PCK_MISSING() -> None:
    b = real_bundle(SGX)
    _leaf, intermediate, root = chain_blocks(b)
    signer = split_pem_chain(Collateral.load(b.path).tcb_info_issuer_chain)[0]
    _expect(
        verify(b, with_chain(b.quote, signer + intermediate + root)),
        Failure.SGX_PCK_MISSING,
        _E.SGX_QL_ERROR_UNEXPECTED,
    )


def test_SGX_PCK_INVALID_ISSUER() -> None:
    b = real_bundle(SGX)  # its PCK is issued by the Processor CA
    leaf, _intermediate, root = chain_blocks(b)
    platform_ca = chain_blocks(real_bundle(SGX_OTHER))[1]
    result = verify(b, with_chain(b.quote, leaf + platform_ca + root))
    _expect(result, Failure.SGX_PCK_INVALID_ISSUER, _E.SGX_QL_ERROR_UNEXPECTED)


def test_SGX_PCK_CERT_CHAIN_UNTRUSTED() -> None:
    b = real_bundle(SGX)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some Other Root CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    root = TrustRoot.from_pem(cert.public_bytes(serialization.Encoding.PEM))
    result = verify(b, trusted_root=root)
    _expect(result, Failure.SGX_PCK_CERT_CHAIN_UNTRUSTED, _E.SGX_QL_PCK_CERT_CHAIN_ERROR)
    assert not result.root_is_intel


def test_SGX_CRL_UNKNOWN_ISSUER() -> None:
    b = real_bundle(SGX)
    c = Collateral.load(b.path)
    _expect(
        verify(b, collateral=dataclasses.replace(c, pck_crl=c.root_ca_crl)),
        Failure.SGX_CRL_UNKNOWN_ISSUER,
        _E.SGX_QL_ERROR_UNEXPECTED,
    )


def test_SGX_CRL_UNSUPPORTED_FORMAT() -> None:
    b = real_bundle(SGX)
    c = Collateral.load(b.path)
    _expect(
        verify(b, collateral=dataclasses.replace(c, pck_crl=b"\x30\x03junk")),
        Failure.SGX_CRL_UNSUPPORTED_FORMAT,
        _E.SGX_QL_CRL_UNSUPPORTED_FORMAT,
    )


def test_SGX_CRL_INVALID_SIGNATURE() -> None:
    b = real_bundle(SGX)
    c = Collateral.load(b.path)
    broken = flip(c.pck_crl, len(c.pck_crl) - 3)  # inside the signature value
    _expect(
        verify(b, collateral=dataclasses.replace(c, pck_crl=broken)),
        Failure.SGX_CRL_INVALID_SIGNATURE,
        _E.SGX_QL_RESULT_INVALID_SIGNATURE,
    )


def _verify_edited(part: str, edit: Callable[[Any], object]) -> VerificationResult:
    """The SGX bundle verified with ``edit`` applied to the body of its ``part`` document (``tcb_info`` or
    ``qe_identity``), whose signature is kept: what the parser says comes first, else the signature fails."""
    b = real_bundle(SGX)
    c = Collateral.load(b.path)
    doc: SignedDocument = getattr(c, part)
    body = json.loads(doc.body)
    edit(body)
    edited = SignedDocument.from_parts(json.dumps(body, separators=(",", ":")), doc.signature.hex(), doc.body_key, "x")
    return verify(b, collateral=dataclasses.replace(c, **{part: edited}))


def test_TCB_INFO_INVALID_SIGNATURE() -> None:
    b = real_bundle(SGX)
    c = Collateral.load(b.path)
    tcb = dataclasses.replace(c.tcb_info, signature=flip(c.tcb_info.signature, 10))
    result = verify(b, collateral=dataclasses.replace(c, tcb_info=tcb))
    _expect(result, Failure.TCB_INFO_INVALID_SIGNATURE, _E.SGX_QL_TCBINFO_CHAIN_ERROR)


def test_TCB_INFO_INVALID_SIGNATURE_when_a_status_is_edited() -> None:
    def all_up_to_date(body: Any) -> None:
        for level in body["tcbLevels"]:
            level["tcbStatus"] = "UpToDate"

    _expect(
        _verify_edited("tcb_info", all_up_to_date), Failure.TCB_INFO_INVALID_SIGNATURE, _E.SGX_QL_TCBINFO_CHAIN_ERROR
    )


def test_SGX_ENCLAVE_IDENTITY_INVALID_SIGNATURE() -> None:
    b = real_bundle(SGX)
    c = Collateral.load(b.path)
    qe = dataclasses.replace(c.qe_identity, signature=flip(c.qe_identity.signature, 40))
    _expect(
        verify(b, collateral=dataclasses.replace(c, qe_identity=qe)),
        Failure.SGX_ENCLAVE_IDENTITY_INVALID_SIGNATURE,
        _E.SGX_QL_QEIDENTITY_CHAIN_ERROR,
    )


# As Intel's parser: a top-level member of tcbInfo that is missing is UNSUPPORTED_FORMAT, one of the wrong type,
# a version other than 2 or 3 and missing levels are INVALID.
@pytest.mark.parametrize(
    ("edit", "failure"),
    [
        (lambda body: body.pop("pceId"), Failure.SGX_TCB_INFO_UNSUPPORTED_FORMAT),
        (lambda body: body.pop("issueDate"), Failure.SGX_TCB_INFO_UNSUPPORTED_FORMAT),
        (lambda body: body.pop("tcbEvaluationDataNumber"), Failure.SGX_TCB_INFO_UNSUPPORTED_FORMAT),
        (lambda body: body.__setitem__("fmspc", 12), Failure.SGX_TCB_INFO_INVALID),
        (lambda body: body.__setitem__("version", "3"), Failure.SGX_TCB_INFO_INVALID),
        (lambda body: body.__setitem__("version", 4), Failure.SGX_TCB_INFO_INVALID),
        (lambda body: body.pop("tcbLevels"), Failure.SGX_TCB_INFO_INVALID),
        (lambda body: body.__setitem__("tcbType", "0"), Failure.SGX_TCB_INFO_INVALID),
    ],
    ids=[
        "no pceId",
        "no issueDate",
        "no tcbEvaluationDataNumber",
        "fmspc a number",
        "version a string",
        "version 4",
        "no tcbLevels",
        "tcbType a string",
    ],
)
def test_tcb_info_format_failures(edit: Callable[[Any], object], failure: Failure) -> None:
    _expect(_verify_edited("tcb_info", edit), failure, _E.SGX_QL_TCBINFO_UNSUPPORTED_FORMAT)  # qve.cpp pre-flight


def test_SGX_TCB_INFO_INVALID() -> None:
    _expect(
        _verify_edited("tcb_info", lambda body: body["tcbLevels"].append(body["tcbLevels"][-1])),
        Failure.SGX_TCB_INFO_INVALID,
        _E.SGX_QL_TCBINFO_UNSUPPORTED_FORMAT,
    )


# As Intel's parser: a member of enclaveIdentity missing or mistyped is INVALID; a level's member missing is
# UNSUPPORTED_FORMAT, mistyped INVALID; a version other than 2 is UNSUPPORTED_VERSION.
@pytest.mark.parametrize(
    ("edit", "failure"),
    [
        (lambda body: body.pop("mrsigner"), Failure.SGX_ENCLAVE_IDENTITY_INVALID),
        (lambda body: body.__setitem__("version", "2"), Failure.SGX_ENCLAVE_IDENTITY_INVALID),
        (lambda body: body.pop("tcbLevels"), Failure.SGX_ENCLAVE_IDENTITY_INVALID),
        (lambda body: body.__setitem__("version", 1), Failure.SGX_ENCLAVE_IDENTITY_UNSUPPORTED_VERSION),
        (lambda body: body["tcbLevels"][0].pop("tcbDate"), Failure.SGX_ENCLAVE_IDENTITY_UNSUPPORTED_FORMAT),
        (lambda body: body["tcbLevels"][0]["tcb"].pop("isvsvn"), Failure.SGX_ENCLAVE_IDENTITY_UNSUPPORTED_FORMAT),
        (lambda body: body["tcbLevels"][0]["tcb"].__setitem__("isvsvn", "8"), Failure.SGX_ENCLAVE_IDENTITY_INVALID),
        (
            lambda body: body["tcbLevels"][0].__setitem__("tcbStatus", "SWHardeningNeeded"),
            Failure.SGX_ENCLAVE_IDENTITY_INVALID,
        ),
    ],
    ids=[
        "no mrsigner",
        "version a string",
        "no tcbLevels",
        "version 1",
        "level without tcbDate",
        "level without isvsvn",
        "level isvsvn a string",
        "level status not for enclaves",
    ],
)
def test_enclave_identity_format_failures(edit: Callable[[Any], object], failure: Failure) -> None:
    _expect(_verify_edited("qe_identity", edit), failure, _E.SGX_QL_QEIDENTITY_UNSUPPORTED_FORMAT)  # pre-flight


def test_SGX_TCB_SIGNING_CERT_MISSING() -> None:
    b = real_bundle(SGX)
    c = Collateral.load(b.path)
    result = verify(b, collateral=dataclasses.replace(c, tcb_info_issuer_chain=c.pck_crl_issuer_chain))
    _expect(result, Failure.SGX_TCB_SIGNING_CERT_MISSING, _E.SGX_QL_ERROR_UNEXPECTED)


@pytest.mark.parametrize(("other", "words"), [(SGX_OTHER, "FMSPC"), (TDX, "TDX")], ids=["fmspc", "tee_type"])
def test_TCB_INFO_MISMATCH(other: str, words: str) -> None:
    b = real_bundle(SGX)
    theirs = Collateral.load(real_bundle(other).path)
    c = Collateral.load(b.path)
    mixed = dataclasses.replace(c, tcb_info=theirs.tcb_info, tcb_info_issuer_chain=theirs.tcb_info_issuer_chain)
    result = verify(b, collateral=mixed)
    _expect(result, Failure.TCB_INFO_MISMATCH, _E.SGX_QL_TCBINFO_MISMATCH)
    assert words in result.detail


def test_QE_IDENTITY_MISMATCH() -> None:
    b = real_bundle(SGX)
    other = Collateral.load(real_bundle(TDX).path)
    c = Collateral.load(b.path)
    mixed = dataclasses.replace(
        c, qe_identity=other.qe_identity, qe_identity_issuer_chain=other.qe_identity_issuer_chain
    )
    _expect(verify(b, collateral=mixed), Failure.QE_IDENTITY_MISMATCH, _E.SGX_QL_QEIDENTITY_MISMATCH)


def test_TCB_NOT_SUPPORTED() -> None:
    b = real_bundle("go-tdx-guest-v4-SPR")
    result = verify(b)
    _expect(result, Failure.TCB_NOT_SUPPORTED, _E.SGX_QL_TCB_NOT_SUPPORTED)


def test_failures_never_raise_for_any_collateral_swap() -> None:
    """Every pairing of a real quote with every other bundle's collateral gives a result, never an exception."""
    require_testdata()
    collaterals = [Collateral.load(b.path) for b in REAL]
    for b in REAL:
        for c in collaterals:
            result = Verifier().appraise(b.quote, c, at=b.at)
            assert (result.failure is None) == (result.tcb_status is not None)
