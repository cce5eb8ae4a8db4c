"""``/metrics``: numbers of several worker processes summed (unit), and a server with two workers reporting
the same totals whichever worker is scraped, never going backwards, even when uvicorn replaces a worker."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from pydcap.serving.metrics import Metrics, WorkerSnapshots
from pydcap.sim.server import SimulatedPcs
from tests.support.pccs import V4, serving

QE_IDENTITY = 'pydcap_pccs_requests_total{endpoint="sgx/v4/qe/identity",status="200"}'


def _worker_a(metrics: Metrics) -> None:
    metrics.request("sgx/v4/tcb", 200)
    metrics.request("sgx/v4/tcb", 200)
    metrics.request("sgx/v4/tcb", 404)
    metrics.cache_result("sgx/v4/tcb", "hit")
    metrics.upstream_call("v4/sgx/tcb", "ok", 0.003)
    metrics.refresh("scheduled_ok")


def _worker_b(metrics: Metrics) -> None:
    metrics.request("sgx/v4/tcb", 200)
    metrics.request("metrics", 200)
    metrics.cache_result("sgx/v4/tcb", "miss")
    metrics.upstream_call("v4/sgx/tcb", "ok", 0.2)
    metrics.upstream_call("v4/pckcrl", "unreachable", 3.0)


def test_merge_sums_counters_and_histograms_and_unites_label_sets() -> None:
    a, b, both = Metrics(), Metrics(), Metrics()
    _worker_a(a)
    _worker_b(b)
    _worker_a(both)
    _worker_b(both)
    total = Metrics.from_json(json.loads(json.dumps(a.to_json())))  # as another worker's file brings it
    total.add(Metrics.from_json(json.loads(json.dumps(b.to_json()))))
    text = total.render()
    assert text == both.render()
    for line in [
        'pydcap_pccs_requests_total{endpoint="sgx/v4/tcb",status="200"} 3',
        'pydcap_pccs_requests_total{endpoint="sgx/v4/tcb",status="404"} 1',
        'pydcap_pccs_requests_total{endpoint="metrics",status="200"} 1',
        'pydcap_pccs_cache_total{endpoint="sgx/v4/tcb",result="hit"} 1',
        'pydcap_pccs_cache_total{endpoint="sgx/v4/tcb",result="miss"} 1',
        'pydcap_pccs_upstream_requests_total{endpoint="v4/sgx/tcb",outcome="ok"} 2',
        'pydcap_pccs_upstream_requests_total{endpoint="v4/pckcrl",outcome="unreachable"} 1',
        'pydcap_pccs_upstream_seconds_bucket{endpoint="v4/sgx/tcb",le="0.005"} 1',
        'pydcap_pccs_upstream_seconds_bucket{endpoint="v4/sgx/tcb",le="0.1"} 1',
        'pydcap_pccs_upstream_seconds_bucket{endpoint="v4/sgx/tcb",le="0.25"} 2',
        'pydcap_pccs_upstream_seconds_bucket{endpoint="v4/sgx/tcb",le="+Inf"} 2',
        'pydcap_pccs_upstream_seconds_sum{endpoint="v4/sgx/tcb"} 0.203000',
        'pydcap_pccs_upstream_seconds_count{endpoint="v4/sgx/tcb"} 2',
        'pydcap_pccs_upstream_seconds_bucket{endpoint="v4/pckcrl",le="2.5"} 0',
        'pydcap_pccs_upstream_seconds_bucket{endpoint="v4/pckcrl",le="5.0"} 1',
        'pydcap_pccs_refreshes_total{outcome="scheduled_ok"} 1',
    ]:
        assert line in text.splitlines(), line
    assert a.render() != text and len(a.requests) == 2  # the parts themselves are left as they were


def test_snapshots_add_the_other_workers_files_once(tmp_path: Path) -> None:
    a, b = Metrics(), Metrics()
    _worker_a(a)
    _worker_b(b)
    first, second = WorkerSnapshots(tmp_path), WorkerSnapshots(tmp_path)
    first.publish(a)
    (tmp_path / "9-broken.json").write_text("{not json")  # ignored, with a warning
    assert second.total(b.copy()).render() == first.total(a.copy()).render()  # each: its own + the other's file
    both = Metrics()
    _worker_a(both)
    _worker_b(both)
    assert second.total(b.copy()).render() == both.render()  # its own file, written now, is not added again
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["9-broken.json", first.name, second.name])


def _scrape(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics").text
    return {
        series: float(value)
        for series, _, value in (line.rpartition(" ") for line in text.splitlines() if not line.startswith("#"))
    }


def _send(base: str, connections: int = 8, each: int = 5) -> int:
    """``connections * each`` requests, over that many connections at once (so that both workers take some)."""

    def one_connection(_: int) -> None:
        with httpx.Client(base_url=base) as c:
            for _ in range(each):
                assert c.get(f"{V4}/qe/identity").status_code == 200

    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(one_connection, range(connections)))
    return connections * each


def _published(run_tmp: Path) -> dict[int, int]:
    """What each worker of the server has published: its pid -> the QE identity requests it answered."""
    [directory] = run_tmp.glob("pydcap-pccs-metrics-*")
    published: dict[int, int] = {}
    for path in directory.glob("*.json"):
        document = json.loads(path.read_text())
        counts = {(endpoint, status): n for endpoint, status, n in document["requests"]}
        published[document["pid"]] = counts.get(("sgx/v4/qe/identity", 200), 0)
    return published


def test_two_workers_report_the_same_growing_totals(tmp_path: Path, pcs: SimulatedPcs, root_file: Path) -> None:
    run_tmp = tmp_path / "tmp"  # the server's TMPDIR: where its workers' metrics directory is made
    run_tmp.mkdir()
    args = ["--upstream", pcs.url, "--root-ca", str(root_file), "--insecure-http", "--workers", "2"]
    scrapes: list[dict[str, float]] = []

    def wait_for_total(base: str, sent: int) -> None:
        """Scrape until the total is what was sent (a worker's numbers reach the others within a second)."""
        deadline = time.monotonic() + 5
        while True:
            scrapes.append(_scrape(base))
            if scrapes[-1].get(QE_IDENTITY) == sent:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"{sent} requests sent; the scrapes said {[s.get(QE_IDENTITY) for s in scrapes]}")
            time.sleep(0.1)

    with serving(args, tmp_path, env={"TMPDIR": str(run_tmp)}) as (_, port, _):
        base = f"http://127.0.0.1:{port}"
        sent = 0
        deadline = time.monotonic() + 10
        while True:
            sent += _send(base)
            wait_for_total(base, sent)
            answered = _published(run_tmp)  # exact now: the last scrape added them up to the total
            if sum(1 for n in answered.values() if n) >= 2:
                break
            assert time.monotonic() < deadline, f"one worker took every connection: {answered}"
        for _ in range(6):  # whichever worker answers, the same total
            scrapes.append(_scrape(base))
            assert scrapes[-1][QE_IDENTITY] == sent

        os.kill(max(answered, key=answered.__getitem__), signal.SIGKILL)  # no chance to say goodbye
        replaced = time.monotonic() + 10
        while len(_published(run_tmp)) < 3:  # its replacement publishes when it starts
            scrapes.append(_scrape(base))
            assert scrapes[-1][QE_IDENTITY] == sent
            assert time.monotonic() < replaced, "uvicorn did not replace the killed worker"
            time.sleep(0.1)
        sent += _send(base)
        wait_for_total(base, sent)
        for _ in range(4):
            scrapes.append(_scrape(base))
            assert scrapes[-1][QE_IDENTITY] == sent
    assert not list(run_tmp.iterdir())  # the metrics directory goes with the server

    for earlier, later in pairwise(scrapes):
        for series, value in earlier.items():
            if "_seconds_sum" not in series:  # sums of seconds are rounded: not compared
                assert later.get(series, -1) >= value, (series, value, later.get(series))
