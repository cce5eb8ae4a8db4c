"""``pydcap pccs``: serving over HTTPS with a self-signed certificate that survives restarts, a restart in the
middle of a refresh (nothing lost), and the admin commands (export, import, platforms)."""

from __future__ import annotations

import json
import re
import shutil
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest

from pydcap.cli import main
from pydcap.pccs import CachingMode
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.support.pccs import ADMIN, USER, V4, Factory, client, pckcert_params, registration, serving
from tests.support.testdata import intel_file


def test_serve_https_by_default_with_a_kept_self_signed_certificate(
    tmp_path: Path, pcs: SimulatedPcs, root_file: Path, intel: SimulatedIntel
) -> None:
    args = ["--upstream", f"{pcs.url}/sgx/certification/v4/", "--root-ca", str(root_file)]
    with serving(args, tmp_path) as (_, port, lines):
        cert = tmp_path / "pccs-tls-cert.pem"
        answer = httpx.get(f"https://localhost:{port}{V4}/qe/identity", verify=ssl.create_default_context(cafile=cert))
        assert answer.status_code == 200 and answer.content == intel.enclave_identity("QE")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://localhost:{port}{V4}/qe/identity")  # not trusted by default, as it should be
    output = "".join(lines)
    assert "self-signed, made now" in output and "WARNING" in output  # and the non-Intel root is announced
    assert f"clients trust it with: --ca-cert {cert}" in output
    fingerprint = re.search(r"SHA-256 fingerprint ([0-9A-F:]{95})", output)
    assert fingerprint is not None
    with serving(args, tmp_path) as (_, port, lines):
        pass
    assert fingerprint.group(1) in "".join(lines) and "made now" not in "".join(lines)


def test_serve_with_intels_default_json_unchanged(
    tmp_path: Path, pcs: SimulatedPcs, root_file: Path, intel: SimulatedIntel
) -> None:
    config = tmp_path / "default.json"
    shutil.copyfile(intel_file("pccs-default.json"), config)
    args = ["--config", str(config), "--upstream", pcs.url, "--root-ca", str(root_file)]
    with serving(args, tmp_path) as (_, port, lines):
        cert = tmp_path / "pccs-tls-cert.pem"  # beside the configuration, as Intel's PCCS keeps its ssl_key/
        answer = httpx.get(f"https://localhost:{port}{V4}/qe/identity", verify=ssl.create_default_context(cafile=cert))
        assert answer.status_code == 200 and answer.content == intel.enclave_identity("QE")
    output = "".join(lines)
    assert "error" not in output.lower()
    assert "unknown key" not in output  # every key of Intel's file is read, its server timeouts too


def test_restart_in_the_middle_of_a_refresh_loses_nothing(
    tmp_path: Path, pcs: SimulatedPcs, root_file: Path, intel: SimulatedIntel
) -> None:
    platform = intel.sgx_platform(name="restart")
    args = ["--upstream", pcs.url, "--root-ca", str(root_file), "--insecure-http"]
    with serving(args, tmp_path) as (process, port, _):
        base = f"http://127.0.0.1:{port}"
        assert (
            httpx.post(
                f"{base}{V4}/platforms", json=registration(platform), headers=USER, params={"update": "all"}
            ).status_code
            == 200
        )
        paths = [f"{V4}/tcb?fmspc={platform.fmspc.hex()}", f"{V4}/qe/identity", f"{V4}/pckcrl?ca=processor&encoding=der",
                 f"{V4}/rootcacrl", f"{V4}/pckcert?" + "&".join(f"{k}={v}" for k, v in pckcert_params(platform).items())]  # fmt: skip
        before = {p: httpx.get(base + p).content for p in paths}
        pcs.faults.latency(0.3)
        outcome: list[str] = []

        def run_refresh() -> None:
            try:
                outcome.append(str(httpx.post(f"{base}{V4}/refresh", headers=ADMIN, timeout=60).status_code))
            except httpx.HTTPError as exc:
                outcome.append(type(exc).__name__)

        refresh = threading.Thread(target=run_refresh, daemon=True)
        refresh.start()
        time.sleep(1.0)  # a few documents into the refresh
        process.kill()
        process.wait()
        refresh.join(10)
        assert outcome == ["RemoteProtocolError"]  # it was killed while refreshing
    pcs.faults.clear()
    with serving(["--mode", "OFFLINE", "--insecure-http", "--root-ca", str(root_file)], tmp_path) as (_, port, _):
        base = f"http://127.0.0.1:{port}"
        for path, body in before.items():
            answer = httpx.get(base + path)
            assert answer.status_code == 200 and answer.content == body, path


