"""The hello-world sample end to end: host and client as two processes agree on the verdict."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hello_world"


@pytest.fixture(scope="module")
def host_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "PYDCAP_SYSROOT": str(tmp_path_factory.mktemp("no-hardware"))}
    env.pop("PYDCAP_PROVIDER", None)
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE / "host.py"), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/instance-info"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"host exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("host did not start serving within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _client(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE / "client.py"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_client_accepts_the_simulated_enclave(host_url: str) -> None:
    done = _client(host_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ACCEPTED" in done.stdout and "simulated" in done.stdout


def test_client_with_a_constraint_that_does_not_match_says_why(host_url: str) -> None:
    done = _client(host_url, "--constraint", f"C:{'ab' * 32} SEC:STALE")
    assert done.returncode == 1
    assert "REJECTED" in done.stdout
    assert "matches none of C:" in done.stdout
    assert "security level is INSECURE" in done.stdout


def test_client_trusting_only_intel_rejects_a_simulated_enclave(host_url: str) -> None:
    done = _client(host_url, "--intel-root")
    assert done.returncode == 1
    assert "SGX_PCK_CERT_CHAIN_UNTRUSTED" in done.stdout
