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

from pydcap.serving import ThreadedServer
from pydcap.sim.intel import SimulatedIntel
from pydcap.sim.server.control import control_routes
from pydcap.sim.server.faults import FaultInjector, FaultMiddleware
from pydcap.sim.server.pcs_api import PcsApi, respond
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
        app = build_app(intel, self.faults, self._stats, api_key)
        self._server = ThreadedServer(app, host, port, name="pydcap-sim-pcs")
        # Serialises starting, stopping and outages, so that nothing restarts the server after stop().
        self._lock = threading.Lock()
        self._serving = False
        self._outage_over: threading.Event | None = None

    @property
    def url(self) -> str:
        host = f"[{self._server.host}]" if ":" in self._server.host else self._server.host
        return f"http://{host}:{self._server.port}"

    def start(self) -> SimulatedPcs:
        with self._lock:
            self._server.start()
            self._serving = True
        return self

    def stop(self) -> None:
        with self._lock:
            self._serving = False
            self._end_timed_outage()
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

    def _set_outage(self, on: bool, seconds: float | None) -> None:
        if self._server.in_server_thread():
            # Asked over HTTP: act from another thread, so the request that asked is answered first.
            threading.Thread(target=self._change_outage, args=(on, seconds), daemon=True).start()
        else:
            self._change_outage(on, seconds)

    def _change_outage(self, on: bool, seconds: float | None) -> None:
        """Stop listening (on) or listen again (off). A timed outage is counted from when the server has
        stopped, so it lasts at least ``seconds`` however long stopping took."""
        with self._lock:
            self._end_timed_outage()
            if not self._serving:
                return
            if not on:
                self._server.start()
                return
            self._server.stop()
            if seconds is not None:
                over = self._outage_over = threading.Event()
                threading.Thread(target=self._recover_after, args=(over, seconds), daemon=True).start()

    def _recover_after(self, over: threading.Event, seconds: float) -> None:
        if over.wait(seconds):
            return  # ended early: by another outage change or by stop()
        with self._lock:
            if over.is_set() or not self._serving:
                return
            self._outage_over = None
            self.faults.outage_ended()
            self._server.start()

    def _end_timed_outage(self) -> None:
        if self._outage_over is not None:
            self._outage_over.set()
            self._outage_over = None


__all__ = ["FaultInjector", "RequestStats", "SimulatedPcs", "build_app"]
