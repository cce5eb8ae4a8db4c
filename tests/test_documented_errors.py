"""Only pydcap's documented exceptions leave the public API (issue 12, finding 4): a certificate of an unknown
X.509 version or with a curve ``cryptography`` does not know, a CRL with an extension twice, a lone surrogate in
collateral JSON. ``verify_quote`` answers each with Intel's failure name (a value, not an exception);
``Collateral.load`` and ``Collateral.from_json`` raise ``CollateralFormatError``; ``admit`` raises
``UntrustedCollateralError``. The PCCS's import is in ``tests/pccs/test_collateral_file.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pydcap import Collateral, verify_quote
from pydcap.cache import EntryKey, UntrustedCollateralError, admit
from pydcap.errors import CertificateFormatError, CollateralFormatError
from pydcap.intel.outcomes import Failure
from pydcap.pki import RevocationList, TrustRoot
from pydcap.sources.models import CollateralRequest
from tests.pem_patch import patch_certificate
from tests.support.testdata import Bundle, real_bundle

P256 = bytes.fromhex("06082a8648ce3d030107")  # the OID of prime256v1, as DER
UNKNOWN_CURVE = bytes.fromhex("06082a8648ce3d030108")  # 1.2.840.10045.3.1.8: no curve cryptography knows
VERSION_3 = b"\xa0\x03\x02\x01\x02"
CRL_NUMBER_OID = b"\x06\x03\x55\x1d\x14"
AKI_OID = b"\x06\x03\x55\x1d\x23"


@pytest.fixture
def bundle() -> Bundle:
    return real_bundle("phala-sgx-v3")


def _files(bundle: Bundle) -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in (bundle.path / "collateral").iterdir()}


def _collateral(bundle: Bundle, **parts: bytes) -> Collateral:
    return Collateral.create(**{**_files(bundle), **parts})


def test_a_pck_certificate_of_an_unknown_x509_version_is_an_unsupported_certificate_format(bundle: Bundle) -> None:
    quote = patch_certificate(bundle.quote, 0, VERSION_3, b"\xa0\x03\x02\x01\x05")
    result = verify_quote(quote, _collateral(bundle), at=bundle.at)
    assert result.failure is Failure.UNSUPPORTED_CERT_FORMAT and "X509 version" in result.detail


@pytest.mark.parametrize(
    ("index", "failure"),
    [
        (0, Failure.SGX_PCK_INVALID_ISSUER),
        (1, Failure.SGX_INTERMEDIATE_CA_INVALID_ISSUER),
        (2, Failure.SGX_ROOT_CA_INVALID_ISSUER),
    ],
    ids=["pck", "intermediate", "root"],
)
def test_an_unknown_curve_in_the_quotes_chain_is_the_failed_signature_intel_names(
    bundle: Bundle, index: int, failure: Failure
) -> None:
    # Intel reads a certificate's key as raw P-256 point bits whatever curve it names: changing the name breaks
    # the signature over the certificate, and that is what Intel reports.
    quote = patch_certificate(bundle.quote, index, P256, UNKNOWN_CURVE)
    assert verify_quote(quote, _collateral(bundle), at=bundle.at).failure is failure


def test_an_unknown_curve_in_a_collateral_chain_is_a_named_failure_and_refused_by_admission(bundle: Bundle) -> None:
    chain = (bundle.path / "collateral" / "tcb_info_issuer_chain.pem").read_bytes()
    for index in (0, 1):
        patched = patch_certificate(chain, index, P256, UNKNOWN_CURVE)
        result = verify_quote(bundle.quote, _collateral(bundle, tcb_info_issuer_chain=patched), at=bundle.at)
        assert result.failure in (Failure.SGX_TCB_SIGNING_CERT_INVALID_ISSUER, Failure.SGX_ROOT_CA_INVALID_ISSUER)
        request = CollateralRequest.from_quote(bundle.quote)
        collateral = bundle.path / "collateral"
        with pytest.raises(UntrustedCollateralError):
            admit(
                EntryKey.tcb_info(request.tee, request.fmspc),
                (collateral / "tcb_info.json").read_bytes(),
                patched,
                TrustRoot.intel(),
                root_ca_crl=(collateral / "root_ca_crl.der").read_bytes(),
            )


def test_a_crl_with_an_extension_twice_is_an_unsupported_crl_format(bundle: Bundle) -> None:
    crl = (bundle.path / "collateral" / "root_ca_crl.der").read_bytes().replace(CRL_NUMBER_OID, AKI_OID)
    with pytest.raises(CertificateFormatError, match="Duplicate"):
        RevocationList.parse(crl)
    result = verify_quote(bundle.quote, _collateral(bundle, root_ca_crl=crl), at=bundle.at)
    assert result.failure is Failure.SGX_CRL_UNSUPPORTED_FORMAT


@pytest.mark.parametrize("form", ["pydcap", "dcap-qvl"])
@pytest.mark.parametrize("member", ["tcb_info", "pck_crl_issuer_chain"])
def test_a_lone_surrogate_in_collateral_json_is_a_collateral_format_error(
    bundle: Bundle, tmp_path: Path, form: str, member: str
) -> None:
    loaded = _collateral(bundle)
    document = json.loads(loaded.to_json() if form == "pydcap" else loaded.to_dcap_qvl_json())
    document[member] = document[member][:-1] + "\ud800" + document[member][-1:]
    path = tmp_path / "collateral.json"
    path.write_text(json.dumps(document))  # ASCII, with the surrogate escaped as \ud800
    with pytest.raises(CollateralFormatError, match="UTF-8"):
        Collateral.load(path)


def _with_tcb_info_body(bundle: Bundle, body: bytes, form: str, path: Path) -> Collateral:
    """The bundle's collateral read back, in ``form``, with ``body`` as the TCB info's body."""
    loaded = _collateral(bundle)
    served = b'{"tcbInfo":%s,"signature":"%s"}' % (body, loaded.tcb_info.signature.hex().encode())
    if form == "served":
        return Collateral.create(**{**_files(bundle), "tcb_info": served})
    document = json.loads(loaded.to_json() if form == "pydcap" else loaded.to_dcap_qvl_json())
    document["tcb_info"] = served.decode() if form == "pydcap" else body.decode()
    path.write_text(json.dumps(document))
    return Collateral.load(path)


@pytest.mark.parametrize("form", ["pydcap", "dcap-qvl", "served"])
def test_a_lone_surrogate_escape_inside_a_signed_document_is_a_collateral_format_error(
    bundle: Bundle, tmp_path: Path, form: str
) -> None:
    """The escape ``\\ud800`` written inside the TCB info's own JSON (an unknown member, so nothing else reads it):
    the body has no UTF-8 form to check the signature over, so reading the collateral refuses it; a proper
    surrogate pair (an emoji) reads, and only the signature then fails."""
    original = _collateral(bundle).tcb_info.body
    for escape, refused in ((b"\\ud800", True), (b"\\ud83d\\ude00", False)):
        body = b'{"x":"%s",%s' % (escape, original[1:])
        if refused:
            with pytest.raises(CollateralFormatError, match="lone surrogate"):
                _with_tcb_info_body(bundle, body, form, tmp_path / "collateral.json")
        else:
            collateral = _with_tcb_info_body(bundle, body, form, tmp_path / "collateral.json")
            result = verify_quote(bundle.quote, collateral, at=bundle.at)
            assert result.failure is Failure.TCB_INFO_INVALID_SIGNATURE
