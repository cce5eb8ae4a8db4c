"""Collateral formats: exact signed bytes, TCB info and identity parsing, bundles in three forms, CRL encodings."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

from pydcap import Collateral, CollateralFormatError, EnclaveIdentity, FormatError, TcbInfo
from pydcap.collateral import SignedDocument
from pydcap.errors import InvalidCollateralError, UnsupportedVersionError
from pydcap.pki.crl import RevocationList, crl_der
from tests.support.testdata import REAL, Bundle, bundle_params, real_bundle, require_testdata


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_signed_bytes_are_exactly_what_intel_signed(bundle: Bundle | None) -> None:
    require_testdata()
    assert bundle is not None
    c = Collateral.load(bundle.path)
    checks = bundle.expected["collateral_checks"]
    assert hashlib.sha256(c.tcb_info.body).hexdigest() == checks["tcb_info"]["sha256_signed_bytes"]
    assert hashlib.sha256(c.qe_identity.body).hexdigest() == checks["qe_identity"]["sha256_signed_bytes"]


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_three_forms_load_the_same_bundle(bundle: Bundle | None, tmp_path: Path) -> None:
    require_testdata()
    assert bundle is not None
    c = Collateral.load(bundle.path)
    assert Collateral.from_json(c.to_json()) == c
    assert Collateral.from_json(c.to_dcap_qvl_json()) == c
    qvl = bundle.path / "collateral-dcap-qvl.json"
    if qvl.is_file():
        assert Collateral.load(qvl) == c
    c.write_directory(tmp_path / "out")
    assert Collateral.load(tmp_path / "out") == c
    assert c.digest == Collateral.load(tmp_path / "out").digest


def test_tcb_info_v2_and_v3() -> None:
    v2 = TcbInfo.parse(Collateral.load(real_bundle("teepot-out_of_date").path).tcb_info)
    assert v2.version == 2 and v2.id == "SGX" and v2.tdx_module is None
    assert v2.fmspc.hex() == "00706e470000"
    v3 = TcbInfo.parse(Collateral.load(real_bundle("phala-tdx-v4").path).tcb_info)
    assert v3.version == 3 and v3.is_tdx
    assert v3.tdx_module is not None and v3.tdx_module_identities is not None
    assert v3.module_identity(0x03) is not None and v3.module_identity(0x01) is not None
    assert v3.module_identity(0x02) is None
    for info in (v2, v3):
        keys = [level.sort_key for level in info.tcb_levels]
        assert keys == sorted(keys, reverse=True)


def test_levels_are_sorted_whatever_the_document_order() -> None:
    c = Collateral.load(real_bundle("phala-sgx-v3").path)
    body = json.loads(c.tcb_info.body)
    body["tcbLevels"].reverse()
    shuffled = TcbInfo.parse(SignedDocument.from_parts(json.dumps(body), "00" * 64, "tcbInfo", "tcb_info"))
    assert shuffled.tcb_levels == TcbInfo.parse(c.tcb_info).tcb_levels


def _tcb_body(name: str = "phala-sgx-v3") -> dict:  # type: ignore[type-arg]
    return json.loads(Collateral.load(real_bundle(name).path).tcb_info.body)  # type: ignore[no-any-return]


def _tcb(body: object) -> TcbInfo:
    return TcbInfo.parse(SignedDocument.from_parts(json.dumps(body), "00" * 64, "tcbInfo", "tcb_info"))


def test_duplicate_levels_make_tcb_info_invalid() -> None:
    body = _tcb_body()
    body["tcbLevels"].append(body["tcbLevels"][0])
    with pytest.raises(InvalidCollateralError, match="same TCB"):
        _tcb(body)


def test_unknown_status_makes_tcb_info_invalid() -> None:
    body = _tcb_body()
    body["tcbLevels"][0]["tcbStatus"] = "Fine"
    with pytest.raises(InvalidCollateralError, match="not a TCB status"):
        _tcb(body)


def test_unsupported_tcb_info_version() -> None:
    body = _tcb_body()
    body["version"] = 4
    with pytest.raises(UnsupportedVersionError):
        _tcb(body)


def test_missing_member_is_a_format_error_naming_it() -> None:
    body = _tcb_body()
    del body["fmspc"]
    with pytest.raises(CollateralFormatError, match=r"tcbInfo\.fmspc is missing"):
        _tcb(body)


@pytest.mark.parametrize(
    "date", ["2025-06-19T10:56:11+00:00", "2025-06-19T10:56:11.5Z", "2025-06-19", "2025-02-30T00:00:00Z"]
)
def test_dates_must_be_in_intels_exact_form(date: str) -> None:
    """Intel's parser accepts only ``YYYY-MM-DDTHH:MM:SSZ`` (a real date); pydcap accepted any ISO 8601 UTC form."""
    body = _tcb_body()
    body["nextUpdate"] = date
    with pytest.raises(InvalidCollateralError, match="is not a date like"):
        _tcb(body)


def test_component_labels_must_be_strings() -> None:
    """Intel rejects a TCB component whose ``category`` or ``type`` is not a string; pydcap ignored them."""
    body = _tcb_body()
    body["tcbLevels"][0]["tcb"]["sgxtcbcomponents"][3]["category"] = 7
    with pytest.raises(CollateralFormatError, match=r"sgxtcbcomponents\[3\]\.category must be a string"):
        _tcb(body)


def _module_levels(body: dict) -> list:  # type: ignore[type-arg]
    return body["tdxModuleIdentities"][0]["tcbLevels"]  # type: ignore[no-any-return]


