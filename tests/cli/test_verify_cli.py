"""``pydcap verify`` and ``pydcap quote show``: verdicts, JSON, exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from pydcap import Quote
from pydcap.cli import main
from pydcap.pki import CertificateChain
from pydcap.sim import SimulatedIntel
from tests.support.testdata import real_bundle


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pydcap", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_accepted_quote_exits_0_with_json(capsys: pytest.CaptureFixture[str]) -> None:
    b = real_bundle("phala-tdx-v4")
    code = main(["verify", str(b.path / "quote.bin"), "--collateral", str(b.path), "--at", str(b.at), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in (
        "accepted",
        "quote3_error",
        "qv_result",
        "tcb_status",
        "failure",
        "advisory_ids",
        "collateral_expired",
        "tee",
        "quote_version",
        "fmspc",
        "reasons",
        "report",
        "supplemental",
    ):
        assert key in out
    assert out["accepted"] is True and out["tee"] == "TDX" and out["quote_version"] == 4
    assert (out["quote3_error"], out["qv_result"]) == ("SGX_QL_SUCCESS", "OK")
    assert out["fmspc"] == b.expected["quote_facts"]["fmspc"]
    assert out["report"]["mr_td"] and out["supplemental"]["root_key_id"]


def test_rejected_quote_exits_1_and_says_why() -> None:
    b = real_bundle("phala-sgx-v3")
    proc = run("verify", str(b.path / "quote.bin"), "--collateral", str(b.path), "--at", b.expected["verify_at"]["iso"])
    assert proc.returncode == 1
    assert "REJECTED" in proc.stdout and "ConfigurationAndSWHardeningNeeded is not accepted" in proc.stdout
    accepted = run(
        "verify",
        str(b.path / "quote.bin"),
        "--collateral",
        str(b.path),
        "--at",
        str(b.at),
        "--accept",
        "ConfigurationAndSWHardeningNeeded",
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_failure_exits_1() -> None:
    b = real_bundle("go-tdx-guest-v4-SPR")
    proc = run("verify", str(b.path / "quote.bin"), "--collateral", str(b.path), "--at", str(b.at), "--json")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert (out["failure"], out["quote3_error"], out["qv_result"]) == (
        "TCB_NOT_SUPPORTED",
        "SGX_QL_TCB_NOT_SUPPORTED",
        "UNSPECIFIED",
    )


def test_usage_and_unreadable_input_exit_2(tmp_path: Path) -> None:
    b = real_bundle("phala-tdx-v4")
    assert run("verify", str(tmp_path / "nope.bin"), "--collateral", str(b.path)).returncode == 2
    assert run("verify", str(b.path / "quote.bin"), "--collateral", str(b.path), "--at", "yesterday").returncode == 2
    assert run("verify", str(b.path / "quote.bin")).returncode == 2
    assert run("frobnicate").returncode == 2
    (tmp_path / "bad.json").write_text("{")
    assert run("verify", str(b.path / "quote.bin"), "--collateral", str(tmp_path / "bad.json")).returncode == 2


def test_missing_or_empty_collateral_exits_2_naming_the_flag(tmp_path: Path) -> None:
    b = real_bundle("phala-tdx-v4")
    proc = run("verify", str(b.path / "quote.bin"), "--collateral", str(tmp_path / "absent"))
    assert proc.returncode == 2
    assert f"--collateral {tmp_path / 'absent'}: no such file or directory" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = run("verify", str(b.path / "quote.bin"), "--collateral", str(tmp_path / "empty"), "--json")
    assert proc.returncode == 2
    shown = json.loads(proc.stdout)
    assert shown["exit_code"] == 2 and shown["error"].startswith(f"--collateral {tmp_path / 'empty'}")


def test_root_ca_must_be_a_self_signed_ca(tmp_path: Path) -> None:
    b = real_bundle("phala-tdx-v4")
    pem = Quote.parse(b.quote).pck_chain_pem
    assert pem is not None
    pck, intermediate = CertificateChain.parse(pem).certificates[:2]
    for name, cert, why in (("leaf", pck, "is not a CA certificate"), ("mid", intermediate, "is not self-signed")):
        (tmp_path / f"{name}.pem").write_bytes(cert.x509.public_bytes(Encoding.PEM))
        proc = run(
            "verify", str(b.path / "quote.bin"), "--collateral", str(b.path), "--root-ca", str(tmp_path / f"{name}.pem")
        )
        assert proc.returncode == 2, proc.stderr
        assert f"--root-ca {tmp_path / name}.pem: trusted root" in proc.stderr and why in proc.stderr
        assert "Traceback" not in proc.stderr


def test_other_root_prints_a_warning(tmp_path: Path) -> None:
    b = real_bundle("phala-tdx-v4")
    (tmp_path / "root.pem").write_bytes(SimulatedIntel(0).root_pem)
    proc = run(
        "verify",
        str(b.path / "quote.bin"),
        "--collateral",
        str(b.path),
        "--at",
        str(b.at),
        "--root-ca",
        str(tmp_path / "root.pem"),
        "--json",
    )
    assert "WARNING" in proc.stderr
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["failure"] == "SGX_PCK_CERT_CHAIN_UNTRUSTED"


def test_quote_show(capsys: pytest.CaptureFixture[str]) -> None:
    b = real_bundle("phala-sgx-v3")
    assert main(["quote", "show", str(b.path / "quote.bin"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["version"] == 3 and info["tee"] == "SGX"
    assert info["report"]["mr_enclave"] and "debug" in info["report"]
    ext = info["pck_certificate"]["sgx_extension"]
    assert ext["fmspc"] == "00a067110000" and len(ext["tcb"]["components"]) == 16
    assert main(["quote", "show", str(b.path / "quote.bin")]) == 0
    assert "mr_enclave" in capsys.readouterr().out


def test_quote_show_malformed_is_unreadable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "q.bin").write_bytes(b"\x03\x00" + b"\x00" * 20)
    assert main(["quote", "show", str(tmp_path / "q.bin"), "--json"]) == 2
    shown = json.loads(capsys.readouterr().out)
    assert shown["exit_code"] == 2 and shown["error"].startswith(f"QUOTE {tmp_path / 'q.bin'}: malformed quote")
    assert isinstance(shown["offset"], int) and shown["reason"]


def test_malformed_expected_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """``--mrenclave zz`` used to end in a traceback from inside verification."""
    b = real_bundle("phala-sgx-v3")
    code = main(["verify", str(b.path / "quote.bin"), "--collateral", str(b.path), "--mrenclave", "zz"])
    assert code == 2
    assert "argument --mrenclave: 'zz' is not hex" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("at", "why"),
    [("99999999999999", "out of the range of dates"), ("-1", "before 1970"), ("1969-12-31T23:59:59Z", "before 1970")],
)
def test_time_out_of_the_range_of_dates_is_a_usage_error(at: str, why: str, capsys: pytest.CaptureFixture[str]) -> None:
    """It used to verify, then end in a traceback printing the verification time (or accept a negative time)."""
    b = real_bundle("phala-tdx-v4")
    assert main(["verify", str(b.path / "quote.bin"), "--collateral", str(b.path), "--at", at]) == 2
    assert f"--at {at!r} is {why}" in capsys.readouterr().err


def test_a_misspelled_accepted_status_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """``--accept UpToDat`` used to be accepted silently (and so never matched any status)."""
    b = real_bundle("phala-sgx-v3")
    code = main(["verify", str(b.path / "quote.bin"), "--collateral", str(b.path), "--accept", "UpToDat"])
    assert code == 2
    err = capsys.readouterr().err
    assert "'UpToDat' is not a TCB status" in err and "UpToDate" in err and len(err.strip().splitlines()) == 1
