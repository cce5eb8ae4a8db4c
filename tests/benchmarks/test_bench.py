"""``make bench`` runs where the shared test data is missing (the parts that need it say so and are skipped), and
its start-up part measures the three commands beside ``python -c pass``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_the_verification_bench_skips_with_a_clear_line_without_the_shared_test_data(tmp_path: Path) -> None:
    proc = _bench("verify.py", env={"PYDCAP_TESTDATA": str(tmp_path / "absent"), "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("SKIPPED: verifications per second need the shared test data")


def test_the_startup_bench_measures_the_three_commands_beside_python() -> None:
    proc = _bench("startup.py", "--rounds", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    times = json.loads(proc.stdout)
    assert list(times) == [
        "python -c pass",
        "pydcap --help",
        "pydcap verify QUOTE --collateral DIR",
        "pydcap quote show QUOTE",
    ]
    assert all(len(t["wall"]) == 1 and len(t["cpu"]) == 1 and t["wall"][0] > 0 for t in times.values())


def test_the_attestation_service_bench_runs_and_says_where_the_cpu_goes() -> None:
    proc = _bench("attest.py", "--platforms", "12", "--chunk", "4", "--rounds", "1", env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for row in ("verifier (in process)", "service, 2 workers, ES256", "its RS256 signature alone", "HTTPS per request"):
        assert row in proc.stdout


def test_the_fleet_bench_counts_the_checks_and_key_objects_its_floor_is_made_of() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from measure import EcdsaWork, ecdsa_work
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from pydcap import Verifier
    from pydcap.sim.fleet import make_fleet

    fleet = make_fleet(10)
    verifier = Verifier(trusted_root=fleet.trust_root())
    known, new = fleet.members[0], fleet.members[5]  # one FMSPC: the second meets checked collateral
    assert known.group == new.group
    verifier.verify(known.first, fleet.collateral_of(known), at=fleet.at)
    # First contact: the PCK certificate, the QE report and the quote; key objects for the PCK key and the
    # attestation key. Then the same quote again: its signature only, the key object kept.
    assert ecdsa_work(lambda: verifier.verify(new.first, fleet.collateral_of(new), at=fleet.at)) == EcdsaWork(3, 2)
    assert ecdsa_work(lambda: verifier.verify(new.first, fleet.collateral_of(new), at=fleet.at)) == EcdsaWork(1, 0)
    assert EcdsaWork(6, 4) / 2 == EcdsaWork(3, 2)
    assert EcdsaWork(3, 2).floor(one_check=100, one_key=1000) == 1 / (3 / 100 + 2 / 1000)
    assert EcdsaWork(0, 0).floor(one_check=100, one_key=1000) == float("inf")
