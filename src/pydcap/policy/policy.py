"""The common policy (``Policy``), its combinators (``AllOf``, ``AnyOf``) and the deliberately alarming
``UnsafeAcceptAnyStatus``. Each returns every reason it rejects a result, never just the first."""

from __future__ import annotations

import hmac
from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from typing import Protocol

from pydcap.intel.outcomes import TcbStatus
from pydcap.lazy import computed_once
from pydcap.quote.structs import EnclaveReport, TdReport10
from pydcap.results import VerificationResult


class AppraisalPolicy(Protocol):
    def reasons(self, result: VerificationResult) -> list[str]:
        """Why ``result`` is not acceptable; empty when it is."""
        ...


def _hex(value: bytes | str) -> bytes:
    return bytes.fromhex(value) if isinstance(value, str) else bytes(value)


def _check_hex(name: str, value: bytes | str | None) -> None:
    if isinstance(value, str):
        try:
            bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"{name} {value!r} is not hex") from None


def _matches(actual: bytes, expected: bytes) -> bool:
    return len(actual) == len(expected) and hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class Policy:
    """The common policy. Defaults accept only an UpToDate TCB, fresh collateral and production enclaves.

    Measurements are bytes or hex strings; ``report_data`` may be a prefix of the 64-byte field. Accepted statuses
    are ``TcbStatus`` values or their names (Intel's spelling, any letter case); a name that is not a TCB status is
    refused with ``ValueError`` when the policy is made.
    """

    accepted_statuses: Set[str] = frozenset({TcbStatus.UP_TO_DATE})
    allow_expired_collateral: bool = False
    allow_debug: bool = False
    mr_enclave: bytes | str | None = None
    mr_signer: bytes | str | None = None
    isv_prod_id: int | None = None
    min_isv_svn: int | None = None
    mr_td: bytes | str | None = None
    rtmrs: Sequence[bytes | str | None] | None = None
    report_data: bytes | str | None = None
    rejected_advisory_ids: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        """Reject malformed expected values now, with their name, rather than at the first verification."""
        if not all(type(s) is TcbStatus for s in self.accepted_statuses):
            try:
                statuses = frozenset(TcbStatus.parse(s) for s in self.accepted_statuses)
            except ValueError as exc:
                raise ValueError(f"accepted_statuses: {exc}") from None
            object.__setattr__(self, "accepted_statuses", statuses)
        for name in ("mr_enclave", "mr_signer", "mr_td", "report_data"):
            _check_hex(name, getattr(self, name))
        if self.rtmrs is not None:
            if len(self.rtmrs) > 4:
                raise ValueError(f"rtmrs has {len(self.rtmrs)} values; a TD has 4 RTMRs")
            for i, rtmr in enumerate(self.rtmrs):
                _check_hex(f"rtmrs[{i}]", rtmr)

    @computed_once
    def _measured(self) -> bool:
        """Whether the report is expected to hold anything (measurements or report data)."""
        measured = (self.mr_enclave, self.mr_signer, self.isv_prod_id, self.min_isv_svn, self.mr_td, self.rtmrs)
        return self.report_data is not None or any(m is not None for m in measured)

    def reasons(self, result: VerificationResult) -> list[str]:
        out: list[str] = []
        status = result.tcb_status
        if result.failure is not None:
            out.append(f"verification failed: {result.failure.value} ({result.detail})")
        elif status is not None and status not in self.accepted_statuses:
            accepted = ", ".join(sorted(self.accepted_statuses))
            out.append(f"TCB status {status.value} is not accepted (accepted: {accepted})")
        if result.collateral_expired and not self.allow_expired_collateral:
            out.append("collateral has expired at the verification time")
        if self.rejected_advisory_ids:
            bad = sorted(self.rejected_advisory_ids.intersection(result.advisory_ids))
            if bad:
                out.append(f"advisories {', '.join(bad)} are not accepted")
        report = result.report
        if report is not None:
            if report.debug and not self.allow_debug:
                out.append("the enclave is in debug mode")
            if self._measured:
                out.extend(self._measurement_reasons(report))
        return out

    def _measurement_reasons(self, report: EnclaveReport | TdReport10) -> list[str]:
        out: list[str] = []
        if isinstance(report, EnclaveReport):
            if self.mr_enclave is not None:
                out.extend(self._expect("MRENCLAVE", report.mr_enclave, self.mr_enclave))
            if self.mr_signer is not None:
                out.extend(self._expect("MRSIGNER", report.mr_signer, self.mr_signer))
            if self.isv_prod_id is not None and report.isv_prod_id != self.isv_prod_id:
                out.append(f"ISVPRODID is {report.isv_prod_id}, expected {self.isv_prod_id}")
            if self.min_isv_svn is not None and report.isv_svn < self.min_isv_svn:
                out.append(f"ISVSVN {report.isv_svn} is below the minimum {self.min_isv_svn}")
            if self.mr_td is not None or self.rtmrs is not None:
                out.append("a TD measurement was expected but the quote is from an SGX enclave")
        else:
            if self.mr_td is not None:
                out.extend(self._expect("MRTD", report.mr_td, self.mr_td))
            for i, expected in enumerate(self.rtmrs or ()):
                out.extend(self._expect(f"RTMR{i}", report.rtmrs[i], expected))
            if (
                self.mr_enclave is not None
                or self.mr_signer is not None
                or self.isv_prod_id is not None
                or self.min_isv_svn is not None
            ):
                out.append("an SGX enclave measurement was expected but the quote is from a TD")
        if self.report_data is not None:
            expected = _hex(self.report_data)
            if not _matches(report.report_data[: len(expected)], expected):
                out.append("REPORTDATA does not match the expected value")
        return out

    @staticmethod
    def _expect(name: str, actual: bytes, expected: bytes | str | None) -> list[str]:
        if expected is None:
            return []
        want = _hex(expected)
        if _matches(actual, want):
            return []
        return [f"{name} is {actual.hex()}, expected {want.hex()}"]


def _some(name: str, policies: tuple[AppraisalPolicy, ...]) -> tuple[AppraisalPolicy, ...]:
    # With no policy to ask, AllOf and AnyOf would accept anything, a failed verification included.
    if not policies:
        raise ValueError(f"{name}() needs at least one policy")
    return policies


@dataclass(frozen=True)
class AllOf:
    """Accept only when every policy accepts; reasons from all of them."""

    policies: tuple[AppraisalPolicy, ...]

    def __init__(self, *policies: AppraisalPolicy) -> None:
        object.__setattr__(self, "policies", _some("AllOf", policies))

    def reasons(self, result: VerificationResult) -> list[str]:
        return [r for p in self.policies for r in p.reasons(result)]


@dataclass(frozen=True)
class AnyOf:
    """Accept when at least one policy accepts; otherwise every policy's reasons."""

    policies: tuple[AppraisalPolicy, ...]

    def __init__(self, *policies: AppraisalPolicy) -> None:
        object.__setattr__(self, "policies", _some("AnyOf", policies))

    def reasons(self, result: VerificationResult) -> list[str]:
        collected: list[str] = []
        for p in self.policies:
            r = p.reasons(result)
            if not r:
                return []
            collected.extend(r)
        return collected


@dataclass(frozen=True)
class UnsafeAcceptAnyStatus:
    """Accepts any quote that verified, whatever its TCB status, expiry or debug flag. Never in production."""

    def reasons(self, result: VerificationResult) -> list[str]:
        if result.failure is not None:
            return [f"verification failed: {result.failure.value} ({result.detail})"]
        return []
