"""Intel's PCK Cert Selection library in Python: its bucket order on small hand-made TCBs (where it differs
from Intel's PCCS), and its input checks, in its order and with its result names, on simulated certificates."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from pydcap.intel import Tcb
from pydcap.provider.qcnl.pck_selection import PckSelectionError, best_index, select_pck
from tests.provider.local_pck_files import PlatformCertificates, platform_certificates


def tcb(*values: int, pce: int = 0) -> Tcb:
    """A TCB whose first components are ``values`` (the rest zero)."""
    return Tcb((*values, *[0] * (16 - len(values))), pce)


def test_highest_certificate_of_a_bucket_first_whatever_the_listing_order() -> None:
    certificates = [tcb(1, 1), tcb(2, 2), tcb(2, 1)]
    assert best_index(tcb(3, 3), [tcb(1, 1)], certificates) == 1
    assert best_index(tcb(2, 1), [tcb(1, 1)], certificates) == 2


def test_the_search_goes_past_the_platforms_own_level() -> None:
    # Intel's PCCS stops at the level of the raw TCB (2,2) and finds nothing; the library goes on to (1,1).
    assert best_index(tcb(2, 2), [tcb(2, 2), tcb(1, 1)], [tcb(2, 3), tcb(1, 1)]) == 1


def test_incomparable_certificates_keep_their_listing_order_in_a_bucket() -> None:
    certificates = [tcb(3, 1), tcb(1, 3)]
    assert best_index(tcb(3, 3), [tcb(1, 1)], certificates) == 0
    assert best_index(tcb(3, 3), [tcb(1, 1)], list(reversed(certificates))) == 0
    assert best_index(tcb(1, 3), [tcb(1, 1)], certificates) == 1


def test_certificates_below_every_level_come_last() -> None:
    levels = [tcb(5, 5), tcb(3, 3)]
    assert best_index(tcb(9, 9), levels, [tcb(1, 1), tcb(3, 3)]) == 1
    assert best_index(tcb(2, 2), levels, [tcb(1, 1), tcb(3, 3)]) == 0


def test_pcesvn_counts_like_a_component() -> None:
    certificates = [tcb(2, 2, pce=11), tcb(1, 1, pce=10)]
    assert best_index(tcb(2, 2, pce=11), [tcb(1, 1, pce=10)], certificates) == 0
    assert best_index(tcb(2, 2, pce=10), [tcb(1, 1, pce=10)], certificates) == 1
    with pytest.raises(PckSelectionError) as info:
        best_index(tcb(2, 2, pce=9), [tcb(1, 1, pce=10)], certificates)
    assert info.value.result == "PCK_CERT_SELECT_PCK_NOT_FOUND"


# ---- the library's checks, on simulated certificates ------------------------------------------------------


def pems(pc: PlatformCertificates) -> list[bytes]:
    return [unquote(str(entry["cert"])).encode() for entry in pc.listing]


def result_of(components: bytes, pce_id: int, tcb_info: bytes, certificates: list[bytes]) -> str:
    with pytest.raises(PckSelectionError) as info:
        select_pck(components, 13, pce_id, tcb_info, certificates)
    return info.value.result


def test_selection_on_a_platforms_certificates() -> None:
    pc = platform_certificates()
    index = select_pck(bytes.fromhex("06" * 2 + "0202030101" + "00" * 9), 13, 0, pc.tcb_info, pems(pc))
    assert pc.listing[index]["tcbm"] == "060602020301010000000000000000000D00"


def test_the_checks_in_the_librarys_order() -> None:
    pc = platform_certificates()
    other = platform_certificates(name="another-machine")
    elsewhere = platform_certificates(name="other-fmspc", fmspc="00606A000000")
    other_pce = platform_certificates(name="other-pce", fmspc="00606A000001", pce_id="0001")
    top = bytes([0xFF] * 16)
    assert result_of(top, 0, pc.tcb_info, []) == "PCK_CERT_SELECT_INVALID_ARG"
    assert result_of(top, 0, b'{"tcbInfo": {}}', pems(pc)) == "PCK_CERT_SELECT_INVALID_TCB"
    assert result_of(top, 1, pc.tcb_info, pems(pc)) == "PCK_CERT_SELECT_INVALID_TCB_PCEID"
    assert result_of(top, 0, pc.tcb_info, [*pems(pc), b"not a certificate"]) == "PCK_CERT_SELECT_INVALID_CERT"
    assert result_of(top, 1, other_pce.tcb_info, pems(pc)) == "PCK_CERT_SELECT_INVALID_PCK_PCEID"
    assert result_of(top, 0, pc.tcb_info, pems(elsewhere)) == "PCK_CERT_SELECT_INVALID_FMSPC"
    assert result_of(top, 0, pc.tcb_info, [*pems(pc), pems(other)[0]]) == "PCK_CERT_SELECT_INVALID_PPID"
