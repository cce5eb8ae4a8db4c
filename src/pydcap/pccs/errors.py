"""The answers a PCCS gives when it cannot serve: one exception per status of Intel's PCCS, each with
Intel's short text first (what clients match on) and then what is actually missing and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydcap.errors import PydcapError


class PccsError(PydcapError):
    """A request the PCCS answers with ``status`` and the text ``message`` (Intel's sentence, then detail)."""

    status = 500
    intel_text = "Internal server error occurred."

    def __init__(self, detail: str = "", *, headers: Mapping[str, str] | None = None) -> None:
        self.detail = detail
        self.headers = dict(headers or {})
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.intel_text} {self.detail}".strip() if self.detail else self.intel_text


class InvalidRequest(PccsError):
    status = 400
    intel_text = "Invalid request parameters."


class Unauthorized(PccsError):
    status = 401
    intel_text = "Authentication failed."


class NotCached(PccsError):
    """404: nothing cached for this request (and, in LAZY mode, nothing upstream either)."""

    status = 404
    intel_text = "No cache data for this platform."

    @property
    def message(self) -> str:
        # Intel's sentence is misleading for everything but a platform's certificate: say what is missing.
        return self.detail or self.intel_text


class PayloadTooLarge(PccsError):
    status = 413
    intel_text = "Request body too large."


class IntegrityError(PccsError):
    """460: imported collateral that does not verify against the trust root (nothing was stored)."""

    status = 460
    intel_text = "The integrity of the data can't be verified."


class PlatformUnknown(PccsError):
    status = 461
    intel_text = "The platform was not found in the cache."


class CertificatesUnavailable(PccsError):
    status = 462
    intel_text = "Certificates are not available for certain TCBs."


class UpstreamFailed(PccsError):
    """502: Intel PCS could not be reached, failed, or answered something that does not verify."""

    status = 502
    intel_text = "Unable to retrieve the collateral from the Intel SGX PCS."


class ServiceUnavailable(PccsError):
    status = 503
    intel_text = "Server is currently unable to process the request."
