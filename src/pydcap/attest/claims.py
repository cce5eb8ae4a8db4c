"""The claims of an attestation token, as Microsoft Azure Attestation names and means them, plus what MAA does not
say and pydcap's verifier knows, under ``x-pydcap-``.

SGX (SgxEnclave, OpenEnclave): ``x-ms-sgx-*`` (measurements in hex, ``x-ms-sgx-ehd`` the runtime data in
base64url, ``x-ms-sgx-collateral`` SHA-256 hashes of the quote and each collateral part) and the unprefixed legacy
copies MAA still emits (``sgx-mrenclave``, ``is-debuggable``, ``maa-ehd``, ...). TDX (TdxVm): the ``tdx_*`` claims
of MAA's TDX EAT profile. Both: ``x-ms-attestation-type``, ``x-ms-policy-hash``, ``x-ms-ver``, ``x-ms-runtime`` /
``x-ms-inittime`` for JSON data, ``nonce``. The service adds ``iss``, ``iat``, ``nbf``, ``exp`` and ``jti``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any

from pydcap.attest.evidence import AttestRequest, TimeData
from pydcap.attest.keys import b64url
from pydcap.cache import Entry
from pydcap.intel import iso
from pydcap.quote.structs import EnclaveReport, TdReport10
from pydcap.results import VerificationResult

MAA_TDX_PROFILE = "https://aka.ms/maa-eat-profile-tdxvm"
# The dates of the pydcap claims, as Intel writes them: few distinct ones (the collateral's, this second's).
_iso = functools.lru_cache(maxsize=64)(iso)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def collateral_digests(entries: Mapping[str, Entry]) -> dict[str, str]:
    """MAA's ``x-ms-sgx-collateral`` but the quote's own hash: SHA-256 (hex) of each collateral part that verified
    the quote (the same for every quote of a platform family: computed once per collateral)."""
    tcb, qe, root_crl, pck_crl = (entries[p] for p in ("tcb_info", "qe_identity", "root_ca_crl", "pck_crl"))
    return {
        "qeidcertshash": _sha256(qe.issuer_chain),
        "qeidcrlhash": _sha256(root_crl.data),
        "qeidhash": _sha256(qe.data),
        "tcbinfocertshash": _sha256(tcb.issuer_chain),
        "tcbinfocrlhash": _sha256(root_crl.data),
        "tcbinfohash": _sha256(tcb.data),
        "pckcrlhash": _sha256(pck_crl.data),
        "pckcrlcertshash": _sha256(pck_crl.issuer_chain),
    }


def _time_claims(request: AttestRequest) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    for name, data in (("x-ms-runtime", request.runtime), ("x-ms-inittime", request.inittime)):
        if data is not None and data.is_json:
            claims[name] = data.value
    if request.nonce is not None:
        claims["nonce"] = request.nonce
    return claims


def _sgx_claims(report: EnclaveReport, runtime: TimeData | None, collateral: dict[str, str]) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "x-ms-attestation-type": "sgx",
        "x-ms-sgx-is-debuggable": report.debug,
        "x-ms-sgx-mrenclave": report.mr_enclave.hex(),
        "x-ms-sgx-mrsigner": report.mr_signer.hex(),
        "x-ms-sgx-product-id": report.isv_prod_id,
        "x-ms-sgx-svn": report.isv_svn,
        "x-ms-sgx-report-data": report.report_data.hex(),
        "x-ms-sgx-collateral": collateral,
    }
    if any(report.config_id) or report.config_svn or any(report.isv_ext_prod_id) or any(report.isv_family_id):
        claims.update(
            {
                "x-ms-sgx-config-id": report.config_id.hex(),
                "x-ms-sgx-config-svn": report.config_svn,
                "x-ms-sgx-isv-extended-product-id": report.isv_ext_prod_id.hex(),
                "x-ms-sgx-isv-family-id": report.isv_family_id.hex(),
            }
        )
    legacy: dict[str, Any] = {
        "tee": "sgx",
        "is-debuggable": report.debug,
        "sgx-mrenclave": claims["x-ms-sgx-mrenclave"],
        "sgx-mrsigner": claims["x-ms-sgx-mrsigner"],
        "product-id": report.isv_prod_id,
        "svn": report.isv_svn,
        "maa-attestationcollateral": collateral,
    }
    if runtime is not None:
        ehd = b64url(runtime.data)
        claims["x-ms-sgx-ehd"] = ehd
        legacy.update({"maa-ehd": ehd, "aas-ehd": ehd})
    return {**claims, **legacy}


def _tdx_claims(report: TdReport10, runtime: TimeData | None) -> dict[str, Any]:
    attributes = int.from_bytes(report.td_attributes, "little")
    claims: dict[str, Any] = {
        "x-ms-attestation-type": "tdxvm",
        "eat_profile": MAA_TDX_PROFILE,
        "dbgstat": "enabled" if report.debug else "disabled-since-boot",
        "intuse": "generic",
        "tdx_mrsignerseam": report.mr_signer_seam.hex(),
        "tdx_mrseam": report.mr_seam.hex(),
        "tdx_mrtd": report.mr_td.hex(),
        **{f"tdx_rtmr{i}": rtmr.hex() for i, rtmr in enumerate(report.rtmrs)},
        "tdx_mrconfigid": report.mr_config_id.hex(),
        "tdx_mrowner": report.mr_owner.hex(),
        "tdx_mrownerconfig": report.mr_owner_config.hex(),
        "tdx_report_data": report.report_data.hex(),
        "tdx_seam_attributes": report.seam_attributes.hex(),
        "tdx_tee_tcb_svn": report.tee_tcb_svn.hex(),
        "tdx_xfam": report.xfam.hex(),
        "tdx_seamsvn": int.from_bytes(report.tee_tcb_svn[:2], "little"),
        "tdx_td_attributes": report.td_attributes.hex(),
        "tdx_td_attributes_debug": bool(attributes & 1),
        "tdx_td_attributes_septve_disable": bool(attributes >> 28 & 1),
        "tdx_td_attributes_protection_keys": bool(attributes >> 30 & 1),
        "tdx_td_attributes_key_locker": bool(attributes >> 31 & 1),
        "tdx_td_attributes_perfmon": bool(attributes >> 63 & 1),
    }
    if runtime is not None:
        claims["x-pydcap-runtime-data"] = b64url(runtime.data)  # MAA names no claim for binary TD runtime data
    return claims


def pydcap_claims(result: VerificationResult) -> dict[str, Any]:
    """What MAA does not say and pydcap's verifier knows (Intel's own names and values)."""
    s = result.supplemental
    return {
        "x-pydcap-qv-result": result.qv_result.value,
        "x-pydcap-quote3-error": result.quote3_error.value,
        "x-pydcap-tcb-status": result.tcb_status.value if result.tcb_status else None,
        "x-pydcap-advisory-ids": list(result.advisory_ids),
        "x-pydcap-collateral-expired": result.collateral_expired,
        "x-pydcap-collateral-expiration": _iso(s.earliest_expiration_date) if s else None,
        "x-pydcap-tcb-date": _iso(s.tcb_level_date) if s else None,
        "x-pydcap-tcb-evaluation-data-number": s.tcb_evaluation_data_number if s else None,
        "x-pydcap-fmspc": s.fmspc.hex() if s else None,
        "x-pydcap-root-is-intel": result.root_is_intel,
        "x-pydcap-verified-at": _iso(result.verified_at),
    }


def attestation_claims(
    request: AttestRequest, result: VerificationResult, digests: Mapping[str, str], policy_hash: str
) -> dict[str, Any]:
    """Every claim of the token but the JWT ones (``iss``, ``iat``, ...), for a quote that verified with the
    collateral of ``digests`` (``collateral_digests``)."""
    body = request.quote.body
    if isinstance(body, EnclaveReport):
        tee = _sgx_claims(body, request.runtime, {"quotehash": _sha256(request.quote.raw), **digests})
    else:
        assert isinstance(body, TdReport10)
        tee = _tdx_claims(body, request.runtime)
        tee["attester_tcb_status"] = result.tcb_status.value if result.tcb_status else None
        tee["attester_advisory_ids"] = list(result.advisory_ids)
    common = {"x-ms-ver": "1.0", "ver": "1.0", "x-ms-policy-hash": policy_hash, "policy_hash": policy_hash}
    return {**tee, **common, **_time_claims(request), **pydcap_claims(result)}
