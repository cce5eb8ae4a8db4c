"""A PCS-compatible HTTP server over a ``SimulatedIntel``, with fault injection and request counters::

with SimulatedPcs(intel) as pcs:
    httpx.get(f"{pcs.url}/sgx/certification/v4/tcb", params={"fmspc": "00906ED50000"})
    pcs.faults.rate_limit(retry_after=3, count=1)
    pcs.stats()  # {"total": 1, "by_endpoint": {"sgx/v4/tcb": 1}, "faulted": 0}
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from pydcap.sim.intel import SimulatedIntel
from pydcap.sim.server.control import control_routes
from pydcap.sim.server.faults import FaultInjector, FaultMiddleware
from pydcap.sim.server.pcs_api import PcsApi, respond
from pydcap.sim.server.runner import ServerThread
from pydcap.sim.server.stats import RequestStats


def build_app(intel: SimulatedIntel, faults: FaultInjector, stats: RequestStats, api_key: str | None = None) -> ASGIApp:
    """The ASGI application: PCS API and ``/_sim/`` control routes behind the fault middleware."""
    app = Starlette(
        routes=[*PcsApi(intel, api_key).routes(), *control_routes(intel, faults, stats)],
        exception_handlers={HTTPException: _http_error},
    )
    return FaultMiddleware(app, faults, stats)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer like PCS: an empty body and a ``Request-ID``."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return respond(status=status)


class SimulatedPcs:
    """A real uvicorn server speaking Intel's PCS API for ``intel``, in a background thread.

    ``url`` is the PCS root (endpoints under ``/sgx/certification/v4/`` and ``/tdx/certification/v4/``, v3 too);
    ``faults`` arms latency, 429, 5xx, dropped connections and outages at runtime; ``stats()`` counts requests.
    """

    def __init__(
        self, intel: SimulatedIntel, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None
    ) -> None:
        self.intel = intel
        self.faults = FaultInjector(on_outage=self._set_outage)
        self._stats = RequestStats()
        self._server = ServerThread(build_app(intel, self.faults, self._stats, api_key), host, port)
        self._recovery: threading.Timer | None = None

    @property
    def url(self) -> str:
        host = f"[{self._server.host}]" if ":" in self._server.host else self._server.host
        return f"http://{host}:{self._server.port}"

    def start(self) -> SimulatedPcs:
        self._server.start()
        return self

    def stop(self) -> None:
        self._cancel_recovery()
        self._server.stop()

    def __enter__(self) -> SimulatedPcs:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """``{"total": n, "by_endpoint": {"sgx/v4/tcb": n, ...}, "faulted": n}`` since start or reset."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    def _cancel_recovery(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            self._recovery = None

    def _set_outage(self, on: bool, seconds: float | None) -> None:
        """Stop listening (on) or listen again (off); a timed outage ends by itself."""
        self._cancel_recovery()
        if not on:
            self._server.start()
            return
        if self._server.in_server_thread():
            # Asked over HTTP: stop from another thread, so the request that asked is answered first.
            threading.Thread(target=self._server.stop, daemon=True).start()
        else:
            self._server.stop()
        if seconds is not None:
            self._recovery = threading.Timer(seconds, self._recover)
            self._recovery.daemon = True
            self._recovery.start()

    def _recover(self) -> None:
        self.faults.outage_ended()
        self._server.start()


__all__ = ["FaultInjector", "RequestStats", "SimulatedPcs", "build_app"]
