"""Keeping current: a document is fetched again shortly before its nextUpdate (once, not at every tick),
the RefreshSchedule runs the full refresh, and an expected miss is logged as one structured line."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest

from pydcap.cache import EntryKey
from pydcap.pccs.logs import configure_logging
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.pccs.conftest import V4, Factory, client
from tests.pccs.test_faults import Clock


def wait_until(condition: object, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_refresh_before_next_update(make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs) -> None:
    clock = Clock()
    pccs = make_pccs(clock=clock, refresh_before_next_update=2.0)
    fmspc = intel.sgx_platform().fmspc.hex()
    with client(pccs) as c:
        assert c.get(f"{V4}/tcb", params={"fmspc": fmspc}).status_code == 200
    service = pccs.app.service
    entry = service.store.get(service.cache.root_id, EntryKey.tcb_info("sgx", fmspc))
    assert entry is not None
    clock.offset = entry.valid_until - time.time() - 1.0  # one second before its nextUpdate
    assert wait_until(lambda: pcs.stats()["by_endpoint"]["sgx/v4/tcb"] == 2)
    time.sleep(1.0)  # the upstream gave the same issue again: it is not asked at every tick
    assert pcs.stats()["by_endpoint"]["sgx/v4/tcb"] == 2


def test_refresh_schedule_runs_the_full_refresh(make_pccs: Factory, pcs: SimulatedPcs) -> None:
    pccs = make_pccs(refresh_schedule="* * * * * *")  # every second
    with client(pccs) as c:
        assert c.get(f"{V4}/qve/identity").status_code == 200
    assert wait_until(lambda: pcs.stats()["by_endpoint"]["sgx/v4/qve/identity"] >= 2, 4.0)
    with client(pccs) as c:
        assert 'outcome="scheduled_ok"' in c.get("/metrics").text


def test_an_expected_miss_is_one_line(make_pccs: Factory, caplog: pytest.LogCaptureFixture) -> None:
    pccs = make_pccs()
    with caplog.at_level(logging.INFO, logger="pydcap"), client(pccs) as c:
        assert c.get(f"{V4}/tcb", params={"fmspc": "FFFFFFFFFFFF"}).status_code == 404
    lines = [r for r in caplog.records if r.name == "pydcap.pccs"]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert lines[0].status == 404 and len(lines[0].request_id) == 32  # type: ignore[attr-defined]


def test_logs_are_json_lines() -> None:
    stream = io.StringIO()
    configure_logging("info", stream)
    try:
        logging.getLogger("pydcap.pccs").info("GET %s -> %d", "/x", 404, extra={"request_id": "r1", "status": 404})
    finally:
        for name in ("pydcap", "uvicorn.error"):
            logging.getLogger(name).handlers.clear()
            logging.getLogger(name).propagate = True
            logging.getLogger(name).setLevel(logging.NOTSET)
    record = json.loads(stream.getvalue())
    assert record["message"] == "GET /x -> 404" and record["request_id"] == "r1" and record["level"] == "info"
