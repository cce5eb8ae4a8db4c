"""The caching modes with Intel's semantics: LAZY fetches on a miss, REQ only when a platform registers,
OFFLINE never (registration queues, import fills); plus single flight and replicas on one store."""

from __future__ import annotations

import concurrent.futures

import httpx

from pydcap.pccs import CachingMode
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.support.pccs import ADMIN, USER, V4, Factory, client, pckcert_params, registration


def test_lazy_fetches_a_miss_once_then_serves_it(make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs) -> None:
    pccs = make_pccs(CachingMode.LAZY)
    fmspc = intel.sgx_platform().fmspc.hex()
    with client(pccs) as c:
        for _ in range(5):
            assert c.get(f"{V4}/tcb", params={"fmspc": fmspc}).status_code == 200
    assert pcs.stats()["by_endpoint"]["sgx/v4/tcb"] == 1


def test_req_misses_never_go_upstream_registration_does(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    pccs = make_pccs(CachingMode.REQ)
    platform = intel.sgx_platform(name="req-mode")
    with client(pccs) as c:
        unknown = c.get(f"{V4}/pckcert", params=pckcert_params(platform))
        assert unknown.status_code == 461
        assert unknown.text.startswith("The platform was not found in the cache.")
        assert "REQ mode" in unknown.text and "POST platforms" in unknown.text
        miss = c.get(f"{V4}/tcb", params={"fmspc": platform.fmspc.hex()})
        assert miss.status_code == 404 and "REQ mode" in miss.text
        assert pcs.stats()["total"] == 0
        assert c.post(f"{V4}/platforms", json=registration(platform), headers=USER).status_code == 200
        assert pcs.stats()["by_endpoint"]["sgx/v4/pckcerts"] == 1
        served = c.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False))
        assert served.status_code == 200 and served.content == platform.pck.pem
        assert c.get(f"{V4}/tcb", params={"fmspc": platform.fmspc.hex()}).status_code == 200
        # fetched, so the registration queue no longer holds it
        assert c.get(f"{V4}/platforms", headers=ADMIN).json() == []
        # a raw TCB never seen is selected from the cached certificates, still without PCS
        pcs.reset_stats()
        lower = c.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False, pce_svn=platform.pce_svn - 1))
        assert lower.status_code == 200, lower.text
        assert int.from_bytes(bytes.fromhex(lower.headers["SGX-TCBm"][32:]), "little") < platform.pce_svn
        assert pcs.stats()["total"] == 0


def test_req_queues_a_registration_whose_fetch_failed(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    pccs = make_pccs(CachingMode.REQ)
    platform = intel.sgx_platform(name="req-down")
    pcs.faults.server_error(503)
    with client(pccs) as c:
        failed = c.post(f"{V4}/platforms", json=registration(platform), headers=USER)
        assert failed.status_code == 502, failed.text
        [row] = c.get(f"{V4}/platforms", headers=ADMIN).json()
        assert row["qe_id"] == platform.qe_id.hex().upper()


def test_offline_queues_registrations_and_serves_only_imports(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    offline = make_pccs(CachingMode.OFFLINE, name="airgapped")
    connected = make_pccs(CachingMode.LAZY, name="connected")
    platform = intel.sgx_platform(name="offline-mode")
    with client(offline) as c:
        assert c.post(f"{V4}/platforms", json=registration(platform), headers=USER).status_code == 200
        assert c.get(f"{V4}/pckcert", params=pckcert_params(platform)).status_code == 461
        listing = c.get(f"{V4}/platforms", headers=ADMIN).json()
    assert pcs.stats()["total"] == 0
    # Intel's admin flow: the list goes to a connected machine, which fetches, and the result comes back.
    with client(connected) as c:
        for item in listing:
            assert c.post(f"{V4}/platforms", json=item, headers=USER, params={"update": "all"}).status_code == 200
    from pydcap.pccs import export_collateral

    document = export_collateral(connected.app.service)
    with client(offline) as c:
        assert c.put(f"{V4}/platformcollateral", json=document, headers=ADMIN).status_code == 200
        cert = c.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False))
        assert cert.status_code == 200 and cert.content == platform.pck.pem
        tcb = c.get(f"{V4}/tcb", params={"fmspc": platform.fmspc.hex()})
        assert tcb.content == intel.tcb_info(platform.fmspc)
        assert c.get(f"{V4}/qe/identity", params={"update": "early"}).status_code == 200


def test_concurrent_misses_are_one_upstream_request(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    pccs = make_pccs()
    fmspc = intel.tdx_platform().fmspc.hex()
    pcs.faults.latency(0.5, endpoint="tcb")

    def fetch(_: int) -> int:
        return httpx.get(f"{pccs.url}/tdx/certification/v4/tcb", params={"fmspc": fmspc}, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert list(pool.map(fetch, range(32))) == [200] * 32
    assert pcs.stats()["by_endpoint"]["tdx/v4/tcb"] == 1


def test_concurrent_pckcert_misses_are_one_upstream_request(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    pccs = make_pccs()
    platform = intel.sgx_platform(name="pckcert-flight")
    pcs.faults.latency(0.3, endpoint="pckcerts")

    def fetch(_: int) -> bytes:
        answer = httpx.get(f"{pccs.url}{V4}/pckcert", params=pckcert_params(platform), timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.content

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(fetch, range(8))) == {platform.pck.pem}
    assert pcs.stats()["by_endpoint"]["sgx/v4/pckcerts"] == 1


def test_two_replicas_on_one_store_fetch_once(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs, tmp_path: object
) -> None:
    first = make_pccs(name="shared")
    second = make_pccs(name="shared")  # same directory, same SQLite file
    platform = intel.sgx_platform(name="replicas")
    with client(first) as a, client(second) as b:
        assert a.get(f"{V4}/pckcert", params=pckcert_params(platform)).status_code == 200
        assert a.get(f"{V4}/tcb", params={"fmspc": platform.fmspc.hex()}).status_code == 200
        pcs.reset_stats()
        assert b.get(f"{V4}/tcb", params={"fmspc": platform.fmspc.hex()}).content == intel.tcb_info(platform.fmspc)
        assert b.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False)).content == platform.pck.pem
    assert pcs.stats()["total"] == 0
