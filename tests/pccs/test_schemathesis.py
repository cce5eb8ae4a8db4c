"""schemathesis runs the OpenAPI description against a live PCCS (LAZY, the simulated PCS upstream, both
tokens given so that the admin endpoints are exercised too): no request may be answered with a 5xx
other than the upstream's own (502/503 are the PCCS's answer for an upstream failure)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pccs.conftest import ADMIN_TOKEN, USER_TOKEN, Factory

ST = Path(sys.executable).with_name("st")


@pytest.mark.skipif(not ST.exists() and shutil.which("st") is None, reason="schemathesis is not installed")
def test_openapi_description_against_the_live_server(make_pccs: Factory, tmp_path: Path) -> None:
    pccs = make_pccs(max_request_body=256 * 1024)
    command = [
        str(ST if ST.exists() else shutil.which("st")), "run", f"{pccs.url}/openapi.json",
        "--checks", "not_a_server_error", "--max-examples", "4", "--max-time", "20",
        "--phases", "examples,coverage,fuzzing", "--generation-deterministic", "--request-timeout", "10",
        "-H", f"admin-token: {ADMIN_TOKEN}", "-H", f"user-token: {USER_TOKEN}", "--no-color",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout, done.stdout[-2000:]
