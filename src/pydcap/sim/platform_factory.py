"""Turning platform settings (explicit arguments merged over a scenario's) into the fields of a simulated
platform: defaults from the catalog, identity values derived from (seed, realm, TEE, name), TDX SVN bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from pydcap.pki.pck import SgxType
from pydcap.sim import catalog as cat
from pydcap.sim.keys import derive_bytes, derive_key
from pydcap.sim.pki import CA_KINDS

PLATFORM_MANIFEST_SIZE = 8431  # the smallest platform manifest PCS accepts (16862 hex characters)
SGX_SETTINGS = frozenset(
    {"fmspc", "ca", "cpu_svn", "pce_svn", "pce_id", "qe_svn", "sgx_type", "qe_mr_signer", "pck_tcb"}
)
TDX_SETTINGS = SGX_SETTINGS | {
    "td_version",
    "module_svn",
    "module_version",
    "late_microcode",
    "tee_tcb_svn",
    "current_module_svn",
    "current_late_microcode",
    "tee_tcb_svn2",
    "mr_seam",
    "mr_signer_seam",
    "seam_attributes",
}


def fixed_bytes(value: bytes | str | Sequence[int], size: int, name: str) -> bytes:
    """Bytes from bytes, a hex string or a sequence of ints, checked to be ``size`` long."""
    raw = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    if len(raw) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(raw)}")
    return raw


def common_fields(tee: str, s: Mapping[str, Any], catalog: cat.Catalog) -> dict[str, Any]:
    """TCB and quoting-enclave fields shared by SGX and TDX platforms, defaults filled in."""
    unknown = set(s) - (TDX_SETTINGS if tee == "tdx" else SGX_SETTINGS)
    if unknown:
        raise TypeError(f"unknown {tee} platform settings: {', '.join(sorted(unknown))}")
    ca = s.get("ca", "platform" if tee == "tdx" else "processor")
    if ca not in CA_KINDS:
        raise ValueError(f"ca must be 'processor' or 'platform', not {ca!r}")
    components, pce_svn = cat.SGX_TCB_FOR_STATUS[cat.UP_TO_DATE]
    enclave = catalog.enclaves["TD_QE" if tee == "tdx" else "QE"]
    return {
        "fmspc": fixed_bytes(s.get("fmspc", catalog.default_fmspc[tee]), 6, "FMSPC"),
        "ca": ca,
        "cpu_svn": fixed_bytes(s.get("cpu_svn", bytes(components)), 16, "CPUSVN"),
        "pce_svn": int(s.get("pce_svn", pce_svn)),
        "pce_id": fixed_bytes(s.get("pce_id", b"\x00\x00"), 2, "PCE-ID"),
        "qe_svn": int(s.get("qe_svn", cat.QE_SVN_FOR_STATUS[enclave.id][cat.UP_TO_DATE])),
        "sgx_type": SgxType(s.get("sgx_type", SgxType.SCALABLE if ca == "platform" else SgxType.STANDARD)),
        "qe_mr_signer": fixed_bytes(s.get("qe_mr_signer", enclave.mr_signer), 32, "QE MRSIGNER"),
        "qe_isv_prod_id": enclave.isv_prod_id,
    }


def pck_tcb(s: Mapping[str, Any]) -> tuple[tuple[int, ...], int] | None:
    """An explicitly requested PCK certificate TCB (16 components, PCESVN), or None for PCS's selection."""
    if "pck_tcb" not in s:
        return None
    components, pce_svn = s["pck_tcb"]
    return tuple(fixed_bytes(components, 16, "PCK TCB components")), int(pce_svn)


def identity_fields(seed: int, label: str, multi_package: bool) -> dict[str, Any]:
    """PPID, QE ID, encrypted PPID, attestation key and (multi-package platforms) manifest and instance ID,
    all derived from (seed, label): the same label is the same machine."""
    return {
        "ppid": derive_bytes(seed, f"{label}/ppid", 16),
        "qe_id": derive_bytes(seed, f"{label}/qe-id", 16),
        "encrypted_ppid": derive_bytes(seed, f"{label}/encrypted-ppid", 384),
        "platform_manifest": derive_bytes(seed, f"{label}/manifest", PLATFORM_MANIFEST_SIZE) if multi_package else None,
        "platform_instance_id": derive_bytes(seed, f"{label}/instance-id", 16) if multi_package else None,
        "attestation_key": derive_key(seed, f"{label}/attestation-key"),
    }


def tdx_fields(s: Mapping[str, Any]) -> dict[str, Any]:
    """TEE_TCB_SVN (launch), TEE_TCB_SVN2 (current, TD 1.5 only) and the TDX module's measurements."""
    module_svn = int(s.get("module_svn", cat.MODULE_SVN_FOR_STATUS[cat.UP_TO_DATE]))
    module_version = int(s.get("module_version", 1))
    late = int(s.get("late_microcode", cat.DEFAULT_LATE_MICROCODE))

    def svn(module: int, late_microcode: int) -> bytes:
        return bytes([module, module_version, late_microcode, *([0] * 13)])

    launch = fixed_bytes(s["tee_tcb_svn"], 16, "TEE_TCB_SVN") if "tee_tcb_svn" in s else svn(module_svn, late)
    implied = "1.5" if {"tee_tcb_svn2", "current_module_svn", "current_late_microcode"} & set(s) else "1.0"
    td_version = s.get("td_version", implied)
    if td_version not in ("1.0", "1.5"):
        raise ValueError(f"td_version must be '1.0' or '1.5', not {td_version!r}")
    current: bytes | None = None
    if td_version == "1.5":
        if "tee_tcb_svn2" in s:
            current = fixed_bytes(s["tee_tcb_svn2"], 16, "TEE_TCB_SVN2")
        else:
            module = int(s.get("current_module_svn", launch[0]))
            late_now = int(s.get("current_late_microcode", launch[2]))
            current = bytes([module, launch[1], late_now, *launch[3:]])
    measurement = hashlib.sha384(f"pydcap-sim TDX module {launch[1]}.{launch[0]}".encode()).digest()
    return {
        "tee_tcb_svn": launch,
        "tee_tcb_svn2": current,
        "mr_seam": fixed_bytes(s.get("mr_seam", measurement), 48, "MRSEAM"),
        "mr_signer_seam": fixed_bytes(s.get("mr_signer_seam", bytes(48)), 48, "MRSIGNERSEAM"),
        "seam_attributes": fixed_bytes(s.get("seam_attributes", bytes(8)), 8, "SEAMATTRIBUTES"),
    }
