"""Simulated quotes have the byte layout of real ones (v3, v4, v5; SGX, TD 1.0, TD 1.5) and verify."""

from __future__ import annotations

import hashlib

import pytest

from pydcap import Verifier
from pydcap.quote import Quote, TdReport10, TdReport15
from pydcap.quote.structs import EnclaveReport
from pydcap.sim import SimulatedIntel
from pydcap.trust.signatures import public_key_from_point, verify_raw
from pydcap.verify import TcbStatus
from tests.support.sim import AT
from tests.support.testdata import TESTDATA, require_testdata


def _real(bundle: str) -> Quote:
    require_testdata()
    return Quote.parse((TESTDATA / "real" / bundle / "quote.bin").read_bytes())


def _skeleton(q: Quote) -> dict[str, object]:
    """What two quotes of the same kind share whatever platform made them."""
    return {
        "version": q.version,
        "key type": q.header.attestation_key_type,
        "tee": q.header.tee_type,
        "vendor": q.header.qe_vendor_id,
        "user data tail": q.header.user_data[16:],
        "body type": q.body_type,
        "signed size": len(q.signed_data),
        "qe attributes": q.qe_report.attributes,
        "qe misc": q.qe_report.misc_select,
        "qe auth data": q.qe_auth_data,
        "certification type": q.certification_data.type,
        "chain ends": q.certification_data.data[-2:],
        "chain length": q.certification_data.data.count(b"-----BEGIN CERTIFICATE-----"),
        "qe binding": q.qe_report.report_data[32:],
    }


@pytest.mark.parametrize(
    ("bundle", "tee", "version"),
    [("phala-sgx-v3", "sgx", 3), ("phala-tdx-v4", "tdx", 4), ("phala-tdx-v5-outdated", "tdx", 5)],
)
def test_quote_layout_matches_a_real_quote(intel: SimulatedIntel, bundle: str, tee: str, version: int) -> None:
    real = _real(bundle)
    platform = intel.tdx_platform(td_version="1.5") if tee == "tdx" else intel.sgx_platform()
    sim = Quote.parse(platform.quote(b"report", version=version))
    assert _skeleton(sim) == _skeleton(real)
    if tee == "sgx":
        assert sim.header.qe_svn == sim.qe_report.isv_svn
        assert sim.header.pce_svn == platform.pce_svn
    else:  # TDX quoting enclaves leave these zero
        assert (sim.header.qe_svn, sim.header.pce_svn) == (0, 0) == (real.header.qe_svn, real.header.pce_svn)


@pytest.mark.parametrize(("tee", "version"), [("sgx", 3), ("sgx", 4), ("sgx", 5), ("tdx", 4), ("tdx", 5)])
def test_every_quote_version_verifies(intel: SimulatedIntel, verifier: Verifier, tee: str, version: int) -> None:
    platform = intel.tdx_platform(name="v15", td_version="1.5") if tee == "tdx" else intel.sgx_platform()
    quote = platform.quote(b"nonce", version=version)
    result = verifier.appraise(quote, intel.collateral_for(quote), at=AT)
    assert result.failure is None, result.detail
    assert result.tcb_status == TcbStatus.UP_TO_DATE
    assert result.report is not None and result.report.report_data[:5] == b"nonce"


def test_td_body_type_follows_version_and_td_version(intel: SimulatedIntel) -> None:
    td10, td15 = intel.tdx_platform(), intel.tdx_platform(name="td15", td_version="1.5", current_module_svn=7)
    assert isinstance(Quote.parse(td10.quote(version=5)).body, TdReport10)
    assert not isinstance(Quote.parse(td10.quote(version=5)).body, TdReport15)
    body = Quote.parse(td15.quote()).body
    assert isinstance(body, TdReport15)
    assert body.tee_tcb_svn[0] == 5 and body.tee_tcb_svn2[0] == 7
    assert not isinstance(Quote.parse(td15.quote(version=4)).body, TdReport15)


def test_qe_report_binds_the_attestation_key_and_is_signed_by_the_pck(intel: SimulatedIntel) -> None:
    platform = intel.sgx_platform()
    q = Quote.parse(platform.quote())
    assert q.qe_report.report_data[:32] == hashlib.sha256(q.attestation_key + q.qe_auth_data).digest()
    assert verify_raw(platform.pck.key.public_key(), q.qe_report_signature, q.qe_report.raw)
    key = public_key_from_point(b"\x04" + q.attestation_key)
    assert key is not None and verify_raw(key, q.signature, q.signed_data)
    assert q.header.user_data[:16] == platform.qe_id
    assert q.pck_chain_pem is not None and q.pck_chain_pem.startswith(platform.pck_certificate_pem)


def test_enclave_fields_reach_the_report(intel: SimulatedIntel) -> None:
    q = Quote.parse(
        intel.sgx_platform().quote(
            b"\x01" * 64, mr_enclave=b"\x02" * 32, mr_signer=b"\x03" * 32, isv_prod_id=9, isv_svn=4, debug=True
        )
    )
    body = q.body
    assert isinstance(body, EnclaveReport)
    assert (body.mr_enclave, body.mr_signer, body.isv_prod_id, body.isv_svn) == (b"\x02" * 32, b"\x03" * 32, 9, 4)
    assert body.debug and body.report_data == b"\x01" * 64
    td = Quote.parse(intel.tdx_platform().quote(mr_td=b"\x04" * 48, rtmrs=(b"\x05" * 48,) * 4, debug=True))
    assert td.td_report is not None and td.td_report.mr_td == b"\x04" * 48 and td.debug
    assert td.td_report.rtmrs == (b"\x05" * 48,) * 4


def test_bad_arguments_are_refused(intel: SimulatedIntel) -> None:
    with pytest.raises(ValueError, match="at most 64"):
        intel.sgx_platform().quote(bytes(65))
    with pytest.raises(ValueError, match="version 4 or 5"):
        intel.tdx_platform().quote(version=3)
    with pytest.raises(ValueError, match="not 3, 4 or 5"):
        intel.sgx_platform().quote(version=6)
    with pytest.raises(ValueError, match="MRENCLAVE"):
        intel.sgx_platform().quote(mr_enclave=bytes(31))
