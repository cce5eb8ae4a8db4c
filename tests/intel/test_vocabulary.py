"""Intel's words, each spelled once: a TCB and its TCBm, a platform id, TCB statuses as typed, dates as written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pydcap.intel import Incomparable, PlatformId, PlatformRequestError, Tcb, TcbFormatError, TcbStatus, iso, to_unix


def test_tcbm_is_the_cpusvn_then_pcesvn_little_endian() -> None:
    tcb = Tcb.from_raw(bytes(range(16)), 0x0D01)
    assert tcb.tcbm == "000102030405060708090A0B0C0D0E0F010D"
    assert Tcb.from_tcbm(tcb.tcbm.lower()) == tcb == Tcb.from_tcbm(f"  {tcb.tcbm}\n")
    assert tcb.cpu_svn == bytes(range(16)) and tcb.values[-1] == 0x0D01


@pytest.mark.parametrize("text", ["zz", "00" * 17, "00" * 19, ""])
def test_a_tcbm_of_another_shape_is_a_format_error(text: str) -> None:
    with pytest.raises(TcbFormatError, match="TCBm"):
        Tcb.from_tcbm(text)


def test_a_tcb_has_sixteen_byte_components_and_a_16_bit_pcesvn() -> None:
    with pytest.raises(TcbFormatError):
        Tcb((1, 2), 0)
    with pytest.raises(TcbFormatError):
        Tcb((256, *[0] * 15), 0)
    with pytest.raises(TcbFormatError):
        Tcb((0,) * 16, 0x10000)


def test_tcbs_are_ordered_component_by_component_as_intel_orders_them() -> None:
    low, high = Tcb((1,) * 16, 1), Tcb((2,) * 16, 1)
    assert low.compare(high) == -1 and high.compare(low) == 1 and low.compare(low) == 0
    assert low.at_or_below(high) and high.reaches(low) and not low.reaches(high)
    mixed = Tcb((3, *[0] * 15), 1)
    with pytest.raises(Incomparable):
        low.compare(mixed)
    assert not mixed.at_or_below(low) and not low.at_or_below(mixed)
    assert not Tcb((1,) * 16, 2).at_or_below(low)  # PCESVN counts too


def test_one_platform_id_with_the_services_spelling() -> None:
    platform = PlatformId(b"\x01" * 16, bytes(16), 13, 0, encrypted_ppid=b"\x02" * 384)
    assert platform.pce_svn_hex == "0d00" and platform.pce_id_hex == "0000"
    assert platform.key == f"{'01' * 16}/{'00' * 16}/0d00/0000"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"qe_id": b""}, "QE-ID"),
        ({"cpu_svn": bytes(15)}, "CPUSVN"),
        ({"pce_svn": 0x10000}, "PCESVN"),
        ({"pce_id": -1}, "PCE-ID"),
        ({"encrypted_ppid": b""}, "encrypted PPID"),
        ({"crypto_suite": 256}, "crypto suite"),
    ],
)
def test_a_platform_id_out_of_bounds_is_refused_where_it_is_made(fields: dict[str, object], message: str) -> None:
    good: dict[str, object] = {"qe_id": b"\x01" * 16, "cpu_svn": bytes(16), "pce_svn": 1, "pce_id": 0}
    with pytest.raises(PlatformRequestError, match=message):
        PlatformId(**{**good, **fields})  # type: ignore[arg-type]


def test_tcb_statuses_are_read_in_any_case_and_a_misspelled_one_is_refused() -> None:
    assert TcbStatus.parse("uptodate") is TcbStatus.UP_TO_DATE
    assert TcbStatus.parse(" SWHardeningNeeded ") is TcbStatus.SW_HARDENING_NEEDED
    with pytest.raises(ValueError, match=r"'UpToDat' is not a TCB status \(one of: UpToDate, "):
        TcbStatus.parse("UpToDat")


def test_time_as_pydcap_passes_it() -> None:
    assert to_unix(0) == 0 and to_unix(1.9) == 1
    assert to_unix(datetime(2025, 7, 1, 2, tzinfo=timezone(timedelta(hours=2)))) == 1751328000
    assert to_unix(None, clock=lambda: 42.5) == 42
    with pytest.raises(ValueError, match="naive"):
        to_unix(datetime(2025, 7, 1))
    assert iso(1751328000) == "2025-07-01T00:00:00Z" and iso(None) is None
    assert datetime.fromtimestamp(to_unix(datetime(2025, 7, 1, tzinfo=UTC)), UTC).isoformat().startswith("2025-07-01")
