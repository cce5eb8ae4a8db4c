"""Intel's PCK Cert Selection library as QCNL links it (``pck_cert_select_with_component``): validate a
platform's PCK certificates against its TCB info, sort them into TCB-level buckets, and take the first one
(buckets highest first, highest certificate first) that the platform's TCB reaches on every component.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from pydcap.collateral import TcbInfo
from pydcap.errors import FormatError
from pydcap.intel import Tcb
from pydcap.pki import Certificate, PckCertificate


class PckSelectionError(Exception):
    """The library's failure, named as its ``pck_cert_selection_res_t`` (``result``)."""

    def __init__(self, result: str, detail: str) -> None:
        self.result = result
        self.detail = detail
        super().__init__(f"{result}: {detail}")


def best_index(platform: Tcb, levels: Sequence[Tcb], certificates: Sequence[Tcb]) -> int:
    """The library's choice among ``certificates`` (their index) for a platform TCB, given TCB levels sorted
    highest first. Unlike Intel's PCCS, it searches past the platform's own level into lower buckets."""
    buckets: list[list[int]] = [[] for _ in range(len(levels) + 1)]  # the last: below every level
    for index, tcb in enumerate(certificates):
        bucket = buckets[next((i for i, level in enumerate(levels) if tcb.reaches(level)), len(levels))]
        place = next((i for i, other in enumerate(bucket) if tcb.reaches(certificates[other])), len(bucket))
        bucket.insert(place, index)
    for bucket in buckets:
        for index in bucket:
            if platform.reaches(certificates[index]):
                return index
    raise PckSelectionError("PCK_CERT_SELECT_PCK_NOT_FOUND", "the platform's TCB is below every PCK certificate")


@dataclass(frozen=True)
class _Parsed:
    tcb_info: TcbInfo
    certificates: list[PckCertificate]


def _parse(pce_id: int, tcb_info: bytes, pems: Sequence[bytes]) -> _Parsed:
    """The library's checks, in its order: the TCB info, then each certificate against it and the first."""
    if not pems:
        raise PckSelectionError("PCK_CERT_SELECT_INVALID_ARG", "no PCK certificates")
    try:
        info = TcbInfo.parse(tcb_info)
    except FormatError as exc:
        raise PckSelectionError("PCK_CERT_SELECT_INVALID_TCB", str(exc)) from exc
    if int.from_bytes(info.pce_id, "big") != pce_id:
        raise PckSelectionError("PCK_CERT_SELECT_INVALID_TCB_PCEID", f"TCB info is for PCE-ID {info.pce_id.hex()}")
    parsed: list[PckCertificate] = []
    for number, pem in enumerate(pems, start=1):
        try:
            pck = PckCertificate.from_certificate(Certificate.from_pem(pem))
        except FormatError as exc:
            raise PckSelectionError("PCK_CERT_SELECT_INVALID_CERT", f"certificate {number}: {exc}") from exc
        if pck.x509.version != x509.Version.v3:
            raise PckSelectionError("PCK_CERT_SELECT_INVALID_CERT_VERSION", f"certificate {number} is not X.509 v3")
        if int.from_bytes(pck.pce_id, "big") != pce_id:
            detail = f"certificate {number} is for PCE-ID {pck.pce_id.hex()}"
            raise PckSelectionError("PCK_CERT_SELECT_INVALID_PCK_PCEID", detail)
        if pck.fmspc != info.fmspc:
            detail = f"certificate {number} has FMSPC {pck.fmspc.hex()}, the TCB info {info.fmspc.hex()}"
            raise PckSelectionError("PCK_CERT_SELECT_INVALID_FMSPC", detail)
        if parsed and pck.sgx.ppid != parsed[0].sgx.ppid:
            raise PckSelectionError("PCK_CERT_SELECT_INVALID_PPID", f"certificate {number} is another platform's")
        parsed.append(pck)
    return _Parsed(info, parsed)


def select_pck(components: bytes, pce_svn: int, pce_id: int, tcb_info: bytes, pems: Sequence[bytes]) -> int:
    """The index in ``pems`` of the certificate to use for a platform with these TCB components (not a raw
    CPUSVN: this is the library's component flavour), PCESVN and PCE-ID; ``PckSelectionError`` otherwise."""
    parsed = _parse(pce_id, tcb_info, pems)
    levels = [Tcb(level.sgx_components, level.pce_svn) for level in parsed.tcb_info.tcb_levels]
    tcbs = [Tcb(p.sgx.tcb.components, p.sgx.tcb.pce_svn) for p in parsed.certificates]
    return best_index(Tcb.from_raw(components, pce_svn), levels, tcbs)
