"""``make bench``: attestations per second through ``pydcap attest serve`` (1 and 2 worker processes, HTTPS, MAA's
API, RS256 tokens as MAA signs them, and ES256), beside the verifier's own rate on the same fleet, same run.

The fleet: ``--platforms`` distinct simulated SGX platforms of one FMSPC (so they share collateral, fetched once
from a simulated Intel PCS), each attesting in turn, more platforms than the verifiers' caches hold, so that every
verification checks its platform's PCK chain afresh (the costly case, and a large fleet's steady state).

verifier   ``Verifier.verify(quote bytes, collateral)`` in this process: CPU time per verification
service    attestations per second of wall time with ``2 x workers`` client threads on this same 2-core machine
           (the clients' own work competes with the server's, so the rate understates a server with its own
           cores); and the server processes' CPU time (read from /proc) per attestation, measured with one
           client at a time (concurrent clients on 2 cores inflate every process's CPU time)
overhead   service CPU per attestation / verifier CPU per verification - 1 (goal: at most 30%)
parts      where that CPU goes: the service without HTTP in this process (reading the request, choosing the
           collateral, verifying, claims, signing), its signature alone, and HTTPS per request: the 1-worker
           server's CPU for a request of an attestation's size that it reads whole and refuses (400)

Contenders alternate in short chunks, several rounds; figures are min-max ranges over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from pydcap.attest import AttestConfig
from pydcap.attest.config import ALGORITHMS
from pydcap.attest.evidence import AttestationType
from pydcap.attest.service import AttestService
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from pydcap.verify import Verifier
from pydcap.verify.verifier import PLATFORM_BYTES

API = {"api-version": "2022-08-01"}
SGX = AttestationType.SGX_ENCLAVE
TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its live children (uvicorn's worker processes)."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def service(
    workers: int, algorithm: str, pcs: SimulatedPcs, root: Path, directory: Path
) -> Iterator[tuple[int, str, Path]]:
    """``pydcap attest serve`` on a free port; yields (pid, url, its TLS certificate)."""
    port = free_port()
    db = directory / f"attest-{workers}-{algorithm}.sqlite3"
    command = [
        sys.executable, "-m", "pydcap", "attest", "serve", "--port", str(port), "--db", str(db),
        "--upstream", pcs.url, "--root-ca", str(root), "--workers", str(workers), "--algorithm", algorithm,
    ]  # fmt: skip
    env = {**os.environ, "PYDCAP_ATTEST_LOG_LEVEL": "error"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"pydcap attest serve --workers {workers} did not start") from None
            time.sleep(0.1)
    try:
        yield process.pid, f"https://127.0.0.1:{port}", directory / "attest-tls-cert.pem"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def send_all(url: str, cert: Path, bodies: list[bytes], threads: int, *, expect: int = 200) -> float:
    """Post every body to /attest/SgxEnclave from ``threads`` keep-alive clients; wall seconds."""
    context = ssl.create_default_context(cafile=cert)
    errors: list[str] = []

    def run(part: list[bytes]) -> None:
        with httpx.Client(base_url=url, verify=context, timeout=60) as http:
            for body in part:
                response = http.post(
                    "/attest/SgxEnclave", params=API, content=body, headers={"content-type": "application/json"}
                )
                if response.status_code != expect:
                    errors.append(response.text)

    parts = [bodies[i::threads] for i in range(threads)]
    workers = [threading.Thread(target=run, args=(part,)) for part in parts]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise SystemExit(f"the service did not answer {expect}: {errors[0]}")
    return time.perf_counter() - start


def span(values: list[float], fmt: str = "{:.0f}") -> str:
    return f"{fmt.format(min(values))}-{fmt.format(max(values))}"


def in_process(algorithm: str, pcs: SimulatedPcs, root: Path, directory: Path) -> AttestService:
    """The service without HTTP, as ``pydcap attest serve`` builds it (its own store, the same upstream)."""
    directory.mkdir()
    config = AttestConfig(
        upstream=pcs.url, database=str(directory / "attest.sqlite3"), root_ca=str(root), state_dir=str(directory),
        algorithm=algorithm,
    )  # fmt: skip
    return AttestService.from_config(config, issuer="https://attest.example")


def refused_body(like: bytes) -> bytes:
    """A body as long as ``like`` that the service reads whole and refuses (400: the quote is not a string)."""
    head = b'{"quote":1,"pad":"'
    return head + b"x" * (len(like) - len(head) - 2) + b'"}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platforms", type=int, default=2500, help="distinct platforms in the fleet (default 2500)")
    parser.add_argument("--chunk", type=int, default=400, help="attestations per contender and measure (default 400)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, contenders alternating (default 3)")
    args = parser.parse_args()
    console = Console()
    intel = SimulatedIntel(seed=1)
    runtime = b"bench runtime data"
    console.print(f"making {args.platforms} simulated platforms of one FMSPC...")
    quotes = [
        intel.sgx_platform(name=f"bench-{i}").quote(hashlib.sha256(runtime).digest()) for i in range(args.platforms)
    ]
    encoded = base64.urlsafe_b64encode(runtime).rstrip(b"=").decode()
    bodies = [
        b'{"quote":"' + base64.urlsafe_b64encode(q).rstrip(b"=") + b'","runtimeData":{"data":"'
        + encoded.encode() + b'","dataType":"Binary"}}'
        for q in quotes
    ]  # fmt: skip
    collateral = intel.collateral_for(quotes[0])
    verifier = Verifier(trusted_root=intel.trust_root, cache_bytes=1024 * PLATFORM_BYTES)  # fewer than the fleet
    position = {"verifier": 0}

    def chunk_of(name: str, items: list[bytes]) -> list[bytes]:
        start = position.get(name, 0)
        position[name] = (start + args.chunk) % len(items)
        return [items[(start + i) % len(items)] for i in range(args.chunk)]

    verifier_cpu: list[float] = []
    results: dict[str, dict[str, list[float]]] = {}
    parts: dict[str, list[float]] = {}  # where the CPU goes: ms per attestation (or request)
    contenders = [(1, "RS256"), (2, "RS256"), (1, "ES256"), (2, "ES256")]
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory(prefix="pydcap-bench-attest-") as tmp, SimulatedPcs(intel) as pcs:
        root = Path(tmp) / "root.pem"
        root.write_bytes(intel.root_pem)
        services = {algorithm: in_process(algorithm, pcs, root, Path(tmp) / algorithm) for algorithm in ALGORITHMS}
        appraised = {  # one appraisal each (collateral fetched, keys made): its claims are signed alone below
            algorithm: loop.run_until_complete(service.appraise(service.tenant(""), SGX, bodies[-1]))
            for algorithm, service in services.items()
        }
        with ExitStack() as stack:
            servers = {}
            for workers, algorithm in contenders:
                directory = Path(tmp) / f"{workers}-{algorithm}"
                directory.mkdir()
                servers[(workers, algorithm)] = stack.enter_context(service(workers, algorithm, pcs, root, directory))
            for key, (_, url, cert) in servers.items():  # warm: collateral fetched, keys made, workers started
                send_all(url, cert, bodies[: 4 * key[0]], 2 * key[0])
            refused = [refused_body(bodies[0])] * args.chunk
            for round_number in range(args.rounds):
                console.print(f"round {round_number + 1} of {args.rounds}")
                batch = chunk_of("verifier", quotes)
                started = time.process_time()
                for quote in batch:
                    verifier.verify(quote, collateral)
                verifier_cpu.append((time.process_time() - started) / len(batch))
                for algorithm, attest in services.items():
                    batch = chunk_of(f"in process {algorithm}", bodies)
                    started = time.process_time()
                    loop.run_until_complete(attest_all(attest, batch))
                    parts.setdefault(f"service without HTTP, {algorithm}", []).append(
                        (time.process_time() - started) / len(batch)
                    )
                    tenant, claims = attest.tenant(""), appraised[algorithm].claims
                    started = time.process_time()
                    for _ in range(args.chunk):
                        attest.sign(tenant, claims)
                    parts.setdefault(f"its {algorithm} signature alone", []).append(
                        (time.process_time() - started) / args.chunk
                    )
                for (workers, algorithm), (pid, url, cert) in servers.items():
                    name = f"service, {workers} worker{'s' if workers > 1 else ''}, {algorithm}"
                    entry = results.setdefault(name, {"rate": [], "cpu": []})
                    batch = chunk_of(name, bodies)
                    entry["rate"].append(len(batch) / send_all(url, cert, batch, 2 * workers))
                    batch = chunk_of(name, bodies)
                    cpu_before = process_cpu(pid)
                    send_all(url, cert, batch, 1)
                    entry["cpu"].append((process_cpu(pid) - cpu_before) / len(batch))
                pid, url, cert = servers[(1, "ES256")]
                cpu_before = process_cpu(pid)
                send_all(url, cert, refused, 1, expect=400)
                parts.setdefault("HTTPS per request (1 worker; a request read whole, then refused)", []).append(
                    (process_cpu(pid) - cpu_before) / len(refused)
                )
        for attest in services.values():
            loop.run_until_complete(attest.aclose())
    loop.close()
    table = Table(title=f"pydcap attest: {args.platforms} platforms, one FMSPC, {args.rounds} rounds of {args.chunk}")
    for column in ("contender", "per second", "CPU ms each", "overhead vs verifier"):
        table.add_column(column)
    base = min(verifier_cpu)
    table.add_row(
        "verifier (in process)",
        span([1 / c for c in verifier_cpu]),
        span([c * 1000 for c in verifier_cpu], "{:.2f}"),
        "",
    )
    for name, entry in results.items():
        overheads = [c / base - 1 for c in entry["cpu"]]
        table.add_row(
            name, span(entry["rate"]), span([c * 1000 for c in entry["cpu"]], "{:.2f}"),
            f"{span([o * 100 for o in overheads])} %",
        )  # fmt: skip
    console.print(table)
    console.print(
        "CPU ms each: the server processes' CPU per attestation, one client at a time (HTTPS, JSON, verification, "
        "claims, signature); per second: 2 client threads per worker. The goal is an overhead of at most 30 %."
    )
    where = Table(title="where an attestation's CPU goes (ms, ranges over rounds)")
    where.add_column("part")
    where.add_column("CPU ms each")
    where.add_row("verification (the verifier above)", span([c * 1000 for c in verifier_cpu], "{:.2f}"))
    for name, values in parts.items():
        where.add_row(name, span([v * 1000 for v in values], "{:.2f}"))
    console.print(where)
    console.print(
        f"The goal (30 %) leaves {base * 0.3 * 1000:.2f} ms beside the verification for everything else; HTTPS per "
        "request and the signature are measured above on their own."
    )


async def attest_all(attest: AttestService, bodies: list[bytes]) -> None:
    for body in bodies:
        await attest.attest("", SGX, body)


if __name__ == "__main__":
    main()
