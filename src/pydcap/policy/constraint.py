"""Conclave's enclave constraints (``S:<mrsigner> PROD:1 SEC:STALE``), as a pydcap policy.

A constraint is space-separated ``KEY:VALUE`` tokens: ``C:`` code measurements (MRENCLAVE, or MRTD for a
TD), ``S:`` signers (MRSIGNER) with ``PROD:`` product ID, ``REVOKE:`` minimum ISVSVN, ``SEC:`` minimum
security level (INSECURE, STALE, SECURE; ``SEC:INSECURE`` accepts only insecure enclaves) and ``EXPIRE:``
the maximum age (ISO 8601 period) of the attestation, whose timestamp is the newest collateral issue date.
"""

from __future__ import annotations

import enum
import hmac
import re
from dataclasses import dataclass, field

from pydcap.intel.outcomes import TcbStatus
from pydcap.quote.structs import EnclaveReport
from pydcap.results import VerificationResult


class SecurityLevel(enum.IntEnum):
    INSECURE = 0
    STALE = 1
    SECURE = 2


_STALE_STATUSES = frozenset(
    {
        TcbStatus.SW_HARDENING_NEEDED,
        TcbStatus.CONFIGURATION_NEEDED,
        TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED,
        TcbStatus.OUT_OF_DATE,
        TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED,
        TcbStatus.TD_RELAUNCH_ADVISED,
        TcbStatus.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED,
    }
)

_PERIOD = re.compile(
    r"^P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_period(text: str) -> int:
    """An ISO 8601 period (``P30D``, ``PT12H``, ``P1Y2M``) in seconds; a year is 365 days, a month 30."""
    m = _PERIOD.match(text)
    if not m or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"EXPIRE:{text} is not an ISO 8601 period such as P30D or PT12H")
    g = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
    days = g["y"] * 365 + g["mo"] * 30 + g["w"] * 7 + g["d"]
    return int(days * 86400 + g["h"] * 3600 + g["mi"] * 60 + g["s"])


def security_level(result: VerificationResult) -> tuple[SecurityLevel, str]:
    """Conclave's security level of an attestation, and why."""
    if result.failure is not None:
        return SecurityLevel.INSECURE, f"verification failed ({result.failure.value})"
    if not result.root_is_intel:
        return SecurityLevel.INSECURE, f"simulated: the trust root is not Intel's ({result.trusted_root})"
    report = result.report
    if report is not None and report.debug:
        return SecurityLevel.INSECURE, "the enclave is in debug mode"
    status = result.tcb_status
    if status is TcbStatus.UP_TO_DATE:
        return SecurityLevel.SECURE, "TCB is up to date"
    if status in _STALE_STATUSES:
        return SecurityLevel.STALE, f"TCB status {status.value}"
    return SecurityLevel.INSECURE, f"TCB status {status.value if status else 'unknown'}"


