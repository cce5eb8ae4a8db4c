"""Replicas behind a load balancer: two PCCS servers on one PostgreSQL serve the same data, and a miss in
one is not fetched again by the other (not even when both miss at once)."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from pydcap.cache import CollateralStore
from pydcap.pccs import CachingMode
from pydcap.pccs.registry import PlatformRegistry, Registration
from pydcap.pccs.tables import STATE_NEW
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.cache.databases import postgres_schema
from tests.support.pccs import ADMIN, USER, V4, Factory, client, pckcert_params, registration

pytestmark = pytest.mark.postgres


def test_two_replicas_share_one_postgresql(make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs) -> None:
    with postgres_schema() as url:
        first = make_pccs(name="r1", database=url)
        second = make_pccs(name="r2", database=url)
        platform = intel.tdx_platform(name="pg-replicas")
        pcs.faults.latency(0.4, endpoint="tcb")
        fmspc = platform.fmspc.hex()

        def fetch(i: int) -> bytes:
            server = first if i % 2 else second
            answer = httpx.get(f"{server.url}/tdx/certification/v4/tcb", params={"fmspc": fmspc}, timeout=30)
            assert answer.status_code == 200, answer.text
            return answer.content

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            bodies = set(pool.map(fetch, range(16)))
        assert bodies == {intel.tcb_info(platform.fmspc, "tdx")}
        assert pcs.stats()["by_endpoint"]["tdx/v4/tcb"] == 1
        pcs.faults.clear()
        with client(first) as a, client(second) as b:
            assert a.post(f"{V4}/platforms", json=registration(platform), headers=USER).status_code == 200
            pcs.reset_stats()
            cert = b.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False))
            assert cert.status_code == 200 and cert.content == platform.pck.pem
            assert b.get(f"{V4}/qe/identity").status_code == 200
            assert pcs.stats()["total"] == 0


def test_an_import_on_one_replica_reaches_the_other(make_pccs: Factory, intel: SimulatedIntel) -> None:
    source = make_pccs(name="source")
    platform = intel.sgx_platform(name="pg-import")
    with client(source) as c:
        assert c.get(f"{V4}/pckcert", params=pckcert_params(platform)).status_code == 200
    from pydcap.pccs import export_collateral

    document = export_collateral(source.app.service)
    with postgres_schema() as url:
        first = make_pccs(CachingMode.OFFLINE, name="o1", database=url)
        second = make_pccs(CachingMode.OFFLINE, name="o2", database=url)
        with client(first) as a, client(second) as b:
            assert b.get(f"{V4}/tcb", params={"fmspc": platform.fmspc.hex()}).status_code == 404
            assert a.put(f"{V4}/platformcollateral", json=document, headers=ADMIN).status_code == 200
            answer = b.get(f"{V4}/tcb", params={"fmspc": platform.fmspc.hex()})
            assert answer.status_code == 200 and answer.content == intel.tcb_info(platform.fmspc)


def test_taking_the_queue_leaves_a_registration_another_replica_queued_meanwhile() -> None:
    """GET platforms marks the rows it read as taken; on PostgreSQL another replica may queue one between
    that read and the marking, and that one must still be there for the next GET platforms."""
    first = Registration("AA" * 16, "0000", "00" * 16, "0000", "11" * 384)
    late = Registration("BB" * 16, "0000", "00" * 16, "0000", "22" * 384)
    with postgres_schema() as url, CollateralStore.open(url) as store:
        registry = PlatformRegistry(store.engine, "root")
        registry.register(first, STATE_NEW)
        queued: list[bool] = []

        def queue_late(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if not queued and statement.lstrip().startswith("SELECT") and "pydcap_pccs_registrations" in statement:
                queued.append(True)
                registry.register(late, STATE_NEW)  # another connection, committed at once: "another replica"

        event.listen(store.engine, "after_cursor_execute", queue_late)
        try:
            taken = registry.registrations(STATE_NEW, take=True)
        finally:
            event.remove(store.engine, "after_cursor_execute", queue_late)
        assert queued and taken == [first]
        assert registry.registrations(STATE_NEW, take=True) == [late]
