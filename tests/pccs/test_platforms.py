"""A platform's certificates are fetched once for every replica sharing a store (one SQLite file, one
PostgreSQL schema): the replica holding the platform's lease asks PCS, the others read what it stored; a
holder that died or hangs elsewhere blocks nobody for longer than its lease."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pydcap.cache.owners import new_owner
from pydcap.pccs import PccsServer
from pydcap.pccs.platforms import platform_lease
from pydcap.sim import SimulatedIntel, SimulatedPlatform
from pydcap.sim.server import SimulatedPcs
from tests.cache.databases import store_target
from tests.support.pccs import V4, Factory, client, pckcert_params

ELSEWHERE = "another-host:4242:0123456789ab"  # a replica on another host: its lease can only expire


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_target(request.param, tmp_path) as location:
        yield location


def lease_of(server: PccsServer, platform: SimulatedPlatform) -> str:
    qe_id, pce_id = platform.qe_id.hex().upper(), platform.pce_id.hex().upper()
    return platform_lease(server.app.service.cache.root_id, qe_id, pce_id)


def pckcerts_requests(pcs: SimulatedPcs) -> int:
    return int(pcs.stats()["by_endpoint"].get("sgx/v4/pckcerts", 0))


def test_concurrent_misses_split_across_replicas_are_one_pckcerts_request(
    database: str, make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    # ``database`` first: it is set up before the replicas and removed only after they stopped.
    replicas = [make_pccs(name="r1", database=database), make_pccs(name="r2", database=database)]
    platform = intel.sgx_platform(name="replicas-flight")
    pcs.faults.latency(0.3, endpoint="pckcerts")  # every request arrives while the first fetch is under way
    raws = [pckcert_params(platform), pckcert_params(platform, pce_svn=platform.pce_svn - 1)]

    def fetch(i: int) -> tuple[int, bytes]:
        # Both replicas, and in each both raw TCBs (two flights of one process on one platform lease).
        server, params = replicas[i % 2], raws[i // 2 % 2]
        answer = httpx.get(f"{server.url}{V4}/pckcert", params=params, timeout=30)
        assert answer.status_code == 200, answer.text
        return i // 2 % 2, answer.content

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(fetch, range(16)))
    assert pckcerts_requests(pcs) == 1
    assert {body for raw, body in answers if raw == 0} == {platform.pck.pem}
    assert len({body for raw, body in answers if raw == 1}) == 1
    assert replicas[0].app.service.store.lease(lease_of(replicas[0], platform)) is None


def test_a_fetch_held_elsewhere_is_waited_for_no_longer_than_the_lease_ttl(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    pccs = make_pccs()
    service = pccs.app.service
    service.lease_ttl = 0.5
    platform = intel.sgx_platform(name="held-elsewhere")
    lease = lease_of(pccs, platform)
    assert service.store.try_lease(lease, ELSEWHERE, 3600) is None  # a replica that hangs
    with client(pccs) as c:
        busy = c.get(f"{V4}/pckcert", params=pckcert_params(platform))
        assert busy.status_code == 503, busy.text
        assert ELSEWHERE in busy.text and pckcerts_requests(pcs) == 0
        service.store.release(lease, ELSEWHERE)  # it gave up without storing anything
        served = c.get(f"{V4}/pckcert", params=pckcert_params(platform))
        assert served.status_code == 200 and served.content == platform.pck.pem
    assert pckcerts_requests(pcs) == 1


def _dead_owner_on_this_host() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host, _, rest = new_owner().partition(":")
    return f"{host}:{child.pid}:{rest.partition(':')[2]}"


@pytest.mark.parametrize(
    ("holder", "ttl"),
    [pytest.param(ELSEWHERE, 0.3, id="expired-elsewhere"), pytest.param("dead-here", 3600, id="dead-on-this-host")],
)
def test_the_lease_of_a_holder_that_died_is_taken_over(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs, holder: str, ttl: float
) -> None:
    pccs = make_pccs()
    service = pccs.app.service  # its lease TTL is 16 s: had it waited that long, it would answer 503
    platform = intel.sgx_platform(name=f"dead-holder-{holder}")
    owner = _dead_owner_on_this_host() if holder == "dead-here" else holder
    assert service.store.try_lease(lease_of(pccs, platform), owner, ttl) is None
    with client(pccs) as c:
        served = c.get(f"{V4}/pckcert", params=pckcert_params(platform))
    assert served.status_code == 200 and served.content == platform.pck.pem
    assert pckcerts_requests(pcs) == 1
