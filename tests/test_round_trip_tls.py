"""The first hour's round trip on loopback with TLS on, as a user types it: ``pydcap sim serve`` (the simulated
Intel) -> ``pydcap pccs serve`` (HTTPS, LAZY, its own certificate) -> ``pydcap verify --pccs URL --ca-cert PEM``
of an encrypted-PPID SGX quote and of TDX quotes, and dcap-qvl's ``get_collateral`` trusting the same certificate
through ``SSL_CERT_FILE``. Every step is a separate process of the installed ``pydcap`` command."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import free_port, stop, wait_for_port

PYDCAP = str(Path(sys.executable).with_name("pydcap"))
ENCRYPTED_PPID = "encrypted-ppid-certification"


@dataclass(frozen=True)
class World:
    home: Path
    env: dict[str, str]
    root: Path  # the simulated Intel's root CA (PEM)
    pccs_url: str  # https://localhost:PORT
    cert: Path  # the PCCS's own TLS certificate, as `pydcap pccs cert --path` names it
    announced: str  # what `pydcap pccs serve` printed on start

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(self.home, self.env, PYDCAP, *args)


def run(cwd: Path, env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("first-hour")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYDCAP_", "SSL_CERT", "QCNL_", "AZDCAP_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), PYTHONUNBUFFERED="1")
    sim_port, pccs_port = free_port(), free_port()
    with contextlib.ExitStack() as servers:

        def serve(*args: str, port: int, log: str) -> None:
            output = servers.enter_context((home / log).open("w"))
            process = subprocess.Popen([PYDCAP, *args], cwd=home, env=env, stdout=output, stderr=subprocess.STDOUT)
            servers.callback(stop, process)
            assert wait_for_port(port, process, timeout=30), f"{args} did not start: {(home / log).read_text()}"

        serve("sim", "serve", "--port", str(sim_port), port=sim_port, log="sim.log")
        made = run(home, env, PYDCAP, "sim", "collateral", "--tee", "sgx", "-o", "sim")
        assert made.returncode == 0, made.stderr
        root = home / "sim" / "root_ca.pem"
        serve("pccs", "serve", "--port", str(pccs_port), "--db", "pccs/pckcache.db", "--mode", "LAZY",
              "--upstream", f"http://127.0.0.1:{sim_port}", "--root-ca", str(root), "--log-format", "text",
              port=pccs_port, log="pccs.log")  # fmt: skip
        path = run(home, env, PYDCAP, "pccs", "cert", "--db", "pccs/pckcache.db", "--path")
        assert path.returncode == 0, path.stderr
        cert = home / path.stdout.strip()  # as printed, or under the directory it was run in
        assert cert.read_text().startswith("-----BEGIN CERTIFICATE-----")
        yield World(home, env, root, f"https://localhost:{pccs_port}", cert, (home / "pccs.log").read_text())


def test_the_pccs_says_where_its_certificate_is(world: World) -> None:
    assert str(world.cert) in world.announced, world.announced
    pem = world.run("pccs", "cert", "--db", "pccs/pckcache.db")
    assert pem.returncode == 0 and pem.stdout.strip() == world.cert.read_text().strip()


@pytest.mark.parametrize(
    ("tee", "scenario"), [("sgx", ENCRYPTED_PPID), ("tdx", None), ("tdx", ENCRYPTED_PPID)], ids=["sgx-encrypted-ppid",
    "tdx", "tdx-encrypted-ppid"]
)  # fmt: skip
def test_verify_through_the_pccs_over_tls(world: World, tee: str, scenario: str | None) -> None:
    quote = f"{tee}-{scenario or 'plain'}.bin"
    made = world.run("sim", "quote", "--tee", tee, *(["--scenario", scenario] if scenario else []), "-o", quote)
    assert made.returncode == 0, made.stderr
    verify = world.run(
        "verify", quote, "--pccs", f"{world.pccs_url}/sgx/certification/v4/", "--ca-cert", str(world.cert),
        "--root-ca", str(world.root), "--json",
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    verdict = json.loads(verify.stdout)
    assert verdict["accepted"] is True and verdict["quote3_error"] == "SGX_QL_SUCCESS"


def test_an_untrusted_certificate_is_reported_once_naming_ca_cert(world: World) -> None:
    made = world.run("sim", "quote", "--tee", "sgx", "-o", "untrusted.bin")
    assert made.returncode == 0, made.stderr
    started = time.monotonic()
    verify = world.run(
        "verify", "untrusted.bin", "--pccs", world.pccs_url, "--root-ca", str(world.root), "--no-cache"
    )  # fmt: skip
    assert verify.returncode == 3, verify.stdout + verify.stderr  # a service that cannot be trusted
    said = (verify.stdout + verify.stderr).strip()
    assert "TLS certificate is not trusted" in said and "--ca-cert" in said and "Traceback" not in said
    assert "attempts" not in said  # not retried: it is not transient
    assert len([line for line in said.splitlines() if "--ca-cert" in line]) == 1
    assert time.monotonic() - started < 30  # not retried as if it were transient (generous: a slow machine)


@pytest.mark.parametrize("scenario", [ENCRYPTED_PPID, None], ids=["sgx-encrypted-ppid", "sgx"])
def test_dcap_qvl_fetches_through_the_pccs_trusting_its_certificate(world: World, scenario: str | None) -> None:
    pytest.importorskip("dcap_qvl")
    quote = f"qvl-{scenario or 'plain'}.bin"
    made = world.run("sim", "quote", "--tee", "sgx", *(["--scenario", scenario] if scenario else []), "-o", quote)
    assert made.returncode == 0, made.stderr
    code = (
        "import asyncio, sys, time, dcap_qvl\n"
        "from cryptography import x509\n"
        "from cryptography.hazmat.primitives.serialization import Encoding\n"
        "quote = open(sys.argv[2], 'rb').read()\n"
        "root = x509.load_pem_x509_certificate(open(sys.argv[3], 'rb').read()).public_bytes(Encoding.DER)\n"
        "async def fetch(): return await dcap_qvl.get_collateral(sys.argv[1], quote)\n"
        "print(dcap_qvl.verify_with_root_ca(quote, asyncio.run(fetch()), root, int(time.time())).status)\n"
    )

    def qvl(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return run(world.home, env, sys.executable, "-c", code, world.pccs_url, quote, str(world.root))

    done = qvl({**world.env, "SSL_CERT_FILE": str(world.cert)})
    assert done.stdout.strip() == "UpToDate", done.stderr
    if scenario is None:  # the certificate is what made it work: without it dcap-qvl refuses the PCCS
        refused = qvl(world.env)
        assert refused.returncode != 0 and "UpToDate" not in refused.stdout