def test_tdx_module_identity_defects_are_format_errors_as_in_intels_parser() -> None:
    body = _tcb_body("phala-tdx-v4")
    levels = _module_levels(body)
    levels.append(dict(levels[0], tcbStatus="Revoked"))  # a second level for the same ISVSVN: Intel refuses it
    with pytest.raises(CollateralFormatError, match="two levels for ISVSVN") as info:
        _tcb(body)
    assert not isinstance(info.value, InvalidCollateralError)

    body = _tcb_body("phala-tdx-v4")
    _module_levels(body).clear()
    with pytest.raises(CollateralFormatError, match="tcbLevels is empty") as info:
        _tcb(body)
    assert not isinstance(info.value, InvalidCollateralError)

    body = _tcb_body("phala-tdx-v4")
    body["tdxModule"]["mrsigner"] = "zz" * 48
    with pytest.raises(CollateralFormatError, match="not hex") as info:
        _tcb(body)
    assert not isinstance(info.value, InvalidCollateralError)

    del body["tdxModule"]
    with pytest.raises(InvalidCollateralError, match=r"needs tcbInfo\.tdxModule"):
        _tcb(body)


def test_enclave_identity_rules() -> None:
    c = Collateral.load(real_bundle("phala-sgx-v3").path)
    qe = EnclaveIdentity.parse(c.qe_identity)
    assert qe.id == "QE" and qe.version == 2
    assert qe.level_for(qe.tcb_levels[0].isv_svn) == qe.tcb_levels[0]
    assert qe.level_for(-1) is None
    body = json.loads(c.qe_identity.body)
    body["tcbLevels"][0]["tcbStatus"] = "ConfigurationNeeded"
    doc = SignedDocument.from_parts(json.dumps(body), "00" * 64, "enclaveIdentity", "qe_identity")
    with pytest.raises(InvalidCollateralError):
        EnclaveIdentity.parse(doc)
    body["version"] = 3
    body["tcbLevels"][0]["tcbStatus"] = "UpToDate"
    doc = SignedDocument.from_parts(json.dumps(body), "00" * 64, "enclaveIdentity", "qe_identity")
    with pytest.raises(UnsupportedVersionError):
        EnclaveIdentity.parse(doc)


def test_pretty_printed_document_keeps_its_own_bytes() -> None:
    c = Collateral.load(real_bundle("phala-sgx-v3").path)
    pretty = json.dumps({"tcbInfo": json.loads(c.tcb_info.body), "signature": c.tcb_info.signature.hex()}, indent=2)
    doc = SignedDocument.parse(pretty, "tcbInfo", "tcb_info")
    assert doc.body != c.tcb_info.body
    assert doc.compact_body == c.tcb_info.body


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _JSON, max_size=5), st.sampled_from([None, 0, 2]), st.booleans())
def test_compact_body_is_the_compact_reserialisation(body: dict[str, object], indent: int | None, ascii_: bool) -> None:
    """Whatever the served formatting, ``compact_body`` is the compact form (taken as is when already compact)."""
    served = json.dumps(body, indent=indent, ensure_ascii=ascii_).encode()
    doc = SignedDocument.from_parts(served, "00" * 64, "tcbInfo", "tcb_info")
    assert doc.compact_body == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize(
    "text",
    ['{"tcbInfo":{}}', '{"signature":"00"}', "[]", '{"tcbInfo":{},"signature":"zz"}', '{"tcbInfo":{}, x}', ""],
)
def test_malformed_documents(text: str) -> None:
    with pytest.raises(CollateralFormatError):
        SignedDocument.parse(text, "tcbInfo", "tcb_info")


def test_crl_encodings_are_equivalent() -> None:
    c = Collateral.load(real_bundle("phala-sgx-v3").path)
    der = c.pck_crl
    pem = RevocationList.parse(der).x509.public_bytes(Encoding.PEM)
    assert crl_der(der.hex()) == der
    assert crl_der(der.hex().encode() + b"\n") == der
    assert crl_der(pem) == der
    assert RevocationList.parse(der.hex()).crl_number == RevocationList.parse(der).crl_number


def test_load_errors_are_format_errors(tmp_path: Path) -> None:
    with pytest.raises(CollateralFormatError, match="lacks"):
        Collateral.load(tmp_path)
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(CollateralFormatError, match="unknown JSON"):
        Collateral.load(tmp_path / "x.json")
    unreadable = tmp_path / "unreadable"
    Collateral.load(real_bundle("phala-sgx-v3").path).write_directory(unreadable)
    (unreadable / "tcb_info.json").unlink()
    (unreadable / "tcb_info.json").mkdir()
    with pytest.raises(CollateralFormatError, match=r"tcb_info\.json"):
        Collateral.load(unreadable)


_DOCS = [Collateral.load(b.path) for b in REAL[:4]]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_DOCS or [None]),
    st.booleans(),
    st.lists(st.tuples(st.integers(0, 20000), st.integers(32, 126)), min_size=1, max_size=6),
)
def test_mutated_documents_raise_only_format_errors(
    c: Collateral | None, tcb: bool, edits: list[tuple[int, int]]
) -> None:
    if c is None:
        return
    doc = c.tcb_info if tcb else c.qe_identity
    text = bytearray(doc.to_bytes())
    for pos, value in edits:
        if pos < len(text):
            text[pos] = value
    try:
        parsed = SignedDocument.parse(bytes(text), doc.body_key, "doc")
        (TcbInfo.parse if tcb else EnclaveIdentity.parse)(parsed)
    except FormatError:
        pass
