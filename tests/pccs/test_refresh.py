"""Keeping current: a document is fetched again shortly before its nextUpdate (once, not at every tick),
the RefreshSchedule runs the full refresh, and an expected miss is logged as one structured line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import time
from typing import Any

import pytest

from pydcap.cache import EntryKey
from pydcap.serving.logs import configure_logging
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.support.pccs import V4, Clock, Factory, client


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

        def refreshed_and_counted() -> bool:  # a refresh is counted when it ends, after it asked the upstream
            fetched = pcs.stats()["by_endpoint"]["sgx/v4/qve/identity"] >= 2
            return fetched and 'outcome="scheduled_ok"' in c.get("/metrics").text

        assert wait_until(refreshed_and_counted, 4.0)


def test_an_answer_prepared_while_the_cache_changed_is_not_kept(
    make_pccs: Factory, intel: SimulatedIntel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that began before cached answers changed (a refresh, an import, another replica) must not
    put its answer back among the prepared ones after they were dropped."""
    pccs = make_pccs()
    fmspc = intel.sgx_platform().fmspc.hex()
    upstream = pccs.app.service.upstream
    assert upstream is not None
    fetching, go_on = threading.Event(), threading.Event()
    tcb_info = upstream.tcb_info

    async def held(*args: Any, **kwargs: Any) -> Any:
        fetching.set()
        await asyncio.to_thread(go_on.wait, 10)
        return await tcb_info(*args, **kwargs)

    monkeypatch.setattr(upstream, "tcb_info", held)
    answers: list[int] = []
    path, query = f"{V4}/tcb", f"fmspc={fmspc}".encode()
    with client(pccs) as c:
        request = threading.Thread(target=lambda: answers.append(c.get(f"{path}?{query.decode()}").status_code))
        request.start()
        assert fetching.wait(10)
        pccs.app.drop_prepared()  # what a refresh does when it is done
        go_on.set()
        request.join(10)
        assert answers == [200]
        assert pccs.app.fast.get((path, query)) is None
        assert c.get(f"{path}?{query.decode()}").status_code == 200  # asked afterwards: prepared again
        assert pccs.app.fast.get((path, query)) is not None


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


def test_the_schedule_and_the_registry_follow_the_services_clock(make_pccs: Factory, pcs: SimulatedPcs) -> None:
    """The refresher used to read the wall clock for its schedule beside the service's clock for freshness."""
    clock = Clock()
    pccs = make_pccs(clock=clock)  # the default schedule: daily at 01:00
    with client(pccs) as c:
        assert c.get(f"{V4}/qve/identity").status_code == 200
        clock.offset = 2 * 86_400.0  # two days on: the daily refresh is due by the service's clock

        def refreshed() -> bool:
            fetched = pcs.stats()["by_endpoint"]["sgx/v4/qve/identity"] >= 2
            return fetched and 'outcome="scheduled_ok"' in c.get("/metrics").text

        assert wait_until(refreshed, 4.0)
    registry = pccs.app.service.registry
    assert registry.clock is clock
