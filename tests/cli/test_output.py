"""Output for people and for scripts: a table piped or redirected is written whole, tab-separated (a terminal
gets it drawn); values read as a person reads them (yes/no, TCB components on one line)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from pydcap.sim import SimulatedIntel

LONG_URL = "https://a-collateral-caching-service-with-a-long-name.datacentre.example:8081/sgx/certification/v4/"


def _pydcap(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pydcap", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "80", **(env or {})},
    )


def test_a_piped_table_is_tab_separated_and_never_cut(tmp_path: Path) -> None:
    env = {"PYDCAP_SYSROOT": str(tmp_path), "PYDCAP_COLLATERAL_SERVICE": "pccs", "PYDCAP_COLLATERAL_URL": LONG_URL}
    proc = _pydcap("provider", "list", env=env)
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.split("\n\n")[0].splitlines()
    header, *rows = (line.split("\t") for line in table if "\t" in line)
    assert header == ["", "provider", "serves from", "problem"]
    assert all(len(row) == 4 for row in rows) and len(rows) >= 3
    [bundled] = [row for row in rows if row[1] == "bundled"]
    assert LONG_URL.rstrip("/") in bundled[2] and bundled[0] == "✔"
    assert "…" not in proc.stdout and "│" not in proc.stdout and "━" not in proc.stdout


def test_quote_fields_read_as_a_person_reads_them(tmp_path: Path) -> None:
    quote = tmp_path / "quote.bin"
    quote.write_bytes(SimulatedIntel(0).sgx_platform().quote(b""))
    shown = _pydcap("quote", "show", str(quote)).stdout
    assert "  debug: no\n" in shown and "False" not in shown
    assert re.search(r"\n +components: (\d+ ){15}\d+\n", shown)
