"""Intel's signed JSON collateral, written the way Intel serves it: compact JSON, members in Intel's order,
signed by the TCB Signing key over the exact body bytes, served as ``{"tcbInfo":<body>,"signature":"<hex>"}``.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from pydcap.intel.time import iso
from pydcap.sim.catalog import (
    EnclaveIdentitySpec,
    EvaluationEvent,
    FmspcEntry,
    FmspcTcb,
    IdentityLevelSpec,
    ModuleIdentitySpec,
    TcbLevelSpec,
)
from pydcap.sim.keys import sign_raw

# Category and type annotations Intel attaches to TCB components (index -> (category, type)).
_SGX_ANNOTATIONS: dict[int, tuple[str, str | None]] = {
    0: ("BIOS", "Early Microcode Update"),
    1: ("OS/VMM", "SGX Late Microcode Update"),
    2: ("OS/VMM", "TXT SINIT"),
    3: ("BIOS", None),
}
_TDX_PLATFORM_SGX_ANNOTATIONS: dict[int, tuple[str, str | None]] = {
    **_SGX_ANNOTATIONS,
    4: ("BIOS", None),
    5: ("BIOS", None),
    7: ("OS/VMM", "SEAMLDR ACM"),
}
_TDX_ANNOTATIONS: dict[int, tuple[str, str | None]] = {
    0: ("OS/VMM", "TDX Module"),
    1: ("OS/VMM", "TDX Module"),
    2: ("OS/VMM", "TDX Late Microcode Update"),
}


def compact(obj: Any) -> bytes:
    """Compact JSON in insertion order, ASCII only: the bytes Intel signs."""
    return json.dumps(obj, separators=(",", ":")).encode()


def sign_document(body_key: str, body: bytes, signer: ec.EllipticCurvePrivateKey) -> bytes:
    """``{"<body_key>":<body>,"signature":"<hex r||s>"}`` with the signature over ``body`` exactly."""
    return b'{"%s":%s,"signature":"%s"}' % (body_key.encode(), body, sign_raw(signer, body).hex().encode())


def _annotated(svns: tuple[int, ...], annotations: dict[int, tuple[str, str | None]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, svn in enumerate(svns):
        item: dict[str, Any] = {"svn": svn}
        if i in annotations:
            category, kind = annotations[i]
            item["category"] = category
            if kind is not None:
                item["type"] = kind
        out.append(item)
    return out


def _status_fields(status: str, tcb_date: str, advisory_ids: tuple[str, ...]) -> dict[str, Any]:
    """Date, status and (when there are any) advisory IDs. PCS API v3 documents carry no advisory IDs:
    callers pass an empty tuple for those."""
    fields: dict[str, Any] = {"tcbDate": tcb_date, "tcbStatus": status}
    if advisory_ids:
        fields["advisoryIDs"] = list(advisory_ids)
    return fields


def _sorted_levels(levels: tuple[TcbLevelSpec, ...]) -> list[TcbLevelSpec]:
    """Highest TCB first, as Intel lists them."""
    return sorted(levels, key=lambda lv: (lv.components, lv.pce_svn, lv.tdx_components or ()), reverse=True)


def _level_v3(level: TcbLevelSpec, sgx_notes: dict[int, tuple[str, str | None]]) -> dict[str, Any]:
    tcb: dict[str, Any] = {"sgxtcbcomponents": _annotated(level.components, sgx_notes), "pcesvn": level.pce_svn}
    if level.tdx_components is not None:
        tcb["tdxtcbcomponents"] = _annotated(level.tdx_components, _TDX_ANNOTATIONS)
    return {"tcb": tcb, **_status_fields(level.status, level.tcb_date, level.advisory_ids)}


def _level_v2(level: TcbLevelSpec) -> dict[str, Any]:
    tcb: dict[str, Any] = {f"sgxtcbcomp{i:02d}svn": svn for i, svn in enumerate(level.components, start=1)}
    tcb["pcesvn"] = level.pce_svn
    return {"tcb": tcb, **_status_fields(level.status, level.tcb_date, ())}


def _identity_level(level: IdentityLevelSpec, advisories: bool = True) -> dict[str, Any]:
    ids = level.advisory_ids if advisories else ()
    return {"tcb": {"isvsvn": level.isv_svn}, **_status_fields(level.status, level.tcb_date, ids)}


def _module_identity(identity: ModuleIdentitySpec) -> dict[str, Any]:
    return {
        "id": identity.id,
        "mrsigner": identity.mr_signer.hex().upper(),
        "attributes": identity.attributes.hex().upper(),
        "attributesMask": identity.attributes_mask.hex().upper(),
        "tcbLevels": [_identity_level(lv) for lv in sorted(identity.levels, key=lambda x: x.isv_svn, reverse=True)],
    }


def tcb_info_body(
    entry: FmspcEntry,
    tcb: FmspcTcb,
    *,
    tee: str,
    version: int,
    number: int,
    issue_date: int,
    next_update: int,
) -> dict[str, Any]:
    """The ``tcbInfo`` object: version 3 (SGX or TDX) or version 2 (SGX, as PCS API v3 serves it)."""
    tdx = tee == "tdx"
    if tdx and not tcb.tdx_levels:
        raise LookupError(f"FMSPC {entry.fmspc.hex().upper()} has no TDX TCB")
    if version == 2 and tdx:
        raise ValueError("TCB info version 2 cannot describe TDX")
    body: dict[str, Any] = {}
    if version >= 3:
        body["id"] = "TDX" if tdx else "SGX"
    body.update(
        {
            "version": version,
            "issueDate": iso(issue_date),
            "nextUpdate": iso(next_update),
            "fmspc": entry.fmspc.hex().upper(),
            "pceId": entry.pce_id.hex().upper(),
            "tcbType": 0,
            "tcbEvaluationDataNumber": number,
        }
    )
    levels = _sorted_levels(tcb.tdx_levels if tdx else tcb.sgx_levels)
    if version == 2:
        body["tcbLevels"] = [_level_v2(lv) for lv in levels]
        return body
    if tdx:
        body["tdxModule"] = {"mrsigner": "00" * 48, "attributes": "00" * 8, "attributesMask": "FF" * 8}
        body["tdxModuleIdentities"] = [_module_identity(m) for m in tcb.module_identities]
    notes = _TDX_PLATFORM_SGX_ANNOTATIONS if entry.has_tdx else _SGX_ANNOTATIONS
    body["tcbLevels"] = [_level_v3(lv, notes) for lv in levels]
    return body


def enclave_identity_body(
    spec: EnclaveIdentitySpec, *, number: int, issue_date: int, next_update: int, advisories: bool = True
) -> dict[str, Any]:
    """The ``enclaveIdentity`` object (version 2), levels highest ISVSVN first; PCS API v3 serves it without
    advisory IDs (``advisories=False``)."""
    return {
        "id": spec.id,
        "version": 2,
        "issueDate": iso(issue_date),
        "nextUpdate": iso(next_update),
        "tcbEvaluationDataNumber": number,
        "miscselect": spec.miscselect.hex().upper(),
        "miscselectMask": spec.miscselect_mask.hex().upper(),
        "attributes": spec.attributes.hex().upper(),
        "attributesMask": spec.attributes_mask.hex().upper(),
        "mrsigner": spec.mr_signer.hex().upper(),
        "isvprodid": spec.isv_prod_id,
        "tcbLevels": [
            _identity_level(lv, advisories) for lv in sorted(spec.levels, key=lambda x: x.isv_svn, reverse=True)
        ],
    }


def evaluation_numbers_body(
    tee: str, events: tuple[EvaluationEvent, ...], *, issue_date: int, next_update: int
) -> dict[str, Any]:
    """The ``tcbEvaluationDataNumbers`` object PCS serves at ``tcbevaluationdatanumbers``."""
    return {
        "id": tee.upper(),
        "version": 1,
        "issueDate": iso(issue_date),
        "nextUpdate": iso(next_update),
        "tcbEvalNumbers": [
            {
                "tcbEvaluationDataNumber": e.number,
                "tcbRecoveryEventDate": e.tcb_recovery_event_date,
                "tcbDate": e.tcb_date,
            }
            for e in sorted(events, key=lambda e: e.number, reverse=True)
        ],
    }
