"""Gramine and configfs-tsm quote sources against fake trees with a simulated quoting enclave behind them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydcap import Quote, Verifier
from pydcap.platform import ConfigfsTsmQuoteSource, GramineQuoteSource, PlatformError, detect
from pydcap.sim import SimulatedIntel
from tests.platform.fakes import FakeGramine, FakeTsm


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=7)


def test_gramine_quote_carries_our_report_data_and_verifies(intel: SimulatedIntel, tmp_path: Path) -> None:
    platform = intel.sgx_platform()
    with FakeGramine(tmp_path, lambda rd: platform.quote(report_data=rd)):
        source = GramineQuoteSource(tmp_path / "dev" / "attestation", timeout=5)
        quote = source.get_quote(b"nonce-1")
        assert Quote.parse(quote).report_data == b"nonce-1".ljust(64, b"\x00")
        again = source.get_quote(b"nonce-2")
        assert Quote.parse(again).report_data == b"nonce-2".ljust(64, b"\x00")
    result = Verifier(trusted_root=intel.trust_root).verify(quote, intel.collateral_for(quote), at=intel.now)
    assert result.failure is None, result.detail


def test_gramine_needs_dcap(intel: SimulatedIntel, tmp_path: Path) -> None:
    platform = intel.sgx_platform()
    with (
        FakeGramine(tmp_path, lambda rd: platform.quote(report_data=rd), attestation_type="epid"),
        pytest.raises(PlatformError, match="'epid'"),
    ):
        GramineQuoteSource(tmp_path / "dev" / "attestation").get_quote(b"x")


def test_gramine_stale_quote_times_out(intel: SimulatedIntel, tmp_path: Path) -> None:
    platform = intel.sgx_platform()
    d = tmp_path / "dev" / "attestation"
    d.mkdir(parents=True)
    (d / "attestation_type").write_text("dcap")
    (d / "quote").write_bytes(platform.quote(report_data=b"old"))
    with pytest.raises(PlatformError, match="timed out"):
        GramineQuoteSource(d, timeout=0.2).get_quote(b"new")


def test_report_data_longer_than_64_bytes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match="at most 64"):
        GramineQuoteSource(tmp_path).get_quote(b"x" * 65)


def test_tsm_quote(intel: SimulatedIntel, tmp_path: Path) -> None:
    td = intel.tdx_platform()
    with FakeTsm(tmp_path, lambda rd: td.quote(report_data=rd)) as fake:
        source = ConfigfsTsmQuoteSource(tmp_path / "sys/kernel/config/tsm/report", timeout=5)
        quote = source.get_quote(b"td-nonce")
        assert fake.reports == 1
    parsed = Quote.parse(quote)
    assert parsed.tee == "TDX" and parsed.report_data == b"td-nonce".ljust(64, b"\x00")
    assert list((tmp_path / "sys/kernel/config/tsm/report").iterdir()) == []  # the entry was removed
    result = Verifier(trusted_root=intel.trust_root).verify(quote, intel.collateral_for(quote), at=intel.now)
    assert result.failure is None, result.detail


def test_tsm_wrong_provider(intel: SimulatedIntel, tmp_path: Path) -> None:
    td = intel.tdx_platform()
    with (
        FakeTsm(tmp_path, lambda rd: td.quote(report_data=rd), provider="sev_guest"),
        pytest.raises(PlatformError, match="not tdx_guest"),
    ):
        ConfigfsTsmQuoteSource(tmp_path / "sys/kernel/config/tsm/report", timeout=5).get_quote(b"x")


def test_tsm_without_a_kernel_times_out(tmp_path: Path) -> None:
    d = tmp_path / "report"
    d.mkdir()
    with pytest.raises(PlatformError, match="generation"):
        ConfigfsTsmQuoteSource(d, timeout=0.2).get_quote(b"x")


def test_detection_order(intel: SimulatedIntel, tmp_path: Path) -> None:
    assert detect(tmp_path).kind == "simulated"
    assert "SIMULATED" in detect(tmp_path).message
    (tmp_path / "sys/kernel/config/tsm/report").mkdir(parents=True)
    assert detect(tmp_path).kind == "configfs-tsm"
    (tmp_path / "dev/attestation").mkdir(parents=True)
    (tmp_path / "dev/attestation/attestation_type").write_text("dcap")
    found = detect(tmp_path)
    assert found.kind == "gramine" and "'dcap'" in found.message
