"""What verification returns: Intel's API answer (code and result), the TCB status, the named failure, and
supplemental data.

It sits below ``pydcap.policy`` (which judges a result) and ``pydcap.verify`` (which makes one), so imports run
one way: results <- policy <- verify.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydcap.intel.outcomes import Failure, QvResult, TcbStatus
from pydcap.intel.quote3 import Quote3Error
from pydcap.intel.time import iso
from pydcap.quote.parser import Body, Quote


@dataclass(frozen=True)
class Supplemental:
    """Intel's supplemental data (``sgx_ql_qv_supplemental_t``), with dates as unix seconds."""

    earliest_issue_date: int
    latest_issue_date: int
    earliest_expiration_date: int
    tcb_evaluation_data_number: int
    pck_crl_number: int | None
    root_ca_crl_number: int | None
    root_key_id: bytes
    ppid: bytes
    fmspc: bytes
    pce_id: bytes
    tcb_cpusvn: bytes
    tcb_pce_svn: int
    tee_type: str
    sgx_type: str
    ca_type: str
    platform_instance_id: bytes | None
    dynamic_platform: bool | None
    cached_keys: bool | None
    smt_enabled: bool | None
    tcb_level_date: int | None = None
    platform_tcb_level_date: int | None = None
    qe_tcb_level_date: int | None = None
    platform_status: str | None = None
    qe_status: str | None = None
    module_status: str | None = None
    current_tcb_status: str | None = None
    current_tcb_date: int | None = None
    current_advisory_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "earliest_issue_date": iso(self.earliest_issue_date),
            "latest_issue_date": iso(self.latest_issue_date),
            "earliest_expiration_date": iso(self.earliest_expiration_date),
            "tcb_level_date": iso(self.tcb_level_date),
            "platform_tcb_level_date": iso(self.platform_tcb_level_date),
            "qe_tcb_level_date": iso(self.qe_tcb_level_date),
            "tcb_evaluation_data_number": self.tcb_evaluation_data_number,
            "pck_crl_number": self.pck_crl_number,
            "root_ca_crl_number": self.root_ca_crl_number,
            "root_key_id": self.root_key_id.hex(),
            "ppid": self.ppid.hex(),
            "fmspc": self.fmspc.hex(),
            "pce_id": self.pce_id.hex(),
            "tcb_cpusvn": self.tcb_cpusvn.hex(),
            "tcb_pce_svn": self.tcb_pce_svn,
            "tee_type": self.tee_type,
            "sgx_type": self.sgx_type,
            "ca_type": self.ca_type,
            "platform_instance_id": self.platform_instance_id.hex() if self.platform_instance_id else None,
            "dynamic_platform": self.dynamic_platform,
            "cached_keys": self.cached_keys,
            "smt_enabled": self.smt_enabled,
            "platform_status": self.platform_status,
            "qe_status": self.qe_status,
            "module_status": self.module_status,
            "current_tcb_status": self.current_tcb_status,
            "current_tcb_date": iso(self.current_tcb_date),
            "current_advisory_ids": list(self.current_advisory_ids),
        }


@dataclass(frozen=True)
class VerificationResult:
    """The appraisal of one quote, and the policy's decision on it.

    ``quote3_error`` and ``qv_result`` are what Intel's ``tee_verify_quote`` returns for the same inputs: on
    success ``SGX_QL_SUCCESS`` and the result (OK or one of the non-terminal statuses); on any failure Intel's
    error code and UNSPECIFIED. ``failure`` is None on success, else the QVL status of the defect Intel's
    verification meets first. ``accepted`` is the policy's verdict, with every reason in ``reasons``.
    """

    qv_result: QvResult
    quote3_error: Quote3Error
    tcb_status: TcbStatus | None
    failure: Failure | None
    detail: str
    advisory_ids: tuple[str, ...]
    collateral_expired: bool
    verified_at: int
    trusted_root: str
    root_is_intel: bool
    quote: Quote | None = None
    supplemental: Supplemental | None = None
    accepted: bool = False
    reasons: tuple[str, ...] = field(default=())

    @property
    def verified(self) -> bool:
        """True when verification succeeded (whatever the TCB status and the policy say)."""
        return self.failure is None

    @property
    def report(self) -> Body | None:
        return self.quote.body if self.quote else None

    @property
    def tee(self) -> str | None:
        return self.quote.tee if self.quote else None

    @property
    def quote_version(self) -> int | None:
        return self.quote.version if self.quote else None

    @property
    def fmspc(self) -> str | None:
        return self.supplemental.fmspc.hex() if self.supplemental else None

    def to_dict(self) -> dict[str, Any]:
        """The ``pydcap verify --json`` object."""
        return {
            "accepted": self.accepted,
            "quote3_error": self.quote3_error.value,
            "qv_result": self.qv_result.value,
            "tcb_status": self.tcb_status.value if self.tcb_status else None,
            "failure": self.failure.value if self.failure else None,
            "detail": self.detail,
            "advisory_ids": list(self.advisory_ids),
            "collateral_expired": self.collateral_expired,
            "verified_at": iso(self.verified_at),
            "trusted_root": self.trusted_root,
            "root_is_intel": self.root_is_intel,
            "tee": self.tee,
            "quote_version": self.quote_version,
            "fmspc": self.fmspc,
            "reasons": list(self.reasons),
            "report": self.report.to_dict() if self.report else None,
            "supplemental": self.supplemental.to_dict() if self.supplemental else None,
        }