def test_export_import_and_platforms_commands(
    make_pccs: Factory, intel: SimulatedIntel, root_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connected = make_pccs(name="connected")
    platform = intel.sgx_platform(name="cli-export")
    with client(connected) as c:
        assert c.post(f"{V4}/platforms", json=registration(platform), headers=USER).status_code == 200
    exported = tmp_path / "collateral.json"
    db = str(connected.config.database)
    assert main(["pccs", "export", "--db", db, "--root-ca", str(root_file), "-o", str(exported)]) == 0
    document = json.loads(exported.read_text())
    assert document["collaterals"]["version"] == 4 and len(document["collaterals"]["pck_certs"]) == 1

    offline_db = str(tmp_path / "offline.sqlite3")
    assert main(["pccs", "import", str(exported), "--db", offline_db, "--root-ca", str(root_file)]) == 0
    assert "imported" in capsys.readouterr().out
    assert main(["pccs", "import", str(exported), "--db", offline_db]) == 2  # Intel's root: refused, said why
    assert "not imported" in capsys.readouterr().err
    assert (
        main(["pccs", "platforms", "--db", offline_db, "--root-ca", str(root_file), "--source", "cached", "--json"])
        == 0
    )
    [row] = json.loads(capsys.readouterr().out)
    assert row["qe_id"] == platform.qe_id.hex().upper()

    offline = make_pccs(CachingMode.OFFLINE, name="offline", database=offline_db)
    waiting = intel.sgx_platform(name="cli-waiting")
    with client(offline) as c:
        cert = c.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False))
        assert cert.status_code == 200 and cert.content == platform.pck.pem
        assert c.post(f"{V4}/platforms", json=registration(waiting), headers=USER).status_code == 200
    listing = tmp_path / "platform_list.json"
    assert (
        main(["pccs", "platforms", "--db", offline_db, "--root-ca", str(root_file), "-o", str(listing), "--take"]) == 0
    )
    # Intel's admin flow: the list is fetched on a connected machine and the result imported offline
    fetched = tmp_path / "fetched.json"
    assert main(["pccs", "export", "--db", str(tmp_path / "fetch.sqlite3"), "--root-ca", str(root_file),
                 "--platforms", str(listing), "--upstream", connected.config.upstream, "-o", str(fetched)]) == 0  # fmt: skip
    assert main(["pccs", "import", str(fetched), "--db", offline_db, "--root-ca", str(root_file)]) == 0
    offline.app.drop_prepared()
    with client(offline) as c:
        cert = c.get(f"{V4}/pckcert", params=pckcert_params(waiting, with_ppid=False))
        assert cert.status_code == 200 and cert.content == waiting.pck.pem
    assert main(["pccs", "platforms", "--db", offline_db, "--root-ca", str(root_file)]) == 0  # taken: empty


@pytest.mark.parametrize(
    ("command", "content", "says"),
    [
        ("import", {"collaterals": []}, "collaterals: must be an object"),
        ("import", {"collaterals": {"pck_certs": 5}}, "collaterals.pck_certs: must be an array"),
        ("export", 5, "a platform list is a JSON array"),
        ("export", [{"qe_id": "zz"}], "qe_id must be hexadecimal digits"),
    ],
)
def test_bad_input_files_are_a_one_line_error(
    tmp_path: Path, root_file: Path, capsys: pytest.CaptureFixture[str], command: str, content: object, says: str
) -> None:
    given = tmp_path / "given.json"
    given.write_text(json.dumps(content))
    db = str(tmp_path / "db.sqlite3")
    args = [str(given)] if command == "import" else ["--platforms", str(given), "--upstream", "http://127.0.0.1:9"]
    assert main(["pccs", command, *args, "--db", db, "--root-ca", str(root_file)]) == 2
    error = capsys.readouterr().err
    assert says in error and "Traceback" not in error


def test_bad_configuration_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "default.json"
    config.write_text(json.dumps({"CachingFillMode": "SOMETIMES"}))
    assert main(["pccs", "serve", "--config", str(config)]) == 2
    assert "CachingFillMode: 'SOMETIMES' is not LAZY, REQ or OFFLINE" in capsys.readouterr().err


