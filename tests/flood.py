"""Floods of made-up FMSPCs and platforms, for the tests that show a PCCS or a collateral service neither grows
nor forwards them all to Intel. ``PYDCAP_FLOOD_SECONDS`` makes a flood last that long (the closing numbers of
issue 12: ``PYDCAP_FLOOD_SECONDS=300 .venv/bin/python -m pytest tests/pccs/test_flood.py -s``); otherwise it
sends a fixed number of requests.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

V4 = "/sgx/certification/v4"


def flood_seconds() -> float | None:
    text = os.environ.get("PYDCAP_FLOOD_SECONDS")
    return float(text) if text else None


def rss_bytes(pid: int) -> int:
    """The resident set of process ``pid`` (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def made_up_path(rng: random.Random) -> str:
    """A request for a TCB info of a random FMSPC (SGX or TDX), or the PCK certificate of a random platform."""
    if rng.random() < 0.5:
        tee = rng.choice(["sgx", "tdx"])
        return f"/{tee}/certification/v4/tcb?fmspc={rng.randbytes(6).hex()}"
    qe_id, cpu_svn, pce_svn, ppid = rng.randbytes(16), rng.randbytes(16), rng.randbytes(2), rng.randbytes(384)
    return (
        f"{V4}/pckcert?qeid={qe_id.hex()}&cpusvn={cpu_svn.hex()}&pcesvn={pce_svn.hex()}&pceid=0000"
        f"&encrypted_ppid={ppid.hex()}"
    )


@dataclass
class FloodReport:
    requests: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    without_retry_after: int = 0  # 503 answers lacking Retry-After


async def _flood(base_url: str, *, count: int, seconds: float | None, concurrency: int, seed: int) -> FloodReport:
    rng = random.Random(seed)
    report = FloodReport()
    started = time.monotonic()
    deadline = started + seconds if seconds is not None else None
    remaining = [count]

    def more() -> bool:
        if deadline is not None:
            return time.monotonic() < deadline
        remaining[0] -= 1
        return remaining[0] >= 0

    async def worker(client: httpx.AsyncClient) -> None:
        while more():
            answer = await client.get(made_up_path(rng))
            report.requests += 1
            report.statuses[answer.status_code] += 1
            if answer.status_code == 503 and "Retry-After" not in answer.headers:
                report.without_retry_after += 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    report.seconds = time.monotonic() - started
    return report


def flood(
    base_url: str, *, count: int, seconds: float | None = None, concurrency: int = 8, seed: int = 12
) -> FloodReport:
    """``count`` made-up requests (or as many as fit in ``seconds``) from ``concurrency`` clients at once."""
    return asyncio.run(_flood(base_url, count=count, seconds=seconds, concurrency=concurrency, seed=seed))
