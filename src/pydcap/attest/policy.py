"""Attestation policies, set per tenant and attestation type through MAA's policy API: a policy in Microsoft Azure
Attestation's own language (``version= 1.0; authorizationrules { ... };``, see ``pydcap.attest.maa_policy``), or a
JSON document of pydcap's rules.

The empty document ``{}`` is the default: every quote that verifies (Intel's appraisal) gets a token, which
records the TCB status. Rules, all optional::

    {"accepted_tcb_statuses": ["UpToDate", "SWHardeningNeeded"],
     "allow_debug": false,
     "mrenclave": ["<hex>", ...], "mrsigner": ["<hex>", ...], "product_id": 1, "min_svn": 2,
     "mrtd": ["<hex>", ...],
     "max_collateral_age": "P30D",                      (ISO 8601 period, or seconds)
     "rejected_advisory_ids": ["INTEL-SA-00334"],
     "conclave_constraint": "S:<mrsigner> PROD:1 SEC:STALE"}

A document that does not parse is refused with its line and column; a rule of the wrong shape names the rule.
Evaluation returns every failed rule, never just the first.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydcap.attest.errors import PolicyParsingError
from pydcap.attest.maa_policy import MaaPolicy, is_maa_policy, parse_maa_policy
from pydcap.intel import TcbStatus
from pydcap.policy import AnyOf, AppraisalPolicy, EnclaveConstraint, Policy
from pydcap.policy.constraint import parse_period
from pydcap.results import VerificationResult

DEFAULT_POLICY_TEXT = "{}"
_PERMISSIVE: dict[str, Any] = {
    "accepted_statuses": frozenset(TcbStatus),
    "allow_expired_collateral": True,
    "allow_debug": True,
}


def policy_hash(text: str) -> str:
    """MAA's ``x-ms-policy-hash``: BASE64URL(SHA256(UTF8(BASE64URL(UTF8(policy text)))))."""
    inner = base64.urlsafe_b64encode(text.encode()).rstrip(b"=")
    return base64.urlsafe_b64encode(hashlib.sha256(inner).digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class Rule:
    name: str
    check: AppraisalPolicy


@dataclass(frozen=True)
class MaxCollateralAge:
    """The newest collateral issue date (as Conclave's ``EXPIRE``) at most ``seconds`` before verification."""

    seconds: int

    def reasons(self, result: VerificationResult) -> list[str]:
        issued = result.supplemental.latest_issue_date if result.supplemental else None
        if issued is None:
            return ["the collateral issue date is unknown"]
        age = result.verified_at - issued
        return [] if age <= self.seconds else [f"the collateral is {age} s old; at most {self.seconds} s is accepted"]


@dataclass(frozen=True)
class AttestationPolicy:
    """A parsed policy: its text (what ``x-ms-policy-hash`` covers), and its JSON rules or MAA rules."""

    text: str
    rules: tuple[Rule, ...] = field(default=())
    maa: MaaPolicy | None = None

    @cached_property
    def hash(self) -> str:
        return policy_hash(self.text)

    def failures(self, result: VerificationResult, claims: dict[str, Any]) -> list[str]:
        """Every rule that refuses ``result`` (which verified), whose token would carry ``claims``."""
        if self.maa is not None:
            return self.maa.failures(claims)
        return [f"{rule.name}: {reason}" for rule in self.rules for reason in rule.check.reasons(result)]

    def issued(self, claims: dict[str, Any]) -> dict[str, Any]:
        """The claims the policy's issuance rules add to the token (MAA's language only)."""
        return self.maa.issue(claims) if self.maa is not None else {}

    @classmethod
    def parse(cls, text: str) -> AttestationPolicy:
        """Raises ``PolicyParsingError`` with the line and column, or the rule, of what is wrong."""
        if is_maa_policy(text):
            return cls(text, maa=parse_maa_policy(text))
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyParsingError(
                f"the policy is not JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        except RecursionError:
            raise PolicyParsingError("the policy is nested too deeply") from None
        if not isinstance(document, dict):
            raise PolicyParsingError("the policy must be a JSON object of rules (line 1, column 1)")
        rules = []
        for name, value in document.items():
            build = _RULES.get(name)
            if build is None:
                raise PolicyParsingError(f"unknown rule {name!r}; rules: {', '.join(sorted(_RULES))}")
            try:
                rules.append(Rule(name, build(value)))
            except (ValueError, TypeError) as exc:
                raise PolicyParsingError(f"rule {name!r}: {exc}") from None
        return cls(text, tuple(rules))


def _permissive(**rule: Any) -> Policy:
    """A ``Policy`` that checks ``rule`` only (every status, expired collateral and debug accepted otherwise)."""
    return Policy(**{**_PERMISSIVE, **rule})


def _strings(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise ValueError("must be a string or a non-empty list of strings")
    return items


def _measurements(key: str, size: int) -> Callable[[Any], AppraisalPolicy]:
    def build(value: Any) -> AppraisalPolicy:
        values = _strings(value)
        for v in values:
            if len(v) != size * 2:
                raise ValueError(f"{v!r} is not {size} bytes of hex")
        return AnyOf(*(_permissive(**{key: v}) for v in values))

    return build


def _number(key: str) -> Callable[[Any], AppraisalPolicy]:
    def build(value: Any) -> AppraisalPolicy:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
            raise ValueError("must be a whole number from 0 to 65535")
        return _permissive(**{key: value})

    return build


def _statuses(value: Any) -> AppraisalPolicy:
    return _permissive(accepted_statuses=frozenset(TcbStatus.parse(s) for s in _strings(value)))


def _debug(value: Any) -> AppraisalPolicy:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return _permissive(allow_debug=value)


def _age(value: Any) -> AppraisalPolicy:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return MaxCollateralAge(value)
    if isinstance(value, str):
        return MaxCollateralAge(parse_period(value))
    raise ValueError("must be an ISO 8601 period (P30D) or a number of seconds")


def _advisories(value: Any) -> AppraisalPolicy:
    return _permissive(rejected_advisory_ids=frozenset(_strings(value)))


def _constraint(value: Any) -> AppraisalPolicy:
    if not isinstance(value, str):
        raise ValueError("must be a Conclave constraint string (S:<mrsigner> PROD:1 SEC:STALE)")
    return EnclaveConstraint.parse(value)


_RULES: dict[str, Callable[[Any], AppraisalPolicy]] = {
    "accepted_tcb_statuses": _statuses,
    "allow_debug": _debug,
    "mrenclave": _measurements("mr_enclave", 32),
    "mrsigner": _measurements("mr_signer", 32),
    "mrtd": _measurements("mr_td", 48),
    "product_id": _number("isv_prod_id"),
    "min_svn": _number("min_isv_svn"),
    "max_collateral_age": _age,
    "rejected_advisory_ids": _advisories,
    "conclave_constraint": _constraint,
}

DEFAULT_POLICY = AttestationPolicy(DEFAULT_POLICY_TEXT)
