"""Fixtures of the PCCS tests: one simulated Intel and its PCS (real HTTP on loopback) per session, and
PCCS servers started for real on loopback ports, each on its own SQLite file (or PostgreSQL schema), in a
thread (``make_pccs``) or as ``pydcap pccs serve`` in a subprocess (``serving``)."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from pydcap.pccs import CachingMode, PccsConfig, PccsServer
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs

ADMIN_TOKEN = "admin-secret"
USER_TOKEN = "user-secret"
ADMIN = {"admin-token": ADMIN_TOKEN}
USER = {"user-token": USER_TOKEN}
V4 = "/sgx/certification/v4"


@pytest.fixture(scope="session")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=1)


@pytest.fixture(scope="session")
def pcs_server(intel: SimulatedIntel) -> Iterator[SimulatedPcs]:
    with SimulatedPcs(intel) as server:
        yield server


@pytest.fixture
def pcs(pcs_server: SimulatedPcs) -> Iterator[SimulatedPcs]:
    pcs_server.faults.clear()
    pcs_server.reset_stats()
    yield pcs_server
    pcs_server.faults.clear()


@pytest.fixture(scope="session")
def root_file(intel: SimulatedIntel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("root") / "sim-root.pem"
    path.write_bytes(intel.root_pem)
    return path


def base_config(directory: Path, upstream: str, root: Path, **changes: Any) -> PccsConfig:
    config = PccsConfig(
        port=0,
        upstream=upstream,
        database=str(directory / "pckcache.sqlite3"),
        root_ca=str(root),
        insecure_http=True,
        state_dir=str(directory),
        admin_token_hash=hashlib.sha512(ADMIN_TOKEN.encode()).hexdigest(),
        user_token_hash=hashlib.sha512(USER_TOKEN.encode()).hexdigest(),
        upstream_timeout=2.0,
    )
    return replace(config, **changes)


Factory = Callable[..., PccsServer]


@pytest.fixture
def make_pccs(tmp_path: Path, pcs: SimulatedPcs, root_file: Path) -> Iterator[Factory]:
    """``make_pccs(mode=CachingMode.REQ, **config)``: a started PCCS whose upstream is the simulated PCS."""
    servers: list[PccsServer] = []

    def make(mode: CachingMode = CachingMode.LAZY, *, name: str = "a", clock: Any = None, **changes: Any) -> PccsServer:
        directory = tmp_path / name
        directory.mkdir(exist_ok=True)
        upstream = changes.pop("upstream", pcs.url)
        config = base_config(directory, upstream, root_file, mode=mode, **changes)
        server = PccsServer.create(config, clock=clock, refresh_tick=0.2).start()
        server.app.service.cache.retry_interval = 0.2  # so that a recovered upstream is asked again soon
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def pccs(make_pccs: Factory) -> PccsServer:
    return make_pccs()


def client(server: PccsServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, verify=False, timeout=30)


def pckcert_params(
    platform: Any, *, with_ppid: bool = True, cpu_svn: bytes | None = None, pce_svn: int | None = None
) -> dict[str, str]:
    params = {
        "qeid": platform.qe_id.hex(),
        "cpusvn": (cpu_svn if cpu_svn is not None else platform.cpu_svn).hex(),
        "pcesvn": (pce_svn if pce_svn is not None else platform.pce_svn).to_bytes(2, "little").hex(),
        "pceid": platform.pce_id.hex(),
    }
    if with_ppid:
        params["encrypted_ppid"] = platform.encrypted_ppid.hex()
    return params


def registration(platform: Any) -> dict[str, str]:
    return {
        "qe_id": platform.qe_id.hex(),
        "pce_id": platform.pce_id.hex(),
        "cpu_svn": platform.cpu_svn.hex(),
        "pce_svn": platform.pce_svn.to_bytes(2, "little").hex(),
        "enc_ppid": platform.encrypted_ppid.hex(),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_WITH_FILE_LIMIT = (
    "import resource, runpy, sys; "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (%d, resource.getrlimit(resource.RLIMIT_NOFILE)[1])); "
    "runpy.run_module('pydcap', run_name='__main__', alter_sys=True)"
)


@contextmanager
def serving(
    args: list[str], directory: Path, env: dict[str, str] | None = None, *, open_files: int | None = None
) -> Iterator[tuple[subprocess.Popen[str], int, list[str]]]:
    """``pydcap pccs serve ARGS`` in a subprocess on a free port, its store in ``directory``; stopped with SIGINT.
    ``open_files``: the process's limit of open files (RLIMIT_NOFILE)."""
    port = free_port()
    env = {
        **os.environ,
        **(env or {}),
        "PYDCAP_PCCS_ADMIN_TOKEN_HASH": hashlib.sha512(ADMIN_TOKEN.encode()).hexdigest(),
        "PYDCAP_PCCS_USER_TOKEN_HASH": hashlib.sha512(USER_TOKEN.encode()).hexdigest(),
        "PYDCAP_PCCS_LOG_LEVEL": "warning",
    }
    command = [
        sys.executable,
        "-m",
        "pydcap",
        "pccs",
        "serve",
        "--port",
        str(port),
        "--db",
        str(directory / "db.sqlite3"),
        *args,
    ]
    if open_files is not None:  # the same command, run by a Python that lowered its limit first
        command[1:3] = ["-c", _WITH_FILE_LIMIT % open_files]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    assert process.stderr is not None
    threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True).start()  # type: ignore[arg-type]
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"pydcap pccs serve did not start: {''.join(lines)}")
            time.sleep(0.05)
    try:
        yield process, port, lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
