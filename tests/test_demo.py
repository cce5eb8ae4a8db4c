"""``pydcap demo``: collateral forwarded once, the second attestation served from the cache, both verdicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pydcap.sim import SimulatedIntel


def _demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_DATA_HOME": str(tmp_path / "data")}
    for name in list(env):
        if name.startswith(
            ("PYDCAP_COLLATERAL_", "PYDCAP_CACHE", "PYDCAP_TRUSTED_ROOT", "PYDCAP_PROVIDER", "PYDCAP_SIM_SEED")
        ):
            del env[name]
    return subprocess.run(
        [sys.executable, "-m", "pydcap", "demo", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_demo_json_account(tmp_path: Path) -> None:
    done = _demo(tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    first, second = report["rounds"]
    assert first["upstream_requests"] > 0
    assert second["upstream_requests"] == 0
    for rnd in (first, second):
        assert [v["tee"] for v in rnd["verdicts"]] == ["SGX", "TDX"]
        for verdict in rnd["verdicts"]:
            assert verdict["accepted"] and verdict["failure"] is None and verdict["qv_result"] == "OK"
            assert not verdict["root_is_intel"]
    assert (tmp_path / "cache" / "pydcap" / "demo" / "pccs.sqlite3").is_file()
    # the default seed, as 'pydcap sim serve' and the host API's simulated platform use
    assert (
        tmp_path / "cache" / "pydcap" / "demo" / "simulated-intel-root.pem"
    ).read_bytes() == SimulatedIntel().root_pem
    assert (tmp_path / "cache" / "pydcap" / "demo" / "provider.sqlite3").is_file()
    # one attestation through the attestation service, its token verified, Intel not asked (counted in round 2)
    attestation = report["attestation_service"]
    assert attestation["claims"]["iss"] == attestation["issuer"]
    assert attestation["claims"]["x-pydcap-tcb-status"] == "UpToDate"


def test_demo_report_is_readable_and_repeatable(tmp_path: Path) -> None:
    for _ in range(2):  # the second run starts from a clean state again: Intel is asked again in round 1
        done = _demo(tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "OK: forwarded to Intel once" in done.stdout
        assert "round 2: 0 requests reached the simulated Intel" in done.stdout
    assert "WARNING" not in done.stderr and "Traceback" not in done.stderr