def test_pydcap_trusts_its_own_pccs_with_ca_cert(
    make_pccs: Factory, root_file: Path, intel: SimulatedIntel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pydcap pccs cert`` gives the certificate the PCCS presents; ``--ca-cert`` trusts it without switching TLS
    off; without it the failure is said once, as what it is, naming ``--ca-cert``; ``--insecure`` warns."""
    server = make_pccs(insecure_http=False)
    db = server.config.database
    assert server.tls is not None
    assert main(["pccs", "cert", "--db", db]) == 0
    assert capsys.readouterr().out == server.tls.cert.read_text()
    assert main(["pccs", "cert", "--db", db, "--path"]) == 0
    cert = capsys.readouterr().out.strip()
    assert cert == str(server.tls.cert)
    quote = tmp_path / "quote.bin"
    quote.write_bytes(intel.sgx_platform(name="tls").quote(b"tls"))
    base = ["verify", str(quote), "--pccs", f"{server.url}{V4}", "--root-ca", str(root_file), "--no-cache"]

    assert main([*base, "--ca-cert", cert, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accepted"] is True

    assert main(base) == 3
    error = capsys.readouterr().err
    assert error.count("pydcap: error:") == 1 and "TLS certificate is not trusted" in error and "--ca-cert" in error

    assert main([*base, "--json"]) == 3
    shown = json.loads(capsys.readouterr().out)
    assert shown["exit_code"] == 3 and "--ca-cert" in shown["error"]

    assert main([*base, "--insecure"]) == 0
    assert "WARNING: --insecure" in capsys.readouterr().err

    assert main([*base, "--ca-cert", str(tmp_path / "absent.pem")]) == 2
    assert f"--ca-cert {tmp_path / 'absent.pem'}: no such file" in capsys.readouterr().err
    (tmp_path / "junk.pem").write_text("not a certificate")
    assert main([*base, "--ca-cert", str(tmp_path / "junk.pem")]) == 2
    assert f"--ca-cert {tmp_path / 'junk.pem'}: not a PEM certificate file" in capsys.readouterr().err


def test_pccs_cert_before_the_first_start_says_what_makes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pccs", "cert", "--db", str(tmp_path / "db.sqlite3")]) == 2
    assert "'pydcap pccs serve' makes it on first start" in capsys.readouterr().err


def test_export_names_its_store_refuses_a_missing_one_and_says_what_it_left_out(
    make_pccs: Factory, intel: SimulatedIntel, root_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo" / "pckcache.sqlite3"
    assert main(["pccs", "export", "--db", str(missing), "--root-ca", str(root_file)]) == 2
    assert f"--db: no PCCS store at {missing}" in capsys.readouterr().err
    assert not missing.parent.exists()

    server = make_pccs(name="export")
    with client(server) as c:
        platform = intel.sgx_platform(name="cli-left-out")
        assert c.post(f"{V4}/platforms", json=registration(platform), headers=USER).status_code == 200
    db = str(server.config.database)
    out = tmp_path / "out.json"
    assert main(["pccs", "export", "--db", db, "--root-ca", str(root_file), "-o", str(out)]) == 0
    said = capsys.readouterr().err
    assert f"from {db} to {out}" in said and "(1 platforms, 1 FMSPCs)" in said
    assert "left out 3 documents of PCCS API v3 (export those with --api 3)" in said

    # Trusting Intel's root (no --root-ca), everything in it is under another root: an error, with the count
    assert main(["pccs", "export", "--db", db, "-o", str(tmp_path / "empty.json")]) == 2
    error = capsys.readouterr().err
    assert "pydcap: error: nothing to export: 0 documents" in error and "--allow-empty" in error
    assert re.search(r"left out \d+ documents under another trust root", error)
    assert not (tmp_path / "empty.json").exists()
    assert main(["pccs", "export", "--db", db, "-o", str(tmp_path / "empty.json"), "--allow-empty"]) == 0
    assert re.search(r"left out \d+ documents under another trust root", capsys.readouterr().err)
    assert json.loads((tmp_path / "empty.json").read_text())["collaterals"]["tcbinfos"] == []


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_every_request_is_logged_readable_or_as_json(
    log_format: str, tmp_path: Path, pcs: SimulatedPcs, root_file: Path
) -> None:
    args = ["--upstream", pcs.url, "--root-ca", str(root_file), "--insecure-http", "--log-level", "info"]
    with serving([*args, "--log-format", log_format], tmp_path) as (_, port, lines):
        assert httpx.get(f"http://127.0.0.1:{port}{V4}/qe/identity").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}{V4}/qe/identity").status_code == 200  # served from memory
        assert httpx.get(f"http://127.0.0.1:{port}{V4}/nothing").status_code == 404
        deadline = time.monotonic() + 5
        while sum("/qe/identity" in line or "/nothing" in line for line in lines) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    if log_format == "text":
        pattern = (
            r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} info +GET /sgx/certification/v4/qe/identity 200 [\d.]+ ms  \["
        )
        assert len([line for line in lines if re.match(pattern, line)]) == 2, lines
        assert any(re.match(r".* info +GET /sgx/certification/v4/nothing 404 [\d.]+ ms", line) for line in lines)
        assert not any(line.startswith("{") for line in lines)
    else:
        records = [json.loads(line) for line in lines if line.startswith("{")]
        requests = [r for r in records if r["logger"] == "pydcap.pccs.access"]
        assert [(r["method"], r["path"], r["status"]) for r in requests] == [
            ("GET", f"{V4}/qe/identity", 200),
            ("GET", f"{V4}/qe/identity", 200),
            ("GET", f"{V4}/nothing", 404),
        ]
        assert all(r["level"] == "info" and r["duration_ms"] >= 0 and r["request_id"] for r in requests)
