"""schemathesis holds ``/openapi.json`` to the live PCCS with every check (issue 12, finding 10): LAZY, the simulated
PCS upstream, both tokens given so that the admin endpoints are exercised too, a bounded number of deterministic
examples. ``schemathesis.toml`` beside this file says what a schema cannot: the server's own refusals (408, 431)
reject bad requests too, and an import may be refused for what its documents say (400, 460)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.pccs import ADMIN_TOKEN, USER_TOKEN, Factory

ST = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.skipif(not ST.exists() and shutil.which("st") is None, reason="schemathesis is not installed")
def test_openapi_description_matches_the_live_server(make_pccs: Factory, tmp_path: Path) -> None:
    pccs = make_pccs(max_request_body=256 * 1024)
    command = [
        str(ST if ST.exists() else shutil.which("st")), "--config-file", str(CONFIG), "run",
        f"{pccs.url}/openapi.json", "--checks", "all", "--max-examples", "3", "--max-time", "15",
        "--phases", "examples,coverage,fuzzing", "--generation-deterministic", "--request-timeout", "10",
        "-H", f"admin-token: {ADMIN_TOKEN}", "-H", f"user-token: {USER_TOKEN}", "--no-color",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout, done.stdout[-2000:]
