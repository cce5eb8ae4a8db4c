"""``pydcap verify`` on many quotes: files, directories and JSON-lines batches, collateral chosen per quote from a
directory of bundles, worker processes (``--jobs``), one line (or JSON object) per quote, in order."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from pydcap.cli import main
from pydcap.sim import catalog as cat
from pydcap.sim.fleet import Fleet, make_fleet, write_fleet

ALL_STATUSES = [s for s in cat.PLATFORM_STATUSES if s != cat.REVOKED]  # every status a fleet platform has


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return make_fleet(15)


@pytest.fixture(scope="module")
def kept(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fleet")
    write_fleet(fleet, directory)
    return directory


def _verify(kept: Path, fleet: Fleet, *args: str) -> list[str]:
    return [
        "verify",
        *args,
        "--collateral",
        str(kept / "collateral"),
        "--root-ca",
        str(kept / "root_ca.pem"),
        "--at",
        str(fleet.at),
    ]


def test_many_quotes_one_json_line_each_in_order(kept: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(kept / "quotes" / f"{m.name}.bin") for m in fleet.members]
    code = main(_verify(kept, fleet, *files, "--json", "--jobs", "2"))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["source"] for line in lines] == files
    assert [line["tcb_status"] for line in lines] == [m.expected for m in fleet.members]
    assert [line["accepted"] for line in lines] == [m.expected == "UpToDate" for m in fleet.members]
    assert code == 1  # some quotes are rejected by the default policy (UpToDate only)
    accept_all = [a for status in ALL_STATUSES for a in ("--accept", status)]
    assert main(_verify(kept, fleet, *files, "--json", *accept_all)) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(files)


def test_one_process_and_two_print_the_same(kept: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = []
    for jobs in ("1", "2"):
        main(_verify(kept, fleet, str(kept / "quotes"), "--jobs", jobs))
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    lines = outputs[0].splitlines()
    assert len(lines) == len(fleet) and lines[0].startswith("ACCEPTED  ") and f"{fleet.members[0].name}.bin" in lines[0]
    assert all(line.startswith(("ACCEPTED  ", "REJECTED  ")) for line in lines)


def test_a_json_lines_batch_with_a_bad_line(kept: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    batch = kept.parent / "batch.jsonl"
    lines = [json.dumps({"quote": base64.b64encode(m.again).decode(), "id": m.name}) for m in fleet.members[:3]]
    lines.insert(1, '{"quote": 42}')
    lines.append(json.dumps({"quote": base64.urlsafe_b64encode(fleet.members[3].again).decode().rstrip("=")}))
    batch.write_text("\n".join(lines) + "\n")
    code = main(_verify(kept, fleet, str(batch), "--json"))
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["source"] for o in out] == [
        fleet.members[0].name,
        f"{batch}:2",
        fleet.members[1].name,
        fleet.members[2].name,
        f"{batch}:5",
    ]
    assert "is not" in out[1]["error"] and out[1]["exit_status"] == 2
    assert out[4]["tcb_status"] == fleet.members[3].expected  # URL-safe base64 without padding
    assert code == 2  # the worst: an unreadable input


def test_a_quote_no_bundle_is_for(kept: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    """Two bundles given, neither for the quote's FMSPC: that quote exits 3 (collateral unavailable)."""
    sgx_bundles = [str(kept / "collateral" / name) for name in ("sgx-e3", "sgx-e3b")]
    tdx_member = next(m for m in fleet.members if m.group == 3)
    args = [
        "verify",
        str(kept / "quotes" / f"{tdx_member.name}.bin"),
        str(kept / "quotes" / f"{fleet.members[0].name}.bin"),
    ]
    for bundle in sgx_bundles:
        args += ["--collateral", bundle]
    code = main([*args, "--root-ca", str(kept / "root_ca.pem"), "--at", str(fleet.at), "--json"])
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert "no --collateral bundle is for TDX FMSPC 00806F050000" in first["error"] and first["exit_status"] == 3
    assert second["accepted"] is True
    assert code == 3


def test_sim_fleet_then_verify_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``pydcap sim fleet`` writes what ``pydcap verify`` takes as it prints it (collateral issued today, so no
    --at); the summary on standard error counts the verdicts."""
    out = tmp_path / "fleet"
    assert main(["sim", "fleet", "--count", "10", "-o", str(out), "--seed", "3"]) == 0
    command = capsys.readouterr().err.splitlines()[-1].split()
    assert command[:2] == ["pydcap", "verify"]
    accept_all = [a for status in ALL_STATUSES for a in ("--accept", status)]
    assert main([*command[1:], "--jobs", "1", *accept_all]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 10
    assert "10 quotes: 10 accepted, 0 rejected" in captured.err
    assert main(["sim", "fleet", "--count", "3", "-o", str(out)]) == 2  # fewer platforms than FMSPCs
    assert "at least 5" in capsys.readouterr().err


def test_many_quotes_from_a_service_fetch_once_per_fmspc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--pcs with several quotes: the collateral of each FMSPC is fetched once, every quote verified with its own."""
    server = pytest.importorskip("pydcap.sim.server", reason="the simulated Intel PCS is not available")
    from pydcap.sim import SimulatedIntel

    intel = SimulatedIntel(seed=31)
    (tmp_path / "root.pem").write_bytes(intel.root_pem)
    quotes = []
    for name, tee in (("a", "sgx"), ("b", "sgx"), ("c", "tdx"), ("d", "sgx")):
        platform = intel.tdx_platform(name=name) if tee == "tdx" else intel.sgx_platform(name=name)
        quotes.append(tmp_path / f"{name}.bin")
        quotes[-1].write_bytes(platform.quote(b"batch"))
    with server.SimulatedPcs(intel) as pcs:
        args = ["verify", *map(str, quotes), "--pcs", pcs.url, "--root-ca", str(tmp_path / "root.pem")]
        code = main([*args, "--cache", str(tmp_path / "cache.sqlite3"), "--json", "--jobs", "1"])
        by_endpoint = pcs.stats()["by_endpoint"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and [line["accepted"] for line in lines] == [True] * 4
    assert [line["tee"] for line in lines] == ["SGX", "SGX", "TDX", "SGX"]
    assert by_endpoint["sgx/v4/tcb"] == 1 and by_endpoint["tdx/v4/tcb"] == 1, by_endpoint
