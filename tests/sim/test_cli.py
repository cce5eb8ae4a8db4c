"""``pydcap sim``: quote and collateral files that ``pydcap verify`` accepts offline, scenario handling, and
``sim serve`` run as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pydcap.cli import EXIT_OK, EXIT_REJECTED, EXIT_USAGE, main
from pydcap.quote import Quote
from pydcap.sim import DEFAULT_SEED, SCENARIOS, SimulatedIntel
from pydcap.sim.platform import ENCRYPTED_PPID_CERTIFICATION

SERVE = [sys.executable, "-c", "import sys; from pydcap.cli import main; sys.exit(main(sys.argv[1:]))"]


def _pair(tmp: Path, tee: str, *extra: str, version: str | None = None) -> tuple[Path, Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    quote, collateral = tmp / f"{tee}.quote", tmp / f"{tee}-collateral"
    versions = ["--version", version] if version else []
    assert main(["sim", "quote", "--tee", tee, *extra, *versions, "-o", str(quote)]) == EXIT_OK
    assert main(["sim", "collateral", "--tee", tee, *extra, "-o", str(collateral)]) == EXIT_OK
    return quote, collateral


def _verify(quote: Path, collateral: Path, *extra: str) -> int:
    return main(
        ["verify", str(quote), "--collateral", str(collateral), "--root-ca", str(collateral / "root_ca.pem"), *extra]
    )


@pytest.mark.parametrize("tee", ["sgx", "tdx"])
def test_default_quote_and_collateral_verify_offline(tmp_path: Path, tee: str) -> None:
    quote, collateral = _pair(tmp_path, tee)
    assert sorted(p.name for p in collateral.iterdir()) == sorted(
        [
            "pck_crl.der",
            "pck_crl_issuer_chain.pem",
            "root_ca_crl.der",
            "tcb_info.json",
            "tcb_info_issuer_chain.pem",
            "qe_identity.json",
            "qe_identity_issuer_chain.pem",
            "root_ca.pem",
        ]
    )
    assert _verify(quote, collateral) == EXIT_OK
    assert Quote.parse(quote.read_bytes()).tee == tee.upper()


def test_scenarios_and_versions_reach_the_verifier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quote, collateral = _pair(tmp_path, "tdx", "--scenario", "td-relaunch-advised", "--seed", "4")
    assert Quote.parse(quote.read_bytes()).version == 5
    assert _verify(quote, collateral, "--json") == EXIT_REJECTED  # TDRelaunchAdvised is not accepted by default
    assert json.loads(capsys.readouterr().out)["tcb_status"] == "TDRelaunchAdvised"
    assert _verify(quote, collateral, "--accept", "TDRelaunchAdvised") == EXIT_OK
    revoked = _pair(tmp_path / "revoked", "sgx", "--scenario", "revoked-pck", version="4")
    assert _verify(*revoked) == EXIT_REJECTED


def test_another_seed_is_another_root(tmp_path: Path) -> None:
    quote, _ = _pair(tmp_path / "a", "sgx", "--seed", "1")
    _, other = _pair(tmp_path / "b", "sgx", "--seed", "2")
    assert _verify(quote, other) == EXIT_REJECTED


def test_quote_to_standard_output_and_report_data(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["sim", "quote", "--report-data", "cafe", "-o", "-"]) == EXIT_OK
    quote = Quote.parse(capsysbinary.readouterr().out)
    assert quote.report_data.startswith(b"\xca\xfe")


@pytest.mark.parametrize(
    "argv",
    [
        ["sim", "quote", "--tee", "sgx", "--scenario", "module-revoked", "-o", "x"],
        ["sim", "quote", "--scenario", "no-such-thing", "-o", "x"],
        ["sim", "quote", "--tee", "tdx", "--version", "3", "-o", "x"],
        ["sim", "quote", "--report-data", "zz", "-o", "x"],
    ],
)
def test_usage_errors(tmp_path: Path, argv: list[str]) -> None:
    argv[-1] = str(tmp_path / argv[-1])
    assert main(argv) == EXIT_USAGE
    assert not (tmp_path / "x").exists()


def test_scenarios_listing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "scenarios", "--tee", "tdx", "--json"]) == EXIT_OK
    listed = json.loads(capsys.readouterr().out)
    assert set(listed) == {name for name, s in SCENARIOS.items() if "tdx" in s.tees}
    assert listed["module-revoked"]["expected"] == "TCB_REVOKED"


def test_one_default_seed_unless_pydcap_sim_seed_says_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PYDCAP_SIM_SEED", raising=False)
    _, collateral = _pair(tmp_path / "default", "sgx")
    assert (
        (collateral / "root_ca.pem").read_bytes() == SimulatedIntel(DEFAULT_SEED).root_pem == SimulatedIntel().root_pem
    )
    monkeypatch.setenv("PYDCAP_SIM_SEED", "9")
    quote, collateral = _pair(tmp_path / "nine", "tdx")
    assert (collateral / "root_ca.pem").read_bytes() == SimulatedIntel(9).root_pem
    assert _verify(quote, collateral) == EXIT_OK
    assert "seed 9" in capsys.readouterr().err
    monkeypatch.setenv("PYDCAP_SIM_SEED", "nine")
    assert main(["sim", "quote", "-o", str(tmp_path / "q")]) == EXIT_USAGE
    assert "PYDCAP_SIM_SEED='nine' is not a number" in capsys.readouterr().err


@pytest.fixture
def sim_serving() -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [*SERVE, "sim", "serve", "--port", "0", "--seed", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process, process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_serve_runs_until_stopped(sim_serving: tuple[subprocess.Popen[str], str]) -> None:
    process, url = sim_serving
    assert url.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/_sim/root-ca.pem").content == SimulatedIntel(5).root_pem
        assert client.get("/_sim/stats").json()["total"] == 0
        assert client.get("/sgx/certification/v4/tcb", params={"fmspc": "00906ED50000"}).status_code == 200
        assert client.get("/_sim/stats").json() == {"total": 1, "by_endpoint": {"sgx/v4/tcb": 1}, "faulted": 0}
    process.terminate()
    assert process.wait(timeout=15) == 0


def test_serve_issues_the_pck_certificates_of_quoted_platforms(
    sim_serving: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    """As Intel for registered platforms: a quote written by 'pydcap sim quote' with the same seed, here one with
    an encrypted PPID instead of a certificate chain, has its PCK certificate at the server."""
    _, url = sim_serving
    quote_file = tmp_path / "q.bin"
    command = ["sim", "quote", "--seed", "5", "--scenario", "encrypted-ppid-certification", "-o", str(quote_file)]
    assert main(command) == EXIT_OK
    certification = Quote.parse(quote_file.read_bytes()).certification_data
    assert certification.type == ENCRYPTED_PPID_CERTIFICATION
    ppid, cpu_svn, pce_svn, pce_id = (
        certification.data[:384],
        certification.data[384:400],
        certification.data[400:402],
        certification.data[402:404],
    )
    params = {"encrypted_ppid": ppid.hex(), "cpusvn": cpu_svn.hex(), "pcesvn": pce_svn.hex(), "pceid": pce_id.hex()}
    answer = httpx.get(f"{url}/sgx/certification/v4/pckcert", params=params, timeout=10)
    assert answer.status_code == 200
    platform = SimulatedIntel(5).scenario_platform("encrypted-ppid-certification", "sgx")
    assert answer.content == platform.pck.pem


def test_env_points_pydcap_at_the_served_world(
    sim_serving: tuple[subprocess.Popen[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, url = sim_serving
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("PYDCAP_SIM_SEED", "5")
    assert main(["sim", "env", "--url", url]) == EXIT_OK
    printed = capsys.readouterr()
    assert printed.err == ""
    exports = dict(line.removeprefix("export ").split("=", 1) for line in printed.out.splitlines())
    assert exports["PYDCAP_COLLATERAL_SERVICE"] == "pcs" and exports["PYDCAP_COLLATERAL_URL"] == url
    assert exports["PYDCAP_SIM_SEED"] == "5"
    assert Path(exports["PYDCAP_TRUSTED_ROOT"]).read_bytes() == SimulatedIntel(5).root_pem
    assert main(["sim", "env", "--url", url, "--seed", "6"]) == EXIT_USAGE  # another world than the server's
    assert "is not the one of seed 6" in capsys.readouterr().err


def test_env_reads_a_served_root_up_to_a_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Something at --url that answers an endless certificate is refused past ROOT_PEM_MAX_BYTES, naming --url."""
    import http.server

    from pydcap.cli.sim import ROOT_PEM_MAX_BYTES
    from tests.provider.pccs_server import loopback_server

    class Endless(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()  # no Content-Length: read until the connection closes
            try:
                for _ in range(64):
                    self.wfile.write(b"-" * ROOT_PEM_MAX_BYTES)
            except OSError:
                pass  # the client stopped reading
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with loopback_server(Endless) as url:
        assert main(["sim", "env", "--url", url, "--seed", "5"]) == EXIT_USAGE
    assert f"--url {url}: its root certificate is over {ROOT_PEM_MAX_BYTES} bytes" in capsys.readouterr().err


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_serve_in_process_stops_on_sigterm_and_restores_the_handler(capsys: pytest.CaptureFixture[str]) -> None:
    original = signal.getsignal(signal.SIGTERM)

    def terminate_once_serving() -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if signal.getsignal(signal.SIGTERM) is not original:  # serving: the handler is ours
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.01)

    threading.Thread(target=terminate_once_serving, daemon=True).start()
    assert main(["sim", "serve", "--port", "0"]) == EXIT_OK
    assert signal.getsignal(signal.SIGTERM) is original
    assert capsys.readouterr().out.startswith("http://127.0.0.1:")