def _hex_value(key: str, value: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise ValueError(f"{key}:{value} is not hex") from exc
    if len(raw) not in (32, 48):
        raise ValueError(f"{key}:{value} must be 32 bytes (MRENCLAVE/MRSIGNER) or 48 bytes (MRTD)")
    return raw


@dataclass(frozen=True)
class EnclaveConstraint:
    """A parsed constraint; ``reasons(result)`` names every criterion the attested enclave fails."""

    code_hashes: tuple[bytes, ...] = ()
    signers: tuple[bytes, ...] = ()
    product_id: int | None = None
    min_revocation_level: int | None = None
    min_security_level: SecurityLevel = SecurityLevel.STALE
    max_age_seconds: int | None = None
    source: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> EnclaveConstraint:
        codes: list[bytes] = []
        signers: list[bytes] = []
        values: dict[str, str] = {}
        for token in text.split():
            key, sep, value = token.partition(":")
            key = key.upper()
            if not sep or not value:
                raise ValueError(f"constraint token {token!r} is not KEY:VALUE")
            if key == "C":
                codes.append(_hex_value(key, value))
            elif key == "S":
                signers.append(_hex_value(key, value))
            elif key in ("PROD", "REVOKE", "SEC", "EXPIRE"):
                if key in values:
                    raise ValueError(f"{key} appears twice in the constraint")
                values[key] = value
            else:
                raise ValueError(f"unknown constraint key {key!r} (known: C, S, PROD, REVOKE, SEC, EXPIRE)")
        if not codes and not signers:
            raise ValueError("a constraint needs at least one C:<code hash> or S:<signer>")
        product = _uint16(values, "PROD")
        if signers and product is None:
            raise ValueError("S: needs PROD:<product id>")
        if product is not None and not signers:
            raise ValueError("PROD: needs at least one S:<signer>")
        try:
            level = SecurityLevel[values.get("SEC", "STALE").upper()]
        except KeyError as exc:
            raise ValueError(f"SEC:{values['SEC']} must be INSECURE, STALE or SECURE") from exc
        return cls(
            code_hashes=tuple(codes),
            signers=tuple(signers),
            product_id=product,
            min_revocation_level=_uint16(values, "REVOKE"),
            min_security_level=level,
            max_age_seconds=parse_period(values["EXPIRE"]) if "EXPIRE" in values else None,
            source=text,
        )

    def reasons(self, result: VerificationResult) -> list[str]:
        out: list[str] = []
        if result.failure is not None:
            # Unlike a debug or simulated enclave, a quote that does not verify proves nothing at all:
            # no security level, SEC:INSECURE included, accepts it.
            out.append(f"verification failed: {result.failure.value} ({result.detail})")
        report = result.report
        if report is None:
            return [*out, "no enclave report to check the constraint against"]
        sgx: EnclaveReport | None
        if isinstance(report, EnclaveReport):
            sgx, code, signer = report, report.mr_enclave, report.mr_signer
        else:
            sgx, code, signer = None, report.mr_td, None
        code_ok = any(hmac.compare_digest(code, c) for c in self.code_hashes)
        signer_ok = signer is not None and any(hmac.compare_digest(signer, s) for s in self.signers)
        if not code_ok and not signer_ok:
            wanted = [f"C:{c.hex()}" for c in self.code_hashes] + [f"S:{s.hex()}" for s in self.signers]
            has = f"code hash {code.hex()}" + (f", signer {signer.hex()}" if signer is not None else "")
            out.append(f"the enclave matches none of {' '.join(wanted)}; it has {has}")
        if self.product_id is not None and sgx is not None and sgx.isv_prod_id != self.product_id:
            out.append(f"product ID is {sgx.isv_prod_id}, expected PROD:{self.product_id}")
        if self.min_revocation_level is not None:
            if sgx is None:
                out.append("REVOKE: applies to SGX enclaves; a TD has no ISVSVN")
            elif sgx.isv_svn < self.min_revocation_level:
                out.append(f"ISVSVN {sgx.isv_svn} is below REVOKE:{self.min_revocation_level}")
        level, why = security_level(result)
        wanted_level = self.min_security_level
        if wanted_level == SecurityLevel.INSECURE and level != SecurityLevel.INSECURE:
            out.append(f"SEC:INSECURE accepts only insecure enclaves; this one is {level.name} ({why})")
        elif level < wanted_level:
            out.append(f"security level is {level.name} ({why}), SEC:{wanted_level.name} required")
        if self.max_age_seconds is not None:
            if result.supplemental is None:
                out.append("the attestation's age is unknown (no verified collateral)")
            else:
                age = result.verified_at - result.supplemental.latest_issue_date
                if age > self.max_age_seconds:
                    out.append(f"the attestation is {age} s old, EXPIRE allows {self.max_age_seconds} s")
        return out


def _uint16(values: dict[str, str], key: str) -> int | None:
    if key not in values:
        return None
    try:
        n = int(values[key])
    except ValueError as exc:
        raise ValueError(f"{key}:{values[key]} is not a number") from exc
    if not 0 <= n <= 0xFFFF:
        raise ValueError(f"{key}:{n} is out of range 0..65535")
    return n
