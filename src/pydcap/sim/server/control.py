"""The simulator's own endpoints under ``/_sim/``: the root certificate, request counters and fault control.
They are never counted and never faulted."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pydcap.sim.intel import SimulatedIntel
from pydcap.sim.server.faults import FaultInjector
from pydcap.sim.server.stats import RequestStats


def control_routes(intel: SimulatedIntel, faults: FaultInjector, stats: RequestStats) -> list[Route]:
    async def root_ca(request: Request) -> Response:
        return Response(intel.root_pem, media_type="application/x-pem-file")

    async def get_stats(request: Request) -> Response:
        return JSONResponse(stats.snapshot())

    async def reset_stats(request: Request) -> Response:
        stats.reset()
        return JSONResponse(stats.snapshot())

    async def fault_control(request: Request) -> Response:
        if request.method == "DELETE":
            faults.clear()
        elif request.method == "POST":
            try:
                spec = json.loads(await request.body() or b"{}")
                if not isinstance(spec, dict):
                    raise ValueError("the body must be a JSON object")
                faults.configure(spec)
            except (ValueError, KeyError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(faults.snapshot())

    return [
        Route("/_sim/root-ca.pem", root_ca, methods=["GET"]),
        Route("/_sim/stats", get_stats, methods=["GET"]),
        Route("/_sim/stats", reset_stats, methods=["DELETE"]),
        Route("/_sim/stats/reset", reset_stats, methods=["POST"]),
        Route("/_sim/faults", fault_control, methods=["GET", "POST", "DELETE"]),
    ]
