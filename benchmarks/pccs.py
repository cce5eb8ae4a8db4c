"""``make bench``: cached requests per second of ``pydcap pccs serve`` over TLS, keep-alive, 10 connections.

The PCCS runs as its own process (``pydcap pccs serve``, self-signed certificate, SQLite) with the simulated
PCS as its upstream; the load comes from another process: wrk when installed, else a small multi-process
Python client. Measured: cached ``tcb`` and ``pckcrl`` (DER), with 1 and 2 worker processes. Intel's PCCS
(Node.js) serves about 1,500-2,200 such requests per second on this class of machine (2 cores, TLS, 10
connections; measured elsewhere: Node is not run here), so the ratio is against 1,850 req/s, the middle.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

INTEL_PCCS_REFERENCE = 1850.0
PATHS = {
    "tcb": "/sgx/certification/v4/tcb?fmspc=00906ED50000",
    "pckcrl": "/sgx/certification/v4/pckcrl?ca=processor&encoding=der",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, process: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the PCCS exited during start-up")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the PCCS did not start")


def _client_worker(port: int, path: str, seconds: float, connections: int, counts: multiprocessing.Queue[int]) -> None:
    """Keep-alive HTTPS GETs on ``connections`` sockets, round robin, for ``seconds``; puts the count."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    socks = [context.wrap_socket(socket.create_connection(("127.0.0.1", port))) for _ in range(connections)]
    buffers = [b""] * connections
    done = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            for s in socks:
                s.sendall(request)
            for i, s in enumerate(socks):
                data = buffers[i]
                while True:
                    head_end = data.find(b"\r\n\r\n")
                    if head_end >= 0:
                        length = int(re.search(rb"(?i)content-length: *(\d+)", data[:head_end]).group(1))  # type: ignore[union-attr]
                        if len(data) >= head_end + 4 + length:
                            buffers[i] = data[head_end + 4 + length :]
                            break
                    chunk = s.recv(65536)
                    if not chunk:
                        raise RuntimeError("the PCCS closed a keep-alive connection")
                    data += chunk
                done += 1
    finally:
        for s in socks:
            s.close()
    counts.put(done)


def python_load(port: int, path: str, seconds: float, connections: int) -> float:
    processes = min(connections, 2)
    counts: multiprocessing.Queue[int] = multiprocessing.Queue()
    per = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    workers = [multiprocessing.Process(target=_client_worker, args=(port, path, seconds, n, counts)) for n in per]
    for w in workers:
        w.start()
    try:  # a client that died puts nothing: do not wait for it forever
        total = sum(counts.get(timeout=seconds + 30) for _ in workers)
    finally:
        for w in workers:
            w.join(5)
            if w.is_alive():
                w.terminate()
    return total / seconds


def wrk_load(port: int, path: str, seconds: float, connections: int) -> float:
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds:.0f}s", f"https://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if match is None or "Non-2xx" in done.stdout:
        raise RuntimeError(f"wrk: {done.stdout}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="load duration per measurement")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--workers", default="1,2", help="PCCS worker process counts to measure")
    parser.add_argument("--python-client", action="store_true", help="use the Python load generator even with wrk")
    args = parser.parse_args()

    from pydcap.sim import SimulatedIntel
    from pydcap.sim.server import SimulatedPcs

    use_wrk = shutil.which("wrk") is not None and not args.python_client
    generator = "wrk" if use_wrk else "python (2 processes)"
    load = wrk_load if use_wrk else python_load
    intel = SimulatedIntel(seed=1)
    rows: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp, SimulatedPcs(intel) as pcs:
        directory = Path(tmp)
        (directory / "root.pem").write_bytes(intel.root_pem)
        for workers in (int(w) for w in args.workers.split(",")):
            port = free_port()
            command = [
                sys.executable, "-m", "pydcap", "pccs", "serve", "--port", str(port), "--workers", str(workers),
                "--db", str(directory / f"pccs-{workers}.sqlite3"), "--upstream", pcs.url,
                "--root-ca", str(directory / "root.pem"),
            ]  # fmt: skip
            env = {**os.environ, "PYDCAP_PCCS_LOG_LEVEL": "warning"}
            server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
            try:
                wait_for(port, server)
                for name, path in PATHS.items():
                    load(port, path, 1.0, args.connections)  # fills the cache of every worker
                    rows.append((name, workers, load(port, path, args.seconds, args.connections)))
            finally:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(15)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
    table = Table(
        title=f"pydcap PCCS, cached answers over TLS, keep-alive, {args.connections} connections ({generator})"
    )
    for column in ("endpoint", "workers", "requests/s", "vs Intel's PCCS (~1,850/s)"):
        table.add_column(column, justify="right" if column != "endpoint" else "left")
    for name, workers, rps in rows:
        table.add_row(name, str(workers), f"{rps:,.0f}", f"{rps / INTEL_PCCS_REFERENCE:.1f}x")
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
