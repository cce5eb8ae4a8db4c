"""The host API: start an enclave with AttestationParameters.DCAP(), ship its instance info, verify it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pydcap.errors import FormatError
from pydcap.host import AttestationParameters, EnclaveHost, EnclaveInstanceInfo, HostError, verify
from pydcap.sim import SimulatedIntel
from pydcap.sim.enclave import SimulatedEnclave, SimulatedQuoteSource, simulated_fallback
from pydcap.sim.server import SimulatedPcs
from tests.platform.fakes import FakeGramine

SEED = 5
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # the simulated root is announced as untrusted


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=SEED)


@pytest.fixture(scope="module")
def pcs(intel: SimulatedIntel) -> Iterator[SimulatedPcs]:
    with SimulatedPcs(intel) as server:
        yield server


@pytest.fixture
def bundled_env(pcs: SimulatedPcs, intel: SimulatedIntel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled provider pointed at the simulated Intel, with a fresh store and the simulated root."""
    root = tmp_path / "root.pem"
    root.write_bytes(intel.root_pem)
    monkeypatch.setenv("PYDCAP_COLLATERAL_SERVICE", "pcs")
    monkeypatch.setenv("PYDCAP_COLLATERAL_URL", pcs.url)
    monkeypatch.setenv("PYDCAP_CACHE", str(tmp_path / "cache.db"))
    monkeypatch.setenv("PYDCAP_TRUSTED_ROOT", str(root))
    monkeypatch.setenv("PYDCAP_SYSROOT", str(tmp_path / "sysroot"))
    monkeypatch.setenv("PYDCAP_SIM_SEED", str(SEED))
    monkeypatch.delenv("PYDCAP_PROVIDER", raising=False)
    return root


def test_dcap_needs_no_arguments() -> None:
    assert AttestationParameters.DCAP() == AttestationParameters("DCAP", None)


def test_start_fetch_serialize_verify(intel: SimulatedIntel, bundled_env: Path) -> None:
    enclave = SimulatedEnclave(name="hello", signer="acme", product_id=7, svn=3)
    host = EnclaveHost(SimulatedQuoteSource(intel.sgx_platform(), enclave))
    info = host.start(AttestationParameters.DCAP(), report_data=b"session key hash")
    assert info is host.enclave_instance_info
    assert info.provider == "bundled" and info.simulated
    assert info.measurement == enclave.mr_enclave and info.signer == enclave.mr_signer
    assert info.report_data == b"session key hash".ljust(64, b"\x00")

    shipped = EnclaveInstanceInfo.deserialize(info.serialize())
    assert shipped.quote == info.quote and shipped.collateral == info.collateral

    ok = verify(shipped.serialize(), f"S:{enclave.mr_signer.hex()} PROD:7 SEC:INSECURE", trusted_root=intel.root_pem)
    assert ok.accepted, ok.reasons
    stale = verify(shipped, f"S:{enclave.mr_signer.hex()} PROD:7 SEC:STALE", trusted_root=intel.root_pem)
    assert not stale.accepted
    assert any("simulated" in r for r in stale.reasons)
    wrong = verify(shipped, f"C:{'00' * 32} PROD:8 S:{'11' * 32} REVOKE:4 SEC:INSECURE", trusted_root=intel.root_pem)
    assert len(wrong.reasons) == 3  # code/signer, product ID, revocation level: every reason named
    intel_root = verify(shipped, f"S:{enclave.mr_signer.hex()} PROD:7 SEC:INSECURE")
    assert not intel_root.accepted and intel_root.failure is not None


def test_a_td_through_the_same_api(intel: SimulatedIntel, bundled_env: Path) -> None:
    td = SimulatedEnclave(name="my-td")
    info = EnclaveHost(SimulatedQuoteSource(intel.tdx_platform(), td)).start(AttestationParameters.DCAP())
    assert info.tee == "TDX" and info.measurement == td.mr_td and info.signer is None
    result = verify(info, f"C:{td.mr_td.hex()} SEC:INSECURE", trusted_root=intel.root_pem)
    assert result.accepted, result.reasons


def test_no_hardware_means_the_fallback_announced(bundled_env: Path, intel: SimulatedIntel) -> None:
    host = EnclaveHost(fallback=simulated_fallback)
    info = host.start(AttestationParameters.DCAP())
    assert info.platform == "simulated"
    assert "SIMULATED" in host.platform_message
    assert verify(info, f"C:{info.measurement.hex()} SEC:INSECURE", trusted_root=intel.root_pem).accepted


def test_gramine_is_detected(bundled_env: Path, intel: SimulatedIntel, tmp_path: Path) -> None:
    enclave = SimulatedEnclave(name="in-gramine")
    source = SimulatedQuoteSource(intel.sgx_platform(), enclave)
    with FakeGramine(tmp_path / "sysroot", source.get_quote):
        info = EnclaveHost().start(AttestationParameters.DCAP(), report_data=b"r")
    assert info.platform == "gramine" and info.measurement == enclave.mr_enclave


def test_collateral_failure_is_a_host_error(
    intel: SimulatedIntel, bundled_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYDCAP_COLLATERAL_URL", "http://127.0.0.1:9")
    with pytest.raises(HostError, match="quote provider gave no collateral"):
        EnclaveHost(SimulatedQuoteSource(intel.sgx_platform())).start(AttestationParameters.DCAP())


def test_instance_info_before_start_and_bad_input() -> None:
    with pytest.raises(HostError, match="not been started"):
        _ = EnclaveHost().enclave_instance_info
    with pytest.raises(HostError, match="not supported"):
        EnclaveHost().start(AttestationParameters("EPID"))
    for bad in (b"{}", b"[", b'{"format": "pydcap-enclave-instance-info/1"}'):
        with pytest.raises(FormatError):
            EnclaveInstanceInfo.deserialize(bad)


def test_unknown_provider_is_a_host_error(intel: SimulatedIntel, bundled_env: Path) -> None:
    """It used to escape ``start`` as the provider package's own error."""
    host = EnclaveHost(SimulatedQuoteSource(intel.sgx_platform()))
    with pytest.raises(HostError, match="no quote provider"):
        host.start(AttestationParameters.DCAP("/nonexistent/libdcap_quoteprov.so"))


def test_bad_simulation_seed_is_a_host_error(bundled_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYDCAP_SIM_SEED", "one")
    with pytest.raises(HostError, match="PYDCAP_SIM_SEED='one' is not a number"):
        EnclaveHost(fallback=simulated_fallback).start(AttestationParameters.DCAP())


def test_no_hardware_and_no_fallback_is_a_host_error_saying_what_to_pass(bundled_env: Path) -> None:
    host = EnclaveHost()
    with pytest.raises(HostError, match=r"no SGX or TDX quote interface .* pass EnclaveHost\(fallback=\.\.\.\)"):
        host.start(AttestationParameters.DCAP())
    assert host.platform_message == ""  # nothing was announced as simulated
