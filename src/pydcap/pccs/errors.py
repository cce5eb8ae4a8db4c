"""The answers a PCCS gives when it cannot serve: one exception per status of Intel's PCCS, each with
Intel's short text first (what clients match on) and then what is actually missing and what to do;
``unavailable`` turns a failure of the cache or the upstream into one of them, ``as_pccs_error`` any documented
pydcap error (bad input: 400; the store or the upstream in trouble: 503 with ``Retry-After``, or 502 for an
upstream that failed as Intel's PCCS says it).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydcap.cache.errors import NotCachedError, StoreError
from pydcap.errors import CollateralError, FormatError, PydcapError
from pydcap.pccs.config import CachingMode
from pydcap.serving.bodies import RequestBodyError
from pydcap.serving.retry import STORE_RETRY_AFTER, retry_after
from pydcap.sources.errors import CollateralNotFoundError, RateLimitedError, ThrottledError


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


def unavailable(what: str, exc: CollateralError, mode: CachingMode) -> PccsError:
    """The PCCS answer for ``what`` when the cache could not deliver it, saying what is missing and why."""
    if isinstance(exc, NotCachedError):
        if mode is CachingMode.OFFLINE:
            why = (
                "this PCCS runs in OFFLINE mode and it was never imported (PUT platformcollateral, pydcap pccs import)"
            )
        elif mode is CachingMode.REQ:
            why = "in REQ mode collateral is fetched when a platform registers (POST platforms), and none needed it yet"
        else:
            why = "it is not cached"
        return NotCached(f"No cache data for the {what}: {why}.")
    wait = retry_after(exc)
    if isinstance(exc, RateLimitedError):
        return ServiceUnavailable(
            f"Intel PCS is rate limiting this PCCS ({exc.url} answered 429); retry in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    if isinstance(exc, ThrottledError):
        return ServiceUnavailable(
            f"This PCCS is not asking Intel PCS for more uncached documents now (its upstream request budget is "
            f"spent); retry in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    if isinstance(exc, CollateralNotFoundError):
        return NotCached(f"No cache data for the {what}: the upstream PCS has none either ({exc.url} answered 404).")
    if wait is not None:  # any other "unavailable now, retry later" of the error family (a lease waited for, ...)
        return ServiceUnavailable(f"{exc} (retry in {wait} s)", headers={"Retry-After": str(wait)})
    # Unreachable, failing, or serving what does not verify (UntrustedCollateralError): the upstream's fault.
    return UpstreamFailed(str(exc))


def as_pccs_error(exc: Exception, mode: CachingMode) -> PccsError | None:
    """The answer for an error a handler did not turn into one itself, or None for an unexpected one (a bug:
    500). The store failing is 503 with ``Retry-After`` (what failed is logged, never sent); collateral that could
    not be had is what ``unavailable`` says; malformed input that reached a parser is 400."""
    if isinstance(exc, PccsError):
        return exc
    if isinstance(exc, StoreError):
        return ServiceUnavailable(
            f"The PCCS cannot use its store now; retry in {STORE_RETRY_AFTER} s.",
            headers={"Retry-After": str(STORE_RETRY_AFTER)},
        )
    if isinstance(exc, CollateralError):
        return unavailable("collateral", exc, mode)
    if isinstance(exc, RequestBodyError) and exc.status == 413:
        return PayloadTooLarge(exc.message)
    if isinstance(exc, FormatError):
        return InvalidRequest(str(exc))
    return None
