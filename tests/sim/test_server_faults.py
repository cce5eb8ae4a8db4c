"""Fault injection on the simulated PCS, over real HTTP: latency, 429 with Retry-After, 5xx, dropped
connections and outages, set from Python and over ``/_sim/faults``; counters include faulted requests."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from pydcap.sim import SimulatedIntel
from pydcap.sim.catalog import SGX_FMSPC
from pydcap.sim.server import SimulatedPcs
from pydcap.sim.server.faults import FaultInjector

TCB = "/sgx/certification/v4/tcb"
QE = "/sgx/certification/v4/qe/identity"
FMSPC = {"fmspc": SGX_FMSPC.hex()}


@pytest.fixture(scope="module")
def pcs(intel: SimulatedIntel) -> Iterator[SimulatedPcs]:
    with SimulatedPcs(intel) as server:
        yield server


@pytest.fixture
def client(pcs: SimulatedPcs) -> Iterator[httpx.Client]:
    pcs.faults.clear()
    pcs.reset_stats()
    with httpx.Client(base_url=pcs.url, timeout=10) as c:
        yield c
    pcs.faults.clear()


def _wait_until_up(url: str, deadline: float = 15.0) -> httpx.Response:
    end = time.monotonic() + deadline
    while True:
        try:
            return httpx.get(url + QE, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def _wait_until_down(url: str, deadline: float = 15.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            httpx.get(url + QE, timeout=5)
        except httpx.TransportError:  # refused, or reset by a server that is stopping
            return
        time.sleep(0.01)
    raise AssertionError(f"{url} still answers after {deadline} s")


def test_latency_delays_responses(pcs: SimulatedPcs, client: httpx.Client) -> None:
    pcs.faults.latency(0.5)
    with pytest.raises(httpx.ReadTimeout):
        client.get(QE, timeout=0.1)
    pcs.faults.latency(0)
    assert client.get(QE, timeout=5).status_code == 200


def test_latency_can_target_one_endpoint(pcs: SimulatedPcs, client: httpx.Client) -> None:
    # Far apart, so that a slow machine can neither delay the other endpoint past its timeout nor answer in time.
    pcs.faults.latency(1.5, endpoint="tcb")
    assert client.get(QE, timeout=1).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        client.get(TCB, params=FMSPC, timeout=0.1)


def test_rate_limit_answers_429_with_retry_after_then_recovers(pcs: SimulatedPcs, client: httpx.Client) -> None:
    pcs.faults.rate_limit(retry_after=7, count=2)
    for _ in range(2):
        r = client.get(TCB, params=FMSPC)
        assert r.status_code == 429 and r.headers["Retry-After"] == "7" and "Request-ID" in r.headers
    assert client.get(TCB, params=FMSPC).status_code == 200
    assert pcs.stats() == {"total": 3, "by_endpoint": {"sgx/v4/tcb": 3}, "faulted": 2}
    assert pcs.faults.snapshot()["rate_limit"] is None  # used up


def test_rate_limit_on_one_endpoint_only(pcs: SimulatedPcs, client: httpx.Client) -> None:
    pcs.faults.rate_limit(retry_after=1, endpoint="pckcert")
    assert client.get(TCB, params=FMSPC).status_code == 200
    assert client.get("/sgx/certification/v4/pckcert", params={"qeid": "00"}).status_code == 429
    assert client.get("/sgx/certification/v4/pckcerts", params={"pceid": "0000"}).status_code == 400


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors(pcs: SimulatedPcs, client: httpx.Client, status: int) -> None:
    pcs.faults.server_error(status, count=1)
    assert client.get(QE).status_code == status
    assert client.get(QE).status_code == 200
    pcs.faults.server_error(status)  # until cleared
    assert [client.get(QE).status_code for _ in range(3)] == [status] * 3
    pcs.faults.clear()
    assert client.get(QE).status_code == 200


def test_dropped_connections(pcs: SimulatedPcs, client: httpx.Client) -> None:
    pcs.faults.drop_connections(count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(QE)
    assert client.get(QE).status_code == 200
    assert pcs.stats()["total"] == 2 and pcs.stats()["faulted"] == 1


def test_outage_refuses_connections_until_it_ends(pcs: SimulatedPcs, client: httpx.Client) -> None:
    pcs.faults.outage(True)
    with pytest.raises(httpx.ConnectError):
        httpx.get(pcs.url + QE, timeout=5)
    assert pcs.faults.snapshot()["outage"] is True
    pcs.faults.outage(False)
    assert _wait_until_up(pcs.url).status_code == 200
    assert pcs.faults.snapshot()["outage"] is False


def test_faults_are_controlled_over_http(pcs: SimulatedPcs, client: httpx.Client) -> None:
    armed = client.post("/_sim/faults", json={"rate_limit": {"retry_after": 3, "count": 1}, "latency": 0.01})
    assert armed.status_code == 200
    assert armed.json()["rate_limit"] == {"count": 1, "endpoint": None, "status": 429, "retry_after": 3}
    assert client.get(QE).headers["Retry-After"] == "3"
    client.post("/_sim/faults", json={"server_error": {"status": 503}, "drop_connections": {"count": 1}})
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(QE)
    assert client.get(QE).status_code == 503
    assert client.get("/_sim/faults").json()["server_error"]["status"] == 503
    assert client.delete("/_sim/faults").json()["server_error"] is None
    assert client.get(QE).status_code == 200
    assert client.post("/_sim/faults", json={"clear": True}).status_code == 200


def test_timed_outage_over_http_ends_by_itself(pcs: SimulatedPcs, client: httpx.Client) -> None:
    assert client.post("/_sim/faults", json={"outage": {"seconds": 0.5}}).json()["outage"] is True
    # The server stops once it has answered; the outage lasts half a second from then.
    _wait_until_down(pcs.url)
    assert _wait_until_up(pcs.url).status_code == 200
    assert pcs.faults.snapshot()["outage"] is False


def test_nothing_restarts_a_stopped_server(intel: SimulatedIntel) -> None:
    pcs = SimulatedPcs(intel).start()
    pcs.faults.outage(True)
    pcs.stop()
    pcs.faults.clear()  # ends the outage, but a stopped server stays stopped
    with pytest.raises(httpx.ConnectError):
        httpx.get(pcs.url + QE, timeout=5)
    timed = SimulatedPcs(intel).start()
    timed.faults.outage(True, seconds=0.05)
    timed.stop()
    time.sleep(0.3)  # past the end of the outage
    with pytest.raises(httpx.ConnectError):
        httpx.get(timed.url + QE, timeout=5)


@pytest.mark.parametrize(
    "body",
    [
        b"[1]",
        b"{not json",
        b'{"earthquake": true}',
        b'{"server_error": {"status": 404}}',
        b'{"rate_limit": {"count": -1}}',
    ],
)
def test_bad_fault_requests_are_400(client: httpx.Client, body: bytes) -> None:
    assert client.post("/_sim/faults", content=body).status_code == 400


def test_control_endpoints_are_neither_counted_nor_faulted(pcs: SimulatedPcs, client: httpx.Client) -> None:
    pcs.faults.server_error(500)
    assert client.get("/_sim/stats").status_code == 200
    assert client.get("/_sim/root-ca.pem").status_code == 200
    assert pcs.stats()["total"] == 0


def test_injector_rejects_impossible_settings() -> None:
    faults = FaultInjector()
    with pytest.raises(ValueError):
        faults.latency(-1)
    with pytest.raises(ValueError):
        faults.server_error(429)
    with pytest.raises(ValueError):
        faults.disarm("earthquake")
    faults.drop_connections(count=1, endpoint="sgx/v4/tcb")
    assert faults.decide("sgx/v4/tcb").drop and not faults.decide("sgx/v4/tcb").drop
