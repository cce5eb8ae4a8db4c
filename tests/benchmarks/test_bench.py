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
