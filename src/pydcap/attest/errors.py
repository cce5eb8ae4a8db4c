"""The errors the attestation service answers with, in Microsoft Azure Attestation's shape: an HTTP status and
``{"error": {"code": ..., "message": ...}}`` with MAA's codes (``InvalidParameter``, ``PolicyEvaluationError``,
``PolicyParsingError``, ``InvalidOperation``, ``Unauthorized``), plus the statuses any HTTP service needs.
"""

from __future__ import annotations

from pydcap.errors import PydcapError


class AttestError(PydcapError):
    """A request answered with ``status`` and MAA's error object (``code``, ``message``)."""

    status = 400
    code = "InvalidParameter"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def to_json(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidParameter(AttestError):
    """The request (a field, the evidence, the API version) is not acceptable; nothing was stored."""


class InvalidOperation(AttestError):
    code = "InvalidOperation"


class PolicyParsingError(AttestError):
    code = "PolicyParsingError"


class PolicyEvaluationError(AttestError):
    """The evidence verified, but the policy refused it: the message names every rule that failed."""

    code = "PolicyEvaluationError"


class Unauthorized(AttestError):
    status = 401
    code = "Unauthorized"


class NotFound(AttestError):
    status = 404
    code = "NotFound"


class MethodNotAllowed(AttestError):
    status = 405
    code = "MethodNotAllowed"


class PayloadTooLarge(AttestError):
    status = 413
    code = "PayloadTooLarge"


class ServiceUnavailable(AttestError):
    """Collateral could not be had (upstream down, rate limited) or the store failed: retry later."""

    status = 503
    code = "ServiceUnavailable"
