"""``pydcap attest``: token verify (exit 0 valid, 1 rejected, 2 bad input), cert, rotate-key, and serve."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from pydcap.attest import AttestServer
from pydcap.cli import main
from pydcap.pccs import PccsConfig, PccsServer
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.support.attest import API, client, sgx_quote
from tests.support.processes import free_port, wait_for_port


def token(server: AttestServer, intel: SimulatedIntel, nonce: str = "cli") -> str:
    quote = base64.urlsafe_b64encode(sgx_quote(intel)).decode()
    with client(server) as http:
        return str(http.post("/attest/SgxEnclave", params=API, json={"quote": quote, "nonce": nonce}).json()["token"])


def test_token_verify(
    server: AttestServer, intel: SimulatedIntel, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert server.tls is not None
    good = token(server, intel)
    args = ["attest", "token", "verify", good, "--issuer", server.issuer, "--ca-cert", str(server.tls.cert)]
    assert main([*args, "--json", "--nonce", "cli"]) == 0
    claims = json.loads(capsys.readouterr().out)["claims"]
    assert claims["x-ms-sgx-mrsigner"] and claims["nonce"] == "cli"
    file = tmp_path / "token.jwt"
    file.write_text(good + "\n")
    assert (
        main(["attest", "token", "verify", str(file), "--issuer", server.issuer, "--ca-cert", str(server.tls.cert)])
        == 0
    )
    assert "token valid" in capsys.readouterr().out
    assert main([*args, "--nonce", "other"]) == 1
    assert "nonce" in capsys.readouterr().err
    assert main(["attest", "token", "verify", good, "--issuer", server.issuer]) == 3  # its certificate is not trusted
    assert "--issuer" in capsys.readouterr().err
    assert main(["attest", "token", "verify", good, "--issuer", "http://127.0.0.1:9"]) == 3  # nobody there
    assert (
        main(["attest", "token", "verify", good, "--issuer", server.issuer, "--ca-cert", str(tmp_path / "none.pem")])
        == 2
    )
    assert "cannot use the CA certificate" in capsys.readouterr().err
    assert main(["attest", "token", "verify", str(tmp_path / "missing"), "--issuer", server.issuer]) == 2


def test_token_verify_prints_claims_as_they_are(
    server: AttestServer, intel: SimulatedIntel, capsys: pytest.CaptureFixture[str]
) -> None:
    """A claim that looks like an emoji code (":cd:", as in a fingerprint) is printed as it is."""
    assert server.tls is not None
    good = token(server, intel, nonce=":cd::cake:[b]")
    assert main(["attest", "token", "verify", good, "--issuer", server.issuer, "--ca-cert", str(server.tls.cert)]) == 0
    assert "  nonce: :cd::cake:[b]\n" in capsys.readouterr().out


def test_cert_and_rotate_key(tmp_path: Path, root_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "attest.sqlite3")
    assert main(["attest", "cert", "--db", db]) == 0
    first, said = capsys.readouterr()
    assert first.startswith("-----BEGIN CERTIFICATE-----")
    assert re.fullmatch(r"SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}\n", said)  # as printed, no emoji for "AB:"
    assert main(["attest", "cert", "--db", db]) == 0
    assert capsys.readouterr().out == first  # made once, kept
    assert (tmp_path / "attest-tls-cert.pem").read_text() == first
    assert main(["attest", "rotate-key", "--db", db, "--root-ca", str(root_file)]) == 0
    assert main(["attest", "rotate-key", "--db", db, "--tenant", "acme"]) == 0
    assert "signing with key" in capsys.readouterr().out
    assert main(["attest", "rotate-key", "--db", db, "--tenant", "Not A Name"]) == 2
    assert "tenant" in capsys.readouterr().err


@contextmanager
def serving(*flags: str, workers: int = 1) -> Iterator[tuple[str, list[str]]]:
    """``pydcap attest serve FLAGS`` over plain HTTP on a free port, until the block ends (then its standard error
    is in the list)."""
    port = free_port()
    command = [
        sys.executable, "-m", "pydcap", "attest", "serve", "--port", str(port), "--insecure-http",
        "--workers", str(workers), *flags,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYDCAP_ATTEST_LOG_LEVEL": "warning"}
    )
    said: list[str] = []
    try:
        assert wait_for_port(port, process, timeout=20), "pydcap attest serve did not start"
        yield f"http://127.0.0.1:{port}", said
    finally:
        process.send_signal(signal.SIGINT)
        said.append(process.communicate(timeout=15)[1])


def attest_sgx(url: str, quote: bytes) -> httpx.Response:
    body = {"quote": base64.urlsafe_b64encode(quote).decode()}
    return httpx.post(f"{url}/attest/SgxEnclave", params=API, json=body, timeout=30)


def test_serve(tmp_path: Path, pcs: SimulatedPcs, root_file: Path, intel: SimulatedIntel) -> None:
    """Two worker processes behind one port: both attest with the same keys; /metrics counts both."""
    db = str(tmp_path / "a.sqlite3")
    with serving("--db", db, "--upstream", pcs.url, "--root-ca", str(root_file), workers=2) as (url, said):
        response = attest_sgx(url, sgx_quote(intel))
        assert response.status_code == 200, response.text
        assert main(["attest", "token", "verify", response.json()["token"], "--issuer", url]) == 0
    assert "WARNING" in said[0] and "pydcap attestation service on http://127.0.0.1" in said[0]


def test_serve_through_a_pccs_trusted_with_ca_cert(
    tmp_path: Path, pcs: SimulatedPcs, root_file: Path, intel: SimulatedIntel, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--ca-cert PEM`` (as every command that talks to a service; ``--upstream-ca`` its old name) trusts the
    PCCS's self-signed certificate; one that is no certificate is refused naming the flag."""
    config = PccsConfig(port=0, upstream=pcs.url, database=str(tmp_path / "pccs.sqlite3"), root_ca=str(root_file))
    quote = intel.sgx_platform(name="cli-via-pccs", fmspc="00A067110000").quote(b"")
    with PccsServer.create(replace(config, state_dir=str(tmp_path))) as pccs:
        assert pccs.tls is not None
        for flag in ("--ca-cert", "--upstream-ca"):
            db = str(tmp_path / f"attest{flag}.sqlite3")
            flags = ("--pccs", pccs.url, flag, str(pccs.tls.cert), "--db", db, "--root-ca", str(root_file))
            with serving(*flags) as (url, _):
                response = attest_sgx(url, quote)
                assert response.status_code == 200, response.text
    assert main(["attest", "serve", "--pccs", "https://127.0.0.1:9", "--ca-cert", str(root_file.parent)]) == 2
    assert f"--ca-cert {root_file.parent}: not a PEM certificate file" in capsys.readouterr().err


def test_serve_refuses_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attest", "serve", "--upstream", "ftp://x"]) == 2
    assert "upstream" in capsys.readouterr().err


def test_default_store_is_the_pccs_s(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pydcap.attest import load_config
    from pydcap.pccs import load_config as pccs_config

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert load_config(environ={}).database_target == pccs_config(environ={}).database_target
