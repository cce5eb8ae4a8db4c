"""Signed collateral documents: Intel's member layout, compact bytes, a signature over exactly the served body,
and content pydcap's parsers accept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pydcap import EnclaveIdentity, TcbInfo
from pydcap.collateral import SignedDocument
from pydcap.sim import SimulatedIntel
from pydcap.sim.catalog import SGX_FMSPC, TDX_FMSPC
from pydcap.trust.signatures import verify_raw
from tests.support.testdata import TESTDATA, require_testdata


def _layout(value: Any) -> Any:
    """Member names and value types, in order; arrays by their first element."""
    if isinstance(value, dict):
        return [(k, _layout(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_layout(value[0])] if value else []
    return type(value).__name__


def _real(bundle: str, name: str) -> dict[str, Any]:
    require_testdata()
    data: dict[str, Any] = json.loads((TESTDATA / "real" / bundle / "collateral" / name).read_text())
    return data


def _signed(intel: SimulatedIntel, document: bytes, key: str) -> dict[str, Any]:
    signed = SignedDocument.parse(document, key, "test")
    assert verify_raw(intel.pki.tcb_signing.key.public_key(), signed.signature, signed.body)
    assert signed.body == signed.compact_body  # compact, as Intel serves it
    assert document == signed.to_bytes()
    data: dict[str, Any] = json.loads(document)
    return data


@pytest.mark.parametrize(
    ("bundle", "tee", "fmspc"),
    [("teepot-azure", "sgx", SGX_FMSPC), ("phala-tdx-v4", "tdx", TDX_FMSPC), ("teepot-tdx_1", "tdx", TDX_FMSPC)],
)
def test_tcb_info_v3_has_intels_layout(intel: SimulatedIntel, bundle: str, tee: str, fmspc: bytes) -> None:
    real = _real(bundle, "tcb_info.json")["tcbInfo"]
    sim = _signed(intel, intel.tcb_info(fmspc, tee), "tcbInfo")["tcbInfo"]
    assert list(sim) == list(real)
    advised = [lv for lv in real["tcbLevels"] if "advisoryIDs" in lv]
    sim_advised = [lv for lv in sim["tcbLevels"] if "advisoryIDs" in lv]
    assert _layout(sim_advised[0]) == _layout(advised[0])
    if tee == "tdx":
        assert _layout(sim["tdxModule"]) == _layout(real["tdxModule"])
        assert _layout(sim["tdxModuleIdentities"]) == _layout(real["tdxModuleIdentities"])
        top_real, top_sim = real["tcbLevels"][0]["tcb"], sim["tcbLevels"][0]["tcb"]
        strip = [{k: v for k, v in c.items() if k != "svn"} for c in top_real["sgxtcbcomponents"]]
        assert [{k: v for k, v in c.items() if k != "svn"} for c in top_sim["sgxtcbcomponents"]] == strip


def test_tcb_info_v2_is_what_pcs_api_v3_serves(intel: SimulatedIntel) -> None:
    real = _real("teepot-out_of_date", "tcb_info.json")["tcbInfo"]
    sim = _signed(intel, intel.tcb_info(SGX_FMSPC, "sgx", version=2), "tcbInfo")["tcbInfo"]
    assert list(sim) == list(real)
    assert _layout(sim["tcbLevels"][-1]) == _layout(real["tcbLevels"][-1])
    assert all("advisoryIDs" not in level for level in sim["tcbLevels"])
    assert TcbInfo.parse(intel.tcb_info(SGX_FMSPC, "sgx", version=2)).version == 2


@pytest.mark.parametrize(("enclave", "bundle"), [("QE", "phala-sgx-v3"), ("TD_QE", "phala-tdx-v4")])
def test_enclave_identity_has_intels_layout(intel: SimulatedIntel, enclave: str, bundle: str) -> None:
    real = _real(bundle, "qe_identity.json")["enclaveIdentity"]
    sim = _signed(intel, intel.enclave_identity(enclave), "enclaveIdentity")["enclaveIdentity"]
    assert list(sim) == list(real)
    assert _layout(sim["tcbLevels"][0]) == _layout(real["tcbLevels"][0])
    for name in ("miscselect", "miscselectMask", "attributes", "attributesMask", "mrsigner", "isvprodid"):
        assert sim[name] == real[name], name


def test_api_v3_identities_carry_no_advisories(intel: SimulatedIntel) -> None:
    old = _signed(intel, intel.enclave_identity("QE", advisories=False), "enclaveIdentity")
    assert all("advisoryIDs" not in level for level in old["enclaveIdentity"]["tcbLevels"])
    assert any(
        "advisoryIDs" in level for level in json.loads(intel.enclave_identity("QE"))["enclaveIdentity"]["tcbLevels"]
    )


def test_documents_are_issued_at_now_for_thirty_days(intel: SimulatedIntel) -> None:
    info = TcbInfo.parse(intel.tcb_info(SGX_FMSPC))
    identity = EnclaveIdentity.parse(intel.enclave_identity("TD_QE"))
    for document in (info, identity):
        assert document.issue_date == intel.now
        assert document.next_update == intel.now + 30 * 86_400


def test_standard_and_early_documents_differ_by_a_tcb_recovery(intel: SimulatedIntel) -> None:
    standard = TcbInfo.parse(intel.tcb_info(TDX_FMSPC, "tdx", update="standard"))
    early = TcbInfo.parse(intel.tcb_info(TDX_FMSPC, "tdx", update="early"))
    assert early.tcb_evaluation_data_number == standard.tcb_evaluation_data_number + 1
    assert early.tcb_levels[0].sgx_components > standard.tcb_levels[0].sgx_components
    assert intel.tcb_info(TDX_FMSPC, "tdx", evaluation=early.tcb_evaluation_data_number) == intel.tcb_info(
        TDX_FMSPC, "tdx", update="early"
    )
    with pytest.raises(LookupError):
        intel.tcb_info(TDX_FMSPC, "tdx", evaluation=3)
    with pytest.raises(LookupError):
        intel.tcb_info(SGX_FMSPC, "tdx")


def test_evaluation_numbers_document_lists_both_numbers(intel: SimulatedIntel) -> None:
    body = _signed(intel, intel.tcb_evaluation_data_numbers("tdx"), "tcbEvaluationDataNumbers")
    numbers = [n["tcbEvaluationDataNumber"] for n in body["tcbEvaluationDataNumbers"]["tcbEvalNumbers"]]
    assert numbers == sorted(intel.catalog.numbers, reverse=True)
    assert body["tcbEvaluationDataNumbers"]["id"] == "TDX"
