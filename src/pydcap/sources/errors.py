"""Why collateral could not be had: one named exception per kind of upstream failure.

Every ``UpstreamError`` names the URL, the HTTP status (None when no answer came), the kind of document asked for
(``document``) and what to do about it; the command line turns any ``CollateralError`` into exit status 3. The
families' roots (``CollateralError``, ``CollateralUnavailableError``) live in ``pydcap.errors``.
"""

from __future__ import annotations

from pydcap.errors import CollateralError, CollateralUnavailableError
from pydcap.intel import EntryKind

__all__ = [
    "CertificatesUnavailableError",
    "CollateralError",
    "CollateralNotFoundError",
    "CollateralUnavailableError",
    "MalformedResponseError",
    "PlatformUnknownError",
    "RateLimitedError",
    "ResponseTooLargeError",
    "ThrottledError",
    "TlsVerificationError",
    "UpstreamError",
    "UpstreamRejectedError",
    "UpstreamServerError",
    "UpstreamUnreachableError",
]


class ThrottledError(CollateralUnavailableError):
    """Not asked: the budget of upstream requests for lookups that miss (a token bucket, ``RequestBudget``) is
    spent, so the upstream was not sent this one. ``retry_after`` is how many seconds until there is room."""

    def __init__(self, what: str, *, retry_after: float, rate: float, burst: int) -> None:
        self.what = what
        self.retry_after = retry_after
        super().__init__(
            f"{what}: not fetched: the upstream is sent at most {burst} requests at once and {rate:g} per second "
            f"for lookups that miss, and that budget is spent; retry in {max(1, round(retry_after + 0.5))} s"
        )


class UpstreamError(CollateralUnavailableError):
    """A collateral service did not deliver. ``url``, ``status`` and ``hint`` say where, how and what to do;
    ``document`` is the kind of document asked for, when the request was for one."""

    def __init__(
        self,
        what: str,
        url: str,
        status: int | None,
        detail: str,
        hint: str,
        *,
        request_id: str | None = None,
        document: EntryKind | None = None,
    ) -> None:
        self.what = what
        self.url = url
        self.status = status
        self.detail = detail
        self.hint = hint
        self.request_id = request_id
        self.document = document
        answered = f"answered {status}" if status is not None else "gave no answer"
        rid = f" (Request-ID {request_id})" if request_id else ""
        advice = hint[:1].upper() + hint[1:]
        super().__init__(f"{what}: {url} {answered}: {detail}{rid}. {advice}")


class UpstreamUnreachableError(UpstreamError):
    """No usable HTTP answer: connection refused or dropped, DNS, TLS or protocol failure, timeout, a redirect
    loop or a body that cannot be decoded. ``timed_out``: the last attempt ran out of time (httpx's timeouts, or
    the retry deadline)."""

    def __init__(
        self,
        what: str,
        url: str,
        status: int | None,
        detail: str,
        hint: str,
        *,
        request_id: str | None = None,
        document: EntryKind | None = None,
        timed_out: bool = False,
    ) -> None:
        self.timed_out = timed_out
        super().__init__(what, url, status, detail, hint, request_id=request_id, document=document)


class TlsVerificationError(UpstreamUnreachableError):
    """The service's TLS certificate could not be verified (unknown issuer, self-signed, wrong name, expired).
    Never retried: it is not transient. Trust its certificate (``HttpSettings.verify_tls``: a CA file)."""


class UpstreamServerError(UpstreamError):
    """The service failed (5xx); for a PCCS, 502 means it could not reach Intel."""


class RateLimitedError(UpstreamError):
    """429 Too Many Requests. ``retry_after`` is the wait the service asked for, in seconds, when it said."""

    def __init__(
        self,
        what: str,
        url: str,
        detail: str,
        hint: str,
        *,
        retry_after: float | None,
        request_id: str | None = None,
        document: EntryKind | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(what, url, 429, detail, hint, request_id=request_id, document=document)


class CollateralNotFoundError(UpstreamError):
    """404: the service has no such document (unknown FMSPC, or a PCCS with no data for this platform)."""


class PlatformUnknownError(UpstreamError):
    """461: the PCCS does not know this platform (it was never registered)."""


class CertificatesUnavailableError(UpstreamError):
    """462: the PCCS knows the platform but has no PCK certificate for its TCB."""


class UpstreamRejectedError(UpstreamError):
    """The service refused the request itself (400, 401, 403, 410, ...): fix the request or the credentials."""


class MalformedResponseError(UpstreamError):
    """A 200 answer that is not what the protocol says (missing header, unreadable body)."""


class ResponseTooLargeError(MalformedResponseError):
    """An answer larger than the client accepts (``HttpSettings.max_response_bytes``): refused while it was
    being read, never held whole. Collateral documents are kilobytes; megabytes mean a broken or hostile service."""
