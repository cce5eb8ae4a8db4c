"""Does a collateral service answer? One short GET of a document that needs no credentials, classified:
served, answered with an error status, untrusted TLS certificate, timeout, or unreachable. Used by
``pydcap doctor``.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from pydcap.provider.endpoints import tls_verification
from pydcap.sources.http import certificate_failure

Outcome = Literal["served", "http-error", "tls-untrusted", "timeout", "unreachable"]


@dataclass(frozen=True)
class ServiceProbe:
    url: str
    outcome: Outcome
    status: int | None
    detail: str
    elapsed_ms: int

    @property
    def answered(self) -> bool:
        return self.outcome in ("served", "http-error")

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "answered": self.answered,
            "outcome": self.outcome,
            "status": self.status,
            "detail": self.detail,
            "elapsed_ms": self.elapsed_ms,
        }


def probe_service(
    url: str,
    *,
    verify: bool | str = True,
    timeout: float = 3.0,
    headers: dict[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ServiceProbe:
    """GET ``url`` once with ``timeout`` seconds for everything; never raises for network trouble. ``verify``
    is whether to check the TLS certificate, or the path of a CA bundle to check it against."""
    start = time.monotonic()

    def done(outcome: Outcome, detail: str, status: int | None = None) -> ServiceProbe:
        return ServiceProbe(url, outcome, status, detail, int((time.monotonic() - start) * 1000))

    try:
        context = tls_verification(verify)
    except (OSError, ssl.SSLError) as exc:
        return done("unreachable", f"cannot use the CA bundle {verify}: {exc}")
    try:
        with (
            httpx.Client(verify=context, timeout=timeout, transport=transport, follow_redirects=False) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            pass  # the status is the answer: the body is never read
    except httpx.TimeoutException:
        return done("timeout", f"no answer within {timeout:g} s")
    except httpx.TransportError as exc:
        if certificate_failure(exc) is not None:
            return done("tls-untrusted", f"TLS certificate not trusted: {_root_cause(exc)}")
        return done("unreachable", _root_cause(exc))
    reason = response.reason_phrase or ""
    if response.status_code == 200:
        return done("served", f"HTTP 200 {reason}".strip(), 200)
    return done("http-error", f"HTTP {response.status_code} {reason}".strip(), response.status_code)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _root_cause(exc: BaseException) -> str:
    last = _chain(exc)[-1]
    return str(last) or type(last).__name__
