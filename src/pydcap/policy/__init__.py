"""Policies: whether to trust a verified quote. A policy returns every reason it rejects, never just the first.

``Policy`` covers what most callers need (accepted TCB statuses, expiry, debug, expected measurements).
Policies compose with ``AllOf`` and ``AnyOf``. ``UnsafeAcceptAnyStatus`` exists for tests and demos, and
says so in its name. ``EnclaveConstraint`` is Conclave's constraint language as a policy.
"""

from pydcap.policy.constraint import EnclaveConstraint, SecurityLevel, security_level
from pydcap.policy.policy import AllOf, AnyOf, AppraisalPolicy, Policy, UnsafeAcceptAnyStatus

__all__ = [
    "AllOf",
    "AnyOf",
    "AppraisalPolicy",
    "EnclaveConstraint",
    "Policy",
    "SecurityLevel",
    "UnsafeAcceptAnyStatus",
    "security_level",
]
