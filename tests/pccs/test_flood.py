"""A flood of made-up FMSPCs and platforms against a real LAZY PCCS (``pydcap pccs serve`` on loopback, its
upstream the simulated PCS): its memory stays flat, every answer is 404 or 503 with Retry-After (never 500),
and the upstream is sent no more than the request budget allows, while cached documents are still served.
With ``PYDCAP_FLOOD_SECONDS`` set the flood lasts that long and its numbers are printed."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from pydcap.pccs import CachingMode
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.flood import V4, flood, flood_seconds, rss_bytes
from tests.support.pccs import Factory, client, pckcert_params, serving

RATE, BURST = 5.0, 20
# Beside the budgeted misses: what one real platform's lookups below fetch (a TCB info, the QE identity, the
# root CA CRL its admission needs).
FIXED_DOCUMENTS = 3


def test_made_up_fmspcs_and_platforms_neither_grow_the_pccs_nor_reach_intel_beyond_the_budget(
    tmp_path: Path, pcs: SimulatedPcs, root_file: Path, intel: SimulatedIntel
) -> None:
    seconds = flood_seconds()
    args = ["--upstream", pcs.url, "--root-ca", str(root_file), "--insecure-http", "--mode", "LAZY"]
    env = {"PYDCAP_PCCS_UPSTREAM_RATE_LIMIT": str(RATE), "PYDCAP_PCCS_UPSTREAM_BURST": str(BURST)}
    with serving(args, tmp_path, env=env) as (process, port, _):
        base = f"http://127.0.0.1:{port}"
        fmspc = intel.sgx_platform().fmspc.hex()
        real = httpx.get(f"{base}{V4}/tcb", params={"fmspc": fmspc})
        assert real.status_code == 200
        assert httpx.get(f"{base}{V4}/qe/identity").status_code == 200
        # Warm up (code paths, allocator, the budget spent), then measure.
        flood(base, count=400, seed=1)
        time.sleep(1.0)
        before = rss_bytes(process.pid)
        pcs.reset_stats()
        started = time.monotonic()
        report = flood(base, count=2000, seconds=seconds, seed=2)
        elapsed = time.monotonic() - started
        after = rss_bytes(process.pid)
        upstream = pcs.stats()["total"]
        again = httpx.get(f"{base}{V4}/tcb", params={"fmspc": fmspc})
    allowed = BURST + RATE * elapsed + FIXED_DOCUMENTS
    print(
        f"\nPCCS flood: {report.requests} requests in {report.seconds:.0f} s, answers {dict(report.statuses)}, "
        f"{upstream} upstream requests (budget {allowed:.0f}), RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB"
    )
    assert set(report.statuses) <= {404, 503}, report.statuses
    assert report.statuses[503] > 0 and report.without_retry_after == 0
    assert upstream <= allowed, f"{upstream} upstream requests for {report.requests} made-up ones"
    assert after - before < 20 * 2**20, f"RSS grew from {before / 2**20:.1f} to {after / 2**20:.1f} MiB"
    assert again.status_code == 200 and again.content == real.content  # cached answers are untouched


def test_a_platform_intel_does_not_know_is_asked_for_once_and_a_made_up_ppid_does_not_hide_a_real_one(
    make_pccs: Factory, pcs: SimulatedPcs, intel: SimulatedIntel
) -> None:
    pccs = make_pccs(CachingMode.LAZY)
    platform = intel.sgx_platform(name="negative")
    real = pckcert_params(platform)
    made_up = {**real, "encrypted_ppid": "ab" * 384}
    with client(pccs) as c:
        for _ in range(3):
            answer = c.get(f"{V4}/pckcert", params=made_up)
            assert answer.status_code == 404 and "the upstream PCS has none either" in answer.text
        assert pcs.stats()["by_endpoint"].get("sgx/v4/pckcerts") == 1
        assert c.get(f"{V4}/pckcert", params=real).status_code == 200
    assert pcs.stats()["by_endpoint"]["sgx/v4/pckcerts"] == 2


def test_tdx_tcb_info_is_not_asked_again_and_again_for_an_sgx_only_fmspc(
    make_pccs: Factory, pcs: SimulatedPcs, intel: SimulatedIntel
) -> None:
    pccs = make_pccs(CachingMode.LAZY)  # its retry interval after failures is 0.2 s; a 404 holds for 600 s
    with client(pccs) as c:
        for name in ("sgx-only-1", "sgx-only-2", "sgx-only-3"):
            platform = intel.sgx_platform(name=name)
            assert c.get(f"{V4}/pckcert", params=pckcert_params(platform)).status_code == 200
            time.sleep(0.3)
    assert pcs.stats()["by_endpoint"]["tdx/v4/tcb"] == 2  # standard and early, once each
    assert pcs.stats()["by_endpoint"]["sgx/v4/pckcerts"] == 3
